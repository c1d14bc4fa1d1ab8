"""Data: clip folders, datasets and batches, face crops, real-video preparation (DESIGN.md)."""
from talkinglib import lazy_submodules

__getattr__ = lazy_submodules(__name__)          # tl.data.<submodule> loads on first use
