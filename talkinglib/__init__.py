"""talkinglib: a notebook-first, tested reproduction of EDTalk and RETA.

Submodules are imported lazily so that `import talkinglib` stays light:

    import talkinglib as tl
    mel = tl.audio.mel_windows(wav_16k, fps=25)
"""
import importlib

__version__ = "0.1.0"

_SUBMODULES = ("audio", "synth", "data", "models", "losses", "train", "eval", "inference", "cli", "demo", "weights",
               "official", "errors", "checkpoints", "video", "constants")


def lazy_submodules(package):
    """A module-level __getattr__ that imports `package.name` on first use, so that `tl.data.clips` works after
    `import talkinglib as tl` without importing every submodule up front (each subpackage's __init__ uses it)."""
    def __getattr__(name):
        try:
            return importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{package}.{name}":
                raise
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
    return __getattr__


__getattr__ = lazy_submodules("talkinglib")


def load(path, kind=None, map_location="cpu"):
    """The model in a talkinglib checkpoint, in eval mode (`talkinglib.checkpoints.load`): EDTalk from
    `train edtalk.*`, RETA from `train reta`, the probe, SyncNet, ... kind: the kind required (a file of
    another kind raises CheckpointError naming the command that makes the right one)."""
    from talkinglib.checkpoints import load as load_checkpointed_model
    return load_checkpointed_model(path, kind, map_location)


__all__ = [*_SUBMODULES, "load"]
