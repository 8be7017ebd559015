"""Fit the synthetic credit-card generator to the real subset and write its parameter file
(vae_core/synthetic_creditcard.npz); the same subset and seed write the same bytes.

    VAE_DATA_DIR=../shared/data .venv/bin/python bench/fit_synthetic.py    # ~3-5 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

from bench_fraud import subset_file
from vae_core.tables import synthetic
from vae_core.tables.tabular import read_creditcard


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(synthetic.PARAMETER_FILE))
    args = parser.parse_args()
    data = read_creditcard(subset_file())
    started = time.perf_counter()
    generator = synthetic.fit_generator(data.features[list(synthetic.COLUMNS)].to_numpy(), data.labels, seed=args.seed)
    out = Path(args.out)
    generator.save(out)
    print(f"fitted {len(data)} rows in {time.perf_counter() - started:.0f} s: components (normal, fraud) "
          f"{synthetic.N_COMPONENTS}, normal-like fraud share {generator.normal_like_share:.3f}")
    print(f"wrote {out} ({out.stat().st_size:,} bytes, sha256 {hashlib.sha256(out.read_bytes()).hexdigest()[:16]})")


if __name__ == "__main__":
    main()
