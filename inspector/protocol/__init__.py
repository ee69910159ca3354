"""The few-shot evaluation protocol: a checkpoint scored over K-shot × seeds, with base / novel AP, 95%
intervals over seeds and episodes, a fingerprint that keeps comparisons fair, and a verdict on B − A that
says when the difference cannot be told from the variance.

One module per job: grid (cells, evaluate_grid), split (base / novel classes), fingerprint (what a result
measures; check_comparable), intervals (t over seeds, the episode bootstrap, seeds needed), metrics (a cell's
numbers: mAP, nAP, bAP), report (per-cell rows, per-K summary), files (grid Parquet, merge), run (one
checkpoint's protocol, end to end) and verdict (B against A).
"""
