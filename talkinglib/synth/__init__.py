"""SynthTalk: synthetic talking heads whose factors are known per frame (SYNTHTALK.md)."""
from talkinglib import lazy_submodules

__getattr__ = lazy_submodules(__name__)          # tl.synth.<submodule> loads on first use
