"""Labelled tables, transactions first: reading and checking CSVs, the synthetic generator, fraud
models (train → evaluate → score), thresholds and their bootstrap intervals, the stored baselines and
the advice they give, counterfactual explanations, kept scores, drift, and scoring on Dask."""
