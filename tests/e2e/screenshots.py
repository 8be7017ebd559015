"""Screenshots of every page of the dashboard at desktop size (1440×900) into docs/screenshots/.

    .venv/bin/python tests/e2e/screenshots.py                   # ~1 min on 2 CPU cores
    .venv/bin/python tests/e2e/screenshots.py --models-dir DIR  # another registry
    .venv/bin/python tests/e2e/screenshots.py --train           # two small models trained first

By default the pages show a copy of the project's registry, models/ (the pretrained demo models),
opened on its first MNIST VAE with a 2-D latent; the data is what the app itself finds here (full
MNIST and the real credit-card subset when ../shared/data is present, else the bundled digits and
synthetic transactions). Pages are found by clicking through the sidebar navigation, so a newly
routed page gets its screenshot with no change here. PNGs are reduced to a 256-colour palette.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("VAE_OFFLINE", "1")

from testkit.browser import DESKTOP, REPO_ROOT, AppPage, app_server, chromium, skip_reason

OUT = REPO_ROOT / "docs" / "screenshots"


def train_models(root: Path) -> None:
    """Two small models on the data the app would pick (seconds to a minute)."""
    from vae_core.config import TrainConfig, VAEConfig
    from vae_core import sources
    from vae_core.tables.fraud import train_fraud
    from vae_core.images.mnist import train_mnist

    digits = sources.mnist()
    epochs = 3 if len(digits.x_train) > 10_000 else 15  # full MNIST, or the 4,000 bundled digits
    train_mnist("digits", VAEConfig(latent_dim=2), TrainConfig(epochs=epochs, seed=0), data=digits,
                models_dir=str(root))
    # The engine's default fraud VAE, trained for fewer epochs than its default.
    train_fraud("fraud", sources.transactions(), None, TrainConfig(epochs=40, batch_size=64, seed=0),
                models_dir=str(root))


def slug(url: str) -> str:
    """The page's file name: its URL path ('/latent' → 'latent'), 'home' for '/'."""
    return re.sub(r"[^a-z0-9_-]+", "-", urlparse(url).path.strip("/").lower()) or "home"


def save_png(png: bytes, path: Path) -> int:
    """Write a screenshot as a 256-colour palette PNG; returns its size in bytes."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
    return path.stat().st_size


def capture(models_dir: Path, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with tempfile.TemporaryDirectory(prefix="screens-log-") as logs, \
            app_server(models_dir, log_dir=Path(logs)) as server, chromium() as browser:
        context = browser.new_context(viewport=DESKTOP, device_scale_factor=1)
        app = AppPage(context.new_page(), server.url)
        app.open("", heading="VAE Latent Explorer")
        app.wait_drawn()
        links = app.page.locator("[data-testid=stSidebar] [data-testid=stPageLink] a")
        titles = [link.inner_text().split("\n")[-1].strip() for link in links.all()]
        for title in titles[1:] + titles[:1]:  # Home last
            start = time.monotonic()
            app.page.locator("[data-testid=stSidebar] [data-testid=stPageLink] a").filter(has_text=title).first.click()
            app.page.locator("[data-testid=stMain] h1").first.wait_for()
            app.wait_drawn()
            app.assert_no_traceback()
            app.page.mouse.move(DESKTOP["width"] - 40, 30)  # park the pointer in the empty header: no hover effects
            name = slug(app.page.url)
            path = out / f"{name}.png"
            size = save_png(app.page.screenshot(), path)
            saved.append(path)
            print(f"{title:>16} → {path} ({size / 1024:.0f} KiB, {time.monotonic() - start:.1f} s)", flush=True)
        context.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", default=str(REPO_ROOT / "models"),
                        help="registry to show, copied first (default: the project's models/)")
    parser.add_argument("--train", action="store_true", help="show two small models trained now instead")
    parser.add_argument("--out", default=str(OUT), help="where the PNGs go (default: docs/screenshots)")
    args = parser.parse_args()
    missing = skip_reason()
    if missing:
        sys.exit(f"cannot take screenshots: {missing}")
    with tempfile.TemporaryDirectory(prefix="screens-") as tmp:
        models = Path(tmp) / "models"
        if args.train:
            models.mkdir()
            start = time.monotonic()
            train_models(models)
            print(f"trained the models in {time.monotonic() - start:.0f} s", flush=True)
        else:  # a copy: nothing the pages do can touch the real registry
            shutil.copytree(args.models_dir, models)
        capture(models, Path(args.out).resolve())


if __name__ == "__main__":
    main()
