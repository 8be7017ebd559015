"""Write the shipped fraud model's held-out real rows (its validation and test splits, values exactly
as in the source file, with a `split` column) and their ODbL attribution into its model folder, so a
fresh clone without data shows real transactions. Reads the training file from $VAE_DATA_DIR.

    VAE_DATA_DIR=../shared/data PYTHONPATH=. python bench/ship_heldout_rows.py [--model models/fraud-subset]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vae_core import sources
from vae_core.tables import fraud
from vae_core.errors import DataError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path(__file__).resolve().parents[1] / "models" / "fraud-subset")
    parser.add_argument("--csv", type=Path, help="the training file (default: found through $VAE_DATA_DIR)")
    args = parser.parse_args(argv)
    import json

    trained_on = json.loads((args.model / "fraud.json").read_text())["data"]
    training_csv = args.csv or sources.training_file(trained_on)
    if training_csv is None:
        raise SystemExit(sources.missing_training_data(trained_on))
    try:
        counts = fraud.write_heldout_rows(args.model, training_csv)
    except DataError as exc:
        raise SystemExit(str(exc)) from exc
    size = (args.model / sources.HELDOUT_FILE).stat().st_size
    print(f"{args.model / sources.HELDOUT_FILE}: {counts['validation']:,} validation + {counts['test']:,} test rows "
          f"from {training_csv} ({size / 1024:,.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
