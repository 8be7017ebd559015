"""The latent map the way a person uses it, in headless Chromium: hover a point and see its image,
lasso a region and read its counts, change the colouring, reload the shared link and find the same
selection; for transactions, the confusion counts inside a selection and its rows as CSV.

Needs Playwright and Debian's Chromium (/usr/bin/chromium); skipped with the reason otherwise.
"""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from testkit.browser import AppPage, DESKTOP, skip_reason
from testkit.latent_map import MapSession, colour_by
from browser_fixtures import DIGITS, FRAUD, app, app_data_dir, browser, e2e_models, server  # noqa: F401

missing = skip_reason()
pytestmark = pytest.mark.skipif(missing is not None, reason=missing or "")

N_DIGITS = 200  # test digits in the small data folder


def open_map(app, model: str, query: str = "") -> MapSession:
    app.open(f"latent?model={model}{query}", heading="Latent space")
    session = MapSession(app)
    app.wait_drawn()
    return session


def table_rows(app, index: int) -> list[dict[str, str]]:
    """The rows of the index-th st.table on the page, as {column: cell text}."""
    table = app.page.locator("[data-testid=stTable] table").nth(index)
    header = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    rows = []
    for row in table.locator("tbody tr").all():
        cells = [c.strip() for c in row.locator("th, td").all_inner_texts()]
        rows.append(dict(zip(header[-len(cells):], cells)))
    return rows


def selected_text(app) -> int:
    """The page's "N of M points selected" count, once it shows."""
    line = app.page.get_by_text(re.compile(r"[\d,]+ of [\d,]+ points selected")).first
    line.wait_for()
    return int(re.search(r"([\d,]+) of", line.inner_text()).group(1).replace(",", ""))


def test_hovering_a_digit_shows_its_image_and_reconstruction(app, app_data_dir):  # noqa: F811
    from vae_core import sources

    session = open_map(app, DIGITS)
    assert session.count() == N_DIGITS  # every test digit, no sample
    session.frame.wait_for_function("() => window.__latentMap.atlasReady()")
    index = session.js("() => window.__latentMap.isolated(14)")
    assert index >= 0, "no point stands apart from the others"
    text = session.hover(index)
    digits = sources.mnist_test("path", app_data_dir / "mnist")
    assert f"test #{index} · digit {int(digits.y_test[index])}" in text
    assert "KL" in text and "nats" in text
    image_ink, reconstruction_ink = session.tip_ink()
    # The tooltip's image is that digit, pixel for pixel (the sprite sheet holds it as 8-bit grey).
    assert image_ink == int(np.rint(digits.x_test[index].reshape(28, 28) * 255).sum())
    assert reconstruction_ink > 0


def test_a_lasso_counts_the_digits_inside_it(app, e2e_models, app_data_dir):  # noqa: F811
    from vae_core import registry, sources
    from vae_core.selection import Region, class_counts

    session = open_map(app, DIGITS)
    box = session.canvas_box()
    session.lasso_around((box["x"] + box["width"] / 2, box["y"] + box["height"] / 2), box["height"] * 0.3)
    shown = selected_text(app)
    app.wait_drawn()
    assert 0 < shown < N_DIGITS
    session.wait_ready()
    assert session.selection_count() == shown  # the browser's highlight and Python's count agree
    sel = parse_qs(urlparse(app.page.url).query)["sel"][0]
    assert sel.startswith("lasso:")
    # The same region, counted by the engine on the model's own μ: the table shows exactly these.
    digits = sources.mnist_test("path", app_data_dir / "mnist")
    mu = registry.load_model(DIGITS, e2e_models).vae.encode(digits.x_test)[0]
    mask = Region.from_text(sel).contains(mu)
    assert int(mask.sum()) == shown
    expected = class_counts(digits.y_test, mask, {d: str(d) for d in range(10)})
    rows = table_rows(app, 0)
    assert {row["class"]: int(row["selected"].replace(",", "")) for row in rows} == expected
    assert app.page.locator("[data-testid=stImageCaption]").filter(has_text=f"mean of {shown:,} selected").count() == 1


def test_changing_the_colouring_redraws_the_map_and_the_link(app):
    session = open_map(app, DIGITS)
    before = session.pixel_hash()
    assert session.legend()["kind"] == "categorical"
    colour_by(app, "KL term")
    session.frame.wait_for_function("() => window.__latentMap.legend().kind === 'continuous'")
    session.wait_ready()
    assert session.legend()["title"] == "KL term, nats"
    assert session.pixel_hash() != before
    assert parse_qs(urlparse(app.page.url).query)["colour"] == ["kl"]
    assert "KL term, nats" in session.frame.locator("#legend").inner_text()
    drawn = session.pixel_hash()
    session.frame.get_by_label("prior N(0, I)").check()  # the prior's 50/90/99% circles over the points
    session.frame.wait_for_function(f"() => window.__latentMap.pixelHash() !== {drawn}")


