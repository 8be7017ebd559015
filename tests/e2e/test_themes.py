"""Light and dark: the dashboard follows the browser's (the operating system's) colour scheme, the
sidebar's Theme switch overrides it, and every chart stays readable in both.

Readable means, for every Plotly chart as drawn: axis text (Streamlit's theme sets it) and guides
(shapes such as the threshold line, annotations) at least 3:1 against the background behind the
chart, and every trace colour at least 2:1 (outlines count only on hollow markers such as the ring
around a selected point). Screenshots of each page in each theme are left in the test's temporary folder.
"""

from __future__ import annotations

import pytest

from testkit.browser import DESKTOP, AppPage, skip_reason
from browser_fixtures import DIGITS, FRAUD, app_data_dir, browser, e2e_models, server  # noqa: F401

missing = skip_reason()
pytestmark = pytest.mark.skipif(missing is not None, reason=missing or "")

PAGES = {"threshold": f"threshold?model={FRAUD}", "decoder": f"decoder?model={FRAUD}", "elbo": f"elbo?model={DIGITS}"}
BACKGROUND_JS = "() => getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor"

# Every chart's colours as drawn: the background behind it (the paper colour, or the app's when the
# paper is transparent), axis text, shapes and annotations, and the colours of its traces.
CHART_COLOURS_JS = """() => {
  const css = (c) => { const e = document.createElement('span'); e.style.color = c; document.body.appendChild(e);
                       const v = getComputedStyle(e).color; e.remove(); return v; };  // any CSS colour → rgb(a)(…)
  const app = getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor;
  const rgbaAlpha = (c) => { const m = c.match(/rgba\\([^)]*,\\s*([\\d.]+)\\)/); return m ? parseFloat(m[1]) : 1; };
  return Array.from(document.querySelectorAll('[data-testid=stPlotlyChart] .js-plotly-plot')).map((gd) => {
    const layout = gd._fullLayout;
    const axes = Object.keys(layout).filter((k) => /^[xy]axis\\d*$/.test(k)).map((k) => layout[k]);
    const colours = (value) => (typeof value === 'string' ? [css(value)] : []);  // per-point arrays: not guides
    const traces = gd._fullData.filter((t) => t.visible === true && t.type !== 'heatmap').flatMap((t) => {
      const mode = t.mode || '';
      return [...(mode.includes('lines') ? colours(t.line && t.line.color) : []),
              ...(mode.includes('markers') || t.type === 'bar' ? colours(t.marker && t.marker.color) : []),
              ...(t.marker && t.marker.line && t.marker.line.width > 0 && typeof t.marker.color === 'string'
                  && rgbaAlpha(css(t.marker.color)) === 0 ? colours(t.marker.line.color) : [])];
    });
    return {
      title: (layout.title && layout.title.text) || gd.closest('[class*=st-key-]')?.className.match(/st-key-(\\S+)/)?.[1] || '',
      background: rgbaAlpha(css(layout.paper_bgcolor)) === 0 ? app : css(layout.paper_bgcolor),
      text: axes.map((a) => css(a.tickfont.color)),
      guides: [...(layout.shapes || []).map((s) => css(s.line.color)), ...(layout.annotations || []).map((a) => css(a.font.color))],
      traces: traces.filter((c) => rgbaAlpha(c) > 0),
    };
  });
}"""


def rgb(colour: str) -> tuple[float, float, float, float]:
    """A CSS colour ("#rrggbb", "rgb(…)", "rgba(…)") → (r, g, b, alpha), channels 0..255."""
    colour = colour.strip()
    if colour.startswith("#"):
        value = colour[1:]
        if len(value) == 3:
            value = "".join(c * 2 for c in value)
        return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16), 1.0
    parts = [float(p) for p in colour[colour.index("(") + 1:colour.index(")")].split(",")]
    return parts[0], parts[1], parts[2], parts[3] if len(parts) > 3 else 1.0


def contrast(colour: str, background: str) -> float:
    """WCAG contrast ratio of `colour` (blended onto `background` by its alpha) against `background`."""
    fr, fg, fb, alpha = rgb(colour)
    br, bg, bb, _ = rgb(background)
    blended = [alpha * f + (1 - alpha) * b for f, b in ((fr, br), (fg, bg), (fb, bb))]

    def luminance(channels) -> float:
        linear = [(c / 255 / 12.92) if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(blended), luminance((br, bg, bb))), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def open_page(browser, url: str, path: str, scheme: str) -> AppPage:
    context = browser.new_context(viewport=DESKTOP, color_scheme=scheme)
    app = AppPage(context.new_page(), url).open(path)
    app.wait_drawn()
    return app


