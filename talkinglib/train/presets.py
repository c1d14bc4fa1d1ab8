"""A preset name ("tiny" or "full") resolved, once, into every config a training stage reads.

    preset = resolve("edtalk.autoencoder", "tiny")
    preset.train            # EDTalkTrainConfig of the stage at tiny
    preset.model            # EDTalkConfig (the model the stage builds)
    preset.discriminator    # DiscriminatorConfig of L_adv (EDTalk's video stages, RETA)
    preset.perceptual       # PerceptualConfig of Φ in L_per (its weights come from the training config)
    preset.file("expert")   # data/checkpoints/expert_tiny.pt, the preset's committed default of a file input

`talkinglib train` resolves --preset here and applies --set to the result, and the stage functions take
that Preset; a stage function called with a name (`train_syncnet(..., preset="tiny")`) resolves it here
too, at its first line. No other code maps a preset name to a config.
"""
import importlib
from dataclasses import dataclass
from pathlib import Path

from talkinglib.errors import InputError

NAMES = ("tiny", "full")
COMMITTED = Path(__file__).resolve().parents[2] / "data" / "checkpoints"

# stage -> (module and name of its training presets, module and name of its model presets)
STAGES = {
    "probe": (("talkinglib.train.probe", "TRAIN_PRESETS"), ("talkinglib.models.probe", "PRESETS")),
    "expert": (("talkinglib.train.probe", "EXPERT_TRAIN_PRESETS"), ("talkinglib.models.experts", "EXPERT_PRESETS")),
    "edtalk.autoencoder": (("talkinglib.train.edtalk_config", "TRAIN_PRESETS"), ("talkinglib.models.edtalk", "PRESETS")),
    "edtalk.mouth_pose": (("talkinglib.train.edtalk_config", "TRAIN_PRESETS"), ("talkinglib.models.edtalk", "PRESETS")),
    "edtalk.expression": (("talkinglib.train.edtalk_config", "TRAIN_PRESETS"), ("talkinglib.models.edtalk", "PRESETS")),
    "edtalk.audio2pose": (("talkinglib.train.edtalk_audio2pose", "TRAIN_PRESETS"),
                          ("talkinglib.models.pose_flow", "PRESETS")),
    "edtalk.audio2lip": (("talkinglib.train.edtalk_audio2lip", "TRAIN_PRESETS"),
                         ("talkinglib.models.audio2lip", "PRESETS")),
    "edtalk.audio2exp": (("talkinglib.train.edtalk_audio2exp", "TRAIN_PRESETS"),
                         ("talkinglib.models.semantic_expression", "PRESETS")),
    "syncnet": (("talkinglib.train.syncnet", "TRAIN_PRESETS"), ("talkinglib.models.syncnet", "PRESETS")),
    "teacher": (("talkinglib.train.teacher", "TRAIN_PRESETS"), ("talkinglib.models.emotion", "PRESETS")),
    "reta": (("talkinglib.train.reta_config", "TRAIN_PRESETS"), ("talkinglib.models.reta", "PRESETS")),
}
ADVERSARIAL = ("edtalk.autoencoder", "edtalk.mouth_pose", "edtalk.expression", "reta")   # stages with a D and L_per


@dataclass(frozen=True)
class Preset:
    name: str                      # "tiny" or "full"
    stage: str
    train: object                  # the stage's training config
    model: object                  # the config of the model the stage trains
    discriminator: object = None   # DiscriminatorConfig (ADVERSARIAL stages)
    perceptual: object = None      # PerceptualConfig of Φ (ADVERSARIAL stages)
    teacher: object = None         # reta: the emotion teacher's config when no teacher file is given

    def file(self, stem):
        """The committed default of a file input at this preset: data/checkpoints/<stem>_<name>.pt."""
        return COMMITTED / f"{stem}_{self.name}.pt"


def _table(where):
    module, attr = where
    return getattr(importlib.import_module(module), attr)


def resolve(stage, name):
    """The Preset of `stage` at preset `name`: its training, model, discriminator and perceptual configs."""
    if stage not in STAGES:
        raise InputError(f"unknown stage {stage!r}; the stages are {sorted(STAGES)}")
    if name not in NAMES:
        raise InputError(f"unknown preset {name!r}; the presets are {list(NAMES)}")
    train_where, model_where = STAGES[stage]
    train = _table(train_where)
    train = train[stage] if stage.startswith("edtalk.") and stage in train else train   # edtalk_config: per stage
    kw = {}
    if stage in ADVERSARIAL:
        from talkinglib.losses.perceptual import PRESETS as PERCEPTUAL
        from talkinglib.models.discriminator import PRESETS as DISCRIMINATOR
        kw = {"discriminator": DISCRIMINATOR[name], "perceptual": PERCEPTUAL[name]}
    if stage == "reta":
        from talkinglib.models.emotion import PRESETS as TEACHER
        kw["teacher"] = TEACHER[name]
    return Preset(name, stage, train[name], _table(model_where)[name], **kw)


def as_preset(stage, preset):
    """A stage function's `preset` argument as a Preset: a name is resolved here (once); a Preset (the CLI's,
    with its --set applied) is used as it is, and must belong to `stage` (stage: one name, or a tuple)."""
    stages = (stage,) if isinstance(stage, str) else tuple(stage)
    if isinstance(preset, str):
        return resolve(stages[0], preset)
    if not isinstance(preset, Preset) or preset.stage not in stages:
        raise InputError(f"preset must be a name ({', '.join(NAMES)}) or the Preset of {' or '.join(stages)}; "
                         f"got {preset!r}")
    return preset
