"""Drive the real dashboard in a real browser: a `streamlit run` server on a free localhost port and
Debian's Chromium through Playwright (never a downloaded browser). Shared by the end-to-end tests,
the benchmarks and the screenshot script; Playwright is a development dependency, imported lazily.
"""
