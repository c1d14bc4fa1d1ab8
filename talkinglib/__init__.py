"""talkinglib: a notebook-first, tested reproduction of EDTalk and RETA.

Submodules are imported lazily so that `import talkinglib` stays light:

    import talkinglib as tl
    mel = tl.audio.mel_windows(wav_16k, fps=25)
"""
import importlib

__version__ = "0.1.0"

_SUBMODULES = ("audio", "synth", "data", "models", "losses", "train", "eval", "cli", "demo", "weights",
               "official")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"talkinglib.{name}")
    raise AttributeError(f"module 'talkinglib' has no attribute {name!r}")


__all__ = list(_SUBMODULES)
