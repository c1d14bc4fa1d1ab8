"""Training: one explicit loop per stage (STYLE.md 8); shared plumbing lives in common.py."""
from talkinglib import lazy_submodules

__getattr__ = lazy_submodules(__name__)          # tl.train.<submodule> loads on first use
