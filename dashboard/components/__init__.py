"""Streamlit custom components written in plain HTML/JS (no build step, no remote assets)."""
