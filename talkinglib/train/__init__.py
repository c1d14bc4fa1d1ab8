"""Training: one explicit loop per stage (STYLE.md 8); shared plumbing lives in common.py."""
