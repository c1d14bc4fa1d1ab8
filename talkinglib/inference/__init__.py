"""Inference pipelines: EDTalk-A (image + audio -> frames, each motion chosen separately)."""
from talkinglib import lazy_submodules

__getattr__ = lazy_submodules(__name__)          # tl.inference.<submodule> loads on first use
