"""Evaluation: sets no model here was trained or tuned on, plain retrieval baselines, and the harnesses that
`msa eval` and the scripts in bench/ run. Training code never imports this package (tests/test_ood_sets.py)."""