def unreadable(app: AppPage, page: str) -> list[str]:
    """What on this page's charts falls short of the contrast goals (see the module docstring)."""
    problems = []
    charts = app.page.evaluate(CHART_COLOURS_JS)
    assert charts, f"no chart on {page}"
    for chart in charts:
        for kind, colours, least in (("text", chart["text"], 3.0), ("guide", chart["guides"], 3.0),
                                     ("trace", chart["traces"], 2.0)):
            problems += [f"{page} · {chart['title']} · {kind} {c}: {contrast(c, chart['background']):.2f}:1"
                         for c in colours if contrast(c, chart["background"]) < least]
    return problems


def is_dark(app: AppPage) -> bool:
    return sum(rgb(app.page.evaluate(BACKGROUND_JS))[:3]) < 150


def test_every_chart_reads_in_the_light_and_the_dark_theme_the_system_asks_for(server, browser, tmp_path):
    problems = []
    for page, path in PAGES.items():
        app = open_page(browser, server.url, path, "light")
        try:
            for scheme in ("light", "dark"):
                app.page.emulate_media(color_scheme=scheme)  # the operating system's setting changes
                app.wait_for(f"() => ({BACKGROUND_JS})() {'!=' if scheme == 'dark' else '=='} 'rgb(255, 255, 255)'")
                app.wait_drawn()
                assert is_dark(app) == (scheme == "dark"), f"{page} does not follow the system's {scheme} setting"
                app.page.screenshot(path=str(tmp_path / f"{page}-{scheme}.png"))
                problems += unreadable(app, page)
        finally:
            app.page.context.close()
    assert not problems, "\n".join(problems)


def test_the_theme_switch_overrides_the_system_and_is_kept_across_pages(server, browser):
    app = open_page(browser, server.url, f"decoder?model={DIGITS}", "dark")
    try:
        assert is_dark(app)
        app.key("_theme_switch").get_by_role("button", name="Light").click()
        app.page.wait_for_load_state()
        app.wait_drawn()
        assert app.page.evaluate(BACKGROUND_JS) == "rgb(255, 255, 255)"
        assert f"model={DIGITS}" in app.page.url  # the reload kept the view
        app.page.get_by_role("link", name="Fraud threshold").click()
        app.wait_drawn()
        app.page.reload()  # the choice is stored for every page, not only the one it was made on
        app.wait_drawn()
        assert app.page.evaluate(BACKGROUND_JS) == "rgb(255, 255, 255)"
        app.key("_theme_switch").get_by_role("button", name="System").click()
        app.page.wait_for_load_state()
        app.wait_drawn()
        assert is_dark(app)  # back to the system's dark
    finally:
        app.page.context.close()


def test_the_latent_map_and_the_decoders_z_map_follow_the_theme(server, browser):
    """The drawn canvases take the page's theme too: the latent map's background is the page's and
    its axis text reads at 3:1; the Decoder's "Where z sits" map shows the page's background around
    the data, with its cross at 3:1, in light and in dark."""
    import io

    import numpy as np
    from PIL import Image

    from testkit.latent_map import MapSession

    for scheme in ("light", "dark"):
        app = open_page(browser, server.url, f"latent?model={DIGITS}", scheme)
        try:
            background = app.page.evaluate(BACKGROUND_JS)
            assert is_dark(app) == (scheme == "dark")
            session = MapSession(app)
            colours = session.js("() => window.__latentMap.colours()")
            corner = session.js("() => Array.from(document.getElementById('map').getContext('2d')"
                                ".getImageData(2, 2, 1, 1).data)")
            assert tuple(corner[:3]) == rgb(background)[:3] == rgb(colours["background"])[:3], (scheme, corner, background)
            assert contrast(colours["text"], background) >= 3 and contrast(colours["tick"], background) >= 3, colours
            app.open(f"decoder?model={DIGITS}", heading="Decoder")
            app.wait_drawn()
            img = app.page.locator("[data-testid=stImage]").filter(has_text="Where z sits").locator("img").first
            drawn = np.asarray(Image.open(io.BytesIO(img.screenshot())).convert("RGB")).astype(int)
            page_rgb = np.array(rgb(background)[:3])
            assert np.abs(drawn[2, 2] - page_rgb).max() <= 6, (scheme, drawn[2, 2], background)  # no white square
            reds = drawn[(drawn[..., 0] > 150) & (drawn[..., 1] < 90) & (drawn[..., 2] < 90)]
            cross = reds[np.argmax(reds[:, 0])] if len(reds) else None  # its core, not an antialiased edge
            assert cross is not None and contrast(f"rgb({','.join(map(str, cross))})", background) >= 3
        finally:
            app.page.context.close()
