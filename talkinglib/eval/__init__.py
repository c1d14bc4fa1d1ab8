"""Evaluation: metrics and the scores that SynthTalk's known factors make possible."""
from talkinglib import lazy_submodules

__getattr__ = lazy_submodules(__name__)          # tl.eval.<submodule> loads on first use
