"""Import TensorFlow without its start-up lines on the terminal.

TensorFlow 2.21's C++ side prints a oneDNN notice (and absl's "All log messages before
absl::InitializeLog()" warning) while `import tensorflow` runs, whatever TF_CPP_MIN_LOG_LEVEL says.
The training workers, the CLI's `train` (unless --verbose) and a conv model's Keras load import it
through here; nothing that only serves dense models imports it (vae_core.dense).
"""

from __future__ import annotations

import os
import sys
import tempfile

START_UP_LINES = ("All log messages before absl::InitializeLog()", "oneDNN custom operations are on",
                  "cpu_feature_guard", "This TensorFlow binary is optimized", "To enable the following instructions")


_show_lines = False


def show_start_up_lines(show: bool) -> None:
    """Whether later imports keep TensorFlow's start-up and logging lines (the CLI's --verbose)."""
    global _show_lines
    _show_lines = show


def import_tensorflow(verbose: bool | None = None) -> None:
    """Import TensorFlow now (a no-op once imported). Unless `verbose` (default: as set by
    `show_start_up_lines`): its start-up lines are dropped from stderr (any other line it prints
    there is kept), and its later C++ and Python logging shows errors only."""
    if verbose is None:
        verbose = _show_lines
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
