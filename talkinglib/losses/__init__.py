"""Losses: small pure functions, tensors in and a scalar out, each citing its equation."""
from talkinglib import lazy_submodules

__getattr__ = lazy_submodules(__name__)          # tl.losses.<submodule> loads on first use
