"""Models: one component per module, each with a frozen config dataclass at the top.

    m = tl.models.EDTalk(tl.models.EDTALK_PRESETS["tiny"])

Names are resolved lazily, so `import talkinglib.models` stays light.
"""
import importlib

_EXPORTS = {
    "EDTalk": "talkinglib.models.edtalk", "EDTalkConfig": "talkinglib.models.edtalk",
    "SourceCode": "talkinglib.models.edtalk",
    "Discriminator": "talkinglib.models.discriminator", "DiscriminatorConfig": "talkinglib.models.discriminator",
    "orthonormal_bases": "talkinglib.models.banks",
}


def __getattr__(name):
    if name == "EDTALK_PRESETS":
        return importlib.import_module("talkinglib.models.edtalk").PRESETS
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'talkinglib.models' has no attribute {name!r}")
