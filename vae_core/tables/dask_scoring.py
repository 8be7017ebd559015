"""Batch scoring on a Dask cluster: the scorer `vae-explorer score` uses (fraud.score_batch, around
FraudModel.score) run over the partitions of one or many CSV files, writing the same output.

    from dask.distributed import Client
    from vae_core.tables.dask_scoring import score_csv_dask

    with Client("tcp://scheduler:8786") as client:      # or Client() for a local cluster
        score_csv_dask("fraud", "transactions-*.csv", "scored.csv", models_dir="models")

Needs the optional dependencies: pip install -e ".[dask]". Each partition (`blocksize` bytes of
whole lines) is read on a worker and parsed by Arrow (every column as text), scored by the model
(NumPy, loaded once per worker process from the model folder, which the workers must be able to
read) and written as CSV: into a part file beside `output_path` when the worker shares the client's
filesystem (a local cluster, a shared disk), else as bytes sent back to the client. The client joins
them in order into a temporary file and renames it when complete, at most `2 × workers` partitions
in flight, so files bigger than the cluster's memory stream through.
"""

from __future__ import annotations

import functools
import io
import os
import shutil
import time
from pathlib import Path
from typing import Any

from vae_core.errors import DataError


_MARKER = "client"  # in the parts folder: a worker that sees it writes its part there


@functools.lru_cache(maxsize=4)
def _model(models_dir: str, name: str, version: tuple[int, int]):
    """The fraud model, loaded once per worker process (per saved version)."""
    from vae_core import registry
    from vae_core.tables.fraud import FraudModel

    return FraudModel.from_loaded(registry.load_model(name, models_dir))


def _score_block(block: bytes, header: bytes, names: list[str], first_in_file: bool, models_dir: str, name: str,
                 version: tuple[int, int], threshold: float, write_header: bool,
                 part: str) -> tuple[bytes | str, int, int]:
    """One block of CSV lines → (its rows plus score and flag as CSV, rows, flagged). Arrow parses the
    block (every column as text, one thread: the cluster's workers are the parallelism) and writes the
    result: into the file `part` when this worker shares the client's filesystem (the client's marker
    file sits beside it; the CSV is then the path), else as bytes sent back. The first block of each
    file starts with that file's header, which must be the first file's."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv as pacsv

    from vae_core.tables.fraud import score_batch

    if first_in_file:
        own_header, _, block = block.partition(b"\n")
        if own_header.rstrip(b"\r") != header.rstrip(b"\r\n"):
            raise DataError("The input files do not share one header; score files with the same columns together.")
    if not block or block.isspace():  # no copy of the block, unlike strip()
        return b"", 0, 0
    table = pacsv.read_csv(io.BytesIO(block), read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
                           convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}))
    model = _model(models_dir, name, version)
    scored = score_batch(model, table.combine_chunks().to_batches()[0], threshold)
    flagged = int(pc.sum(scored.column("flag")).as_py() or 0)
    options = pacsv.WriteOptions(include_header=write_header)
    if (Path(part).parent / _MARKER).is_file():
        pacsv.write_csv(scored, part, write_options=options)
        return part, scored.num_rows, flagged
    out = io.BytesIO()
    pacsv.write_csv(scored, out, write_options=options)
    return out.getvalue(), scored.num_rows, flagged


def score_csv_dask(name: str, input_path: str | os.PathLike, output_path: str | os.PathLike, *,
                   models_dir: str | os.PathLike | None = None, threshold: float | None = None,
                   strategy: str | None = None, blocksize: str | int = "64MB", client=None) -> dict[str, Any]:
    """Score `input_path` (a CSV path or glob, local or any filesystem Dask reads) with fraud model
    `name` on the Dask cluster of `client` (default: the current one, else a local cluster), and
    write the CLI's output (the input's columns as text, then `score` and `flag`) to `output_path`.
    Returns {"rows", "flagged", "threshold", "output", "seconds", "rows_per_second", "partitions"}."""
    import dask
    from dask.bytes import read_bytes
    from dask.distributed import Client, default_client

    from vae_core import registry
    from vae_core.tables.fraud import FraudModel, scoring_threshold

    root = registry.models_dir(models_dir)
    folder = root / name
    model = FraudModel.from_loaded(registry.load_model(name, root))  # fails here, not on every worker
    threshold = scoring_threshold(model, threshold, strategy)
    stat = folder.stat()
    version = (stat.st_mtime_ns, stat.st_ino)
    target = Path(output_path).expanduser()
    if not target.parent.is_dir():
        raise DataError(f"Output folder {target.parent} does not exist.")
    own_client = None
    if client is None:
        try:
            client = default_client()
        except ValueError:
            client = own_client = Client(processes=True, dashboard_address=None)
    start = time.perf_counter()
    temporary = target.with_name(f".{target.name}.{os.getpid()}.part")
    parts = target.with_name(f".{target.name}.{os.getpid()}.parts")
    rows = flagged = 0
    try:
        parts.mkdir()
        (parts / _MARKER).touch()
        header, names = csv_header_bytes(str(input_path))
        _, per_file = read_bytes(str(input_path), delimiter=b"\n", blocksize=blocksize, sample=False)
        blocks = [(block, index == 0) for file_blocks in per_file for index, block in enumerate(file_blocks)]
        window = 2 * max(1, len(client.scheduler_info().get("workers", {})))
        with open(temporary, "wb") as out:
            pending: dict[int, Any] = {}
            for index, (block, first_in_file) in enumerate(blocks):
                pending[index] = client.compute(dask.delayed(_score_block)(
                    block, header, names, first_in_file, str(root), name, version, threshold, index == 0,
                    str(parts / f"{index}.csv")))
                # A sliding window: write the oldest partition's rows once `window` are in flight, so the
                # workers always have the next ones to score (and the output stays in input order).
                while pending and (len(pending) >= window or index == len(blocks) - 1):
                    chunk, n_rows, n_flagged = pending.pop(min(pending)).result()
                    if isinstance(chunk, str):
                        with open(chunk, "rb") as part:
                            shutil.copyfileobj(part, out, 1 << 22)
                        os.unlink(chunk)
                    else:
                        out.write(chunk)
                    rows, flagged = rows + n_rows, flagged + n_flagged
        if rows == 0:
            raise DataError(f"{input_path} has a header but no data rows.")
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
        shutil.rmtree(parts, ignore_errors=True)
        if own_client is not None:
            own_client.close()
    seconds = time.perf_counter() - start
    return {"rows": rows, "flagged": flagged, "threshold": float(threshold), "output": str(target),
            "seconds": round(seconds, 2), "rows_per_second": round(rows / seconds) if seconds else None,
            "partitions": len(blocks)}


def csv_header_bytes(input_path: str) -> tuple[bytes, list[str]]:
    """The header line and its column names, of the first file `input_path` names (a path or glob,
    on any filesystem Dask reads), after the same checks as the CLI's (vae_core.tables.tabular.csv_header)."""
    from fsspec.core import open_files

    from vae_core.tables.tabular import csv_header

    files = open_files(input_path, "rb")
    if not files:
        raise DataError(f"No file matches {input_path}.")
    with files[0] as handle:
        names = csv_header(handle, name=files[0].path)
    with files[0] as handle:
        return handle.readline(), names