def test_coming_back_to_the_page_redraws_every_point(app):
    session = open_map(app, DIGITS)
    assert session.js("() => window.__latentMap.stats.needs") == 0  # the first visit sent everything at once
    session_counts = session.legend()["counts"]
    app.page.locator("[data-testid=stSidebar] a").filter(has_text="Decoder").click()
    app.heading("Decoder").wait_for()
    app.wait_idle()
    app.page.locator("[data-testid=stSidebar] a").filter(has_text="Latent space").click()
    app.heading("Latent space").wait_for()
    back = MapSession(app)  # a new frame: it asked for the data it lacked, and drew it
    assert back.count() == N_DIGITS
    assert back.js("() => window.__latentMap.stats.needs") >= 1
    assert back.legend()["counts"] == session_counts


def test_a_reloaded_link_shows_the_same_selection(app, browser, server):  # noqa: F811
    session = open_map(app, DIGITS)
    box = session.canvas_box()
    session.tool("Box select")
    x, y = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.25
    session.drag([(x, y), (x + box["width"] * 0.3, y + box["height"] * 0.5)])
    shown = selected_text(app)
    app.wait_drawn()
    region, link = session.region(), app.page.url
    assert region["kind"] == "box" and shown > 0

    context = browser.new_context(viewport=DESKTOP)
    try:
        again = AppPage(context.new_page(), server.url)
        again.page.goto(link)
        again.heading("Latent space").wait_for()
        again.wait_idle()
        reopened = MapSession(again)
        assert reopened.region() == region
        assert reopened.selection_count() == shown
        assert selected_text(again) == shown
        again.assert_no_traceback()
    finally:
        context.close()


def test_a_transaction_selection_answers_with_its_confusion_and_csv(app):
    session = open_map(app, FRAUD)
    n = session.count()
    index = session.js("() => window.__latentMap.isolated(10)")
    if index >= 0:
        text = session.hover(index)
        assert "score" in text and "largest errors:" in text and "% " in text + " "
    box = session.canvas_box()
    session.tool("Box select")
    session.drag([(box["x"] + 3, box["y"] + 3), (box["x"] + box["width"] - 3, box["y"] + box["height"] - 3)])
    shown = selected_text(app)
    app.wait_drawn()
    assert shown > 0 and shown <= n
    outcomes = {row["outcome"]: row for row in table_rows(app, 1)}
    assert set(outcomes) == {"TP", "FP", "FN", "TN"}
    inside = {name: int(row["selected"].replace(",", "")) for name, row in outcomes.items()}
    assert sum(inside.values()) == shown
    flagged = int(app.metric("Flagged inside").replace(",", ""))
    assert flagged == inside["TP"] + inside["FP"]

    with app.page.expect_download() as download:
        app.key("latent_selection_csv").locator("button").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert len(rows) == shown
    assert {"row", "score", "flagged", "label", "outcome"} <= set(rows[0])
    assert sum(r["outcome"] == "FP" for r in rows) == inside["FP"]


def test_clicking_a_point_shows_it_and_links_it_to_the_decoder(app):
    session = open_map(app, DIGITS)
    index = session.js("() => window.__latentMap.isolated(14)")
    x, y = session.point_on_page(index)
    app.page.mouse.click(x, y)
    app.page.locator("[data-testid=stImageCaption]").filter(has_text=f"test #{index} ·").wait_for()
    app.wait_drawn()
    assert int(app.key("latent_row").locator("input").input_value()) == index
    assert parse_qs(urlparse(app.page.url).query)["point"] == [str(index)]
    link = app.page.get_by_role("link", name="Open in Decoder")
    assert "z=" in link.get_attribute("href") and f"model={DIGITS}" in link.get_attribute("href")


def test_the_chosen_digits_neighbours_are_shown_ringed_and_follow_k_and_the_link(app):
    session = open_map(app, DIGITS, "&point=7&k=4")

    def shown() -> list[int]:
        """The neighbours' test indices, as the captions under their images read (nearest first)."""
        captions = app.page.locator("[data-testid=stImageCaption]").filter(has_text=re.compile(r"^#\d+ · digit"))
        return [int(re.match(r"#(\d+)", text).group(1)) for text in captions.all_inner_texts()]

    assert len(shown()) == 4 and 7 not in shown()
    assert session.js("() => window.__latentMap.ringed()") == shown()
    app.fill("latent_neighbours", 6)
    session.frame.wait_for_function("() => window.__latentMap.ringed().length === 6")
    assert len(shown()) == 6 and session.js("() => window.__latentMap.ringed()") == shown()
    assert app.query()["k"] == "6" and app.query()["point"] == "7"


def test_a_filter_dims_the_rows_outside_it_and_follows_its_ends_and_the_link(app):
    session = open_map(app, FRAUD, "&filter=column:Amount:10..")

    def matching() -> int:
        """The page's "N of M points match" count."""
        line = app.page.get_by_text(re.compile(r"[\d,]+ of [\d,]+ points match")).first
        line.wait_for()
        return int(re.search(r"([\d,]+) of", line.inner_text()).group(1).replace(",", ""))

    wide = matching()
    assert 0 < wide < session.count()
    assert session.js("() => window.__latentMap.highlighted()") == wide  # the rest are drawn faded
    app.fill("latent_filter_high", 100)
    narrow = matching()
    assert narrow < wide and app.query()["filter"] == "column:Amount:10..100"
    session.frame.wait_for_function(f"() => window.__latentMap.highlighted() === {narrow}")
