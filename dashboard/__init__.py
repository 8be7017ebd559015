"""The VAE Latent Explorer dashboard: everything that imports Streamlit or Plotly.

`navigation` routes, `pages/` holds one thin screen per file, `state` keeps each session's view and
mirrors it into the URL, `loaders` caches models, data and scores, `widgets`, `presentation` and
`figures` are the shared pieces, `components/` the browser-side components.
"""
