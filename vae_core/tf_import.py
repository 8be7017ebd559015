"""Import TensorFlow without its start-up lines on the terminal.

TensorFlow 2.21's C++ side prints a oneDNN notice (and absl's "All log messages before
absl::InitializeLog()" warning) while `import tensorflow` runs, whatever TF_CPP_MIN_LOG_LEVEL says.
The CLI (unless --verbose) and the dashboard import it through here.
"""

from __future__ import annotations

import os
import sys
import tempfile

START_UP_LINES = ("All log messages before absl::InitializeLog()", "oneDNN custom operations are on",
                  "cpu_feature_guard", "This TensorFlow binary is optimized", "To enable the following instructions")


def import_tensorflow(verbose: bool = False) -> None:
    """Import TensorFlow now (a no-op once imported). Unless `verbose`: its start-up lines are
    dropped from stderr (any other line it prints there is kept), and its later C++ and Python
    logging shows errors only."""
    if verbose or "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines(keepends=True):
                if not any(marker in line for marker in START_UP_LINES):
                    sys.stderr.write(line)
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
    tf.get_logger().setLevel("ERROR")
