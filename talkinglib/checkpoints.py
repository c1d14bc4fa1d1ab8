"""Checkpoints: the file format every talkinglib checkpoint shares, and `load`, which gives back the model.

    import talkinglib as tl
    edtalk = tl.load("data/checkpoints/edtalk_tiny.pt")          # EDTalk, eval mode, like from_pretrained
    probe = tl.load("data/checkpoints/probe_tiny.pt", kind="probe")   # a kind check: a wrong file says so
    model, state = tl.checkpoints.load_with_state(path)          # and the checkpoint's dict (config, step, history)

A checkpoint holds {"config", "model", "optimizer", "step", "version"} (DESIGN.md); config["stage"] is its
kind ("edtalk.expression", "reta", ...; the factor probe and the L_mot expert record none: "probe"), and
config["model"] the model's config dataclass as a dict, so the file alone rebuilds the model. Checkpoints
are written atomically (temp file, then os.replace) and read with weights_only=True. An export may also
hold "base" (export_weights): its frozen tensors then live in the checkpoint it was trained from.

This module sits below train/, inference/ and eval/: it imports models only, so loading a model never
imports the training code.
"""
import dataclasses
import hashlib
import importlib
import os
from pathlib import Path

import torch

from talkinglib.errors import CheckpointError, InputError

CHECKPOINT_VERSION = 1


def config_to_dict(cfg):
    """A (possibly nested) config dataclass as plain dicts and lists, for checkpoints."""
    def plain(v):
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return list(v) if isinstance(v, tuple) else v
    return plain(dataclasses.asdict(cfg))


def config_from_dict(cls, d):
    """The dataclass back from config_to_dict's dict; nested config dataclasses are rebuilt too."""
    kw = {}
    for f in dataclasses.fields(cls):
        if f.name in d:
            v = d[f.name]
            if dataclasses.is_dataclass(f.type) and isinstance(v, dict):
                v = config_from_dict(f.type, v)
            kw[f.name] = tuple(v) if isinstance(v, list) else v
    return cls(**kw)


def save_checkpoint(path, *, config, model, optimizer=None, step=0, extra=None, history=None):
    """Atomic write: a crash mid-save leaves the previous checkpoint intact. history: the
    Logger's {name: [(step, value), ...]}, kept so that curves survive resumes and exports."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"config": config, "model": model.state_dict(),
             "optimizer": optimizer.state_dict() if optimizer is not None else {},
             "step": int(step), "version": CHECKPOINT_VERSION, "extra": extra or {},
             "history": {k: [[int(a), float(b)] for a, b in v] for k, v in (history or {}).items()}}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


# the command that makes each kind of checkpoint: a kind mismatch names it
MAKERS = {"probe": "talkinglib train probe (or train expert)", "reta": "talkinglib train reta",
          "teacher": "talkinglib train teacher", "syncnet": "talkinglib train syncnet",
          "edtalk.": "talkinglib train edtalk.autoencoder, then edtalk.mouth_pose and edtalk.expression",
          "edtalk.audio2lip": "talkinglib train edtalk.audio2lip", "edtalk.audio2pose": "talkinglib train edtalk.audio2pose",
          "edtalk.audio2exp": "talkinglib train edtalk.audio2exp"}


def checkpoint_kind(state):
    """A checkpoint's kind: its stage ("reta", "edtalk.expression", ...), or "probe" for the factor probe and
    the L_mot expert (train probe / train expert record no stage)."""
    return (state.get("config") or {}).get("stage") or "probe"


def require_kind(path, state, kind):
    """Raise CheckpointError unless the checkpoint is of `kind` (a kind ending in "." is a family: "edtalk." is
    any EDTalk video stage). The message names both kinds and the command that makes the right one."""
    have = checkpoint_kind(state)
    video = have.startswith("edtalk.") and have not in MAKERS
    if have == kind or (kind == "edtalk." and video):
        return have
    what = "an EDTalk video stage's (edtalk.autoencoder, edtalk.mouth_pose or edtalk.expression)" \
        if kind == "edtalk." else repr(kind)
    raise CheckpointError(f"{path} is a checkpoint of kind {have!r}, not {what}: pass a checkpoint of that kind "
                          f"(`{MAKERS[kind]}` makes one)")


def load_checkpoint(path, map_location="cpu"):
    """The checkpoint's dict. One exported with a base (export_weights(base=...)) comes back whole: the
    tensors it shares with its base are read from that file, which must sit where it did at export."""
    path = Path(path)
    state = _read_checkpoint(path, map_location)
    if "base" in state:
        state = _with_base(path, state, map_location)
    return state


def _read_checkpoint(path, map_location):
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; train one first (see `talkinglib train --help`)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated or not a torch file
        raise CheckpointError(f"{path} is not a readable talkinglib checkpoint ({type(e).__name__}: {e}); "
                              "delete it and train again, or pass another file") from e
    missing = {"config", "model", "step", "version"} - set(state)
    if missing:
        raise CheckpointError(f"{path} lacks {sorted(missing)}: it was not written by talkinglib")
    if state["version"] != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} has checkpoint version {state['version']}, this talkinglib reads "
                              f"version {CHECKPOINT_VERSION}")
    return state


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _with_base(path, state, map_location):
    """state["model"] completed from its base. state["base"] = {"file": the base's path relative to this
    file's folder, "sha256": the base file's digest, "keys": every tensor name, in order}."""
    ref = state.pop("base")
    base_path = path.parent / ref["file"]
    if not base_path.is_file():
        raise CheckpointError(f"{path} stores only the tensors that differ from {ref['file']}, which is not at "
                              f"{base_path}: keep the two files together (copy or move both), or re-export "
                              "without --base")
    if _sha256(base_path) != ref["sha256"]:
        raise CheckpointError(f"{base_path} is not the file {path} was exported against (its sha256 differs): "
                              f"restore that file, or re-export {path.name} against the new one")
    base = _read_checkpoint(base_path, map_location)["model"]
    own = state["model"]
    try:
        state["model"] = {k: own[k] if k in own else base[k] for k in ref["keys"]}
    except KeyError as e:
        raise CheckpointError(f"{path} names tensor {e} that neither it nor {base_path} holds: re-export it") from e
    return state


def export_weights(src, dst, half=False, base=None):
    """Copy a checkpoint without its optimizer state, or any training-only extras such as a
    discriminator (what gets committed or shipped). half=True stores the model's floating-point
    tensors as float16 (half the bytes); loading casts them back to the model's float32.

    base: an exported checkpoint that src was trained from. Tensors bit-for-bit equal in both (after
    half) are left out and read back from the base by load_checkpoint, so the base must stay beside dst
    at the same relative path. A stage that freezes E and G (EDTalk's stages 2 and 3) then costs only
    its navigation and EEM. The base must be a whole checkpoint, not one with a base of its own."""
    state = load_checkpoint(src)
    state["optimizer"] = {}
    state["extra"] = {}
    if half:
        state["model"] = {k: v.half() if v.is_floating_point() else v for k, v in state["model"].items()}
    dst = Path(dst)
    if base is not None:
        base = Path(base)
        raw = _read_checkpoint(base, "cpu")
        if "base" in raw:
            raise CheckpointError(f"{base} has a base of its own ({raw['base']['file']}); export against a "
                                  "whole checkpoint")
        theirs = raw["model"]
        shared = {k for k, v in state["model"].items()
                  if k in theirs and theirs[k].dtype == v.dtype and theirs[k].shape == v.shape
                  and torch.equal(theirs[k], v)}
        state["base"] = {"file": os.path.relpath(base.resolve(), dst.resolve().parent), "sha256": _sha256(base),
                         "keys": list(state["model"])}
        state["model"] = {k: v for k, v in state["model"].items() if k not in shared}
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, dst)
    return dst


# -- kind -> model ----------------------------------------------------------------------------------------------
# (module, model class, config class) of each kind; "edtalk." is the family of EDTalk's video stages
# (edtalk.autoencoder, edtalk.mouth_pose, edtalk.expression), which all hold a whole EDTalk
MODELS = {
    "probe": ("talkinglib.models.probe", "FactorProbe", "ProbeConfig"),
    "edtalk.": ("talkinglib.models.edtalk", "EDTalk", "EDTalkConfig"),
    "edtalk.audio2lip": ("talkinglib.models.audio2lip", "Audio2Lip", "Audio2LipConfig"),
    "edtalk.audio2pose": ("talkinglib.models.pose_flow", "PoseFlow", "PoseFlowConfig"),
    "edtalk.audio2exp": ("talkinglib.models.semantic_expression", "SemanticExpression", "SemanticExpressionConfig"),
    "syncnet": ("talkinglib.models.syncnet", "SyncNet", "SyncNetConfig"),
    "teacher": ("talkinglib.models.emotion", "EmotionTeacher", "TeacherConfig"),
    "reta": ("talkinglib.models.reta", "RETA", "RETAConfig"),
}


def model_family(kind):
    """The MODELS key of a checkpoint kind: an EDTalk video stage's kind is the family "edtalk."."""
    return "edtalk." if kind.startswith("edtalk.") and kind not in MODELS else kind


def _build(kind, state):
    """The untrained model a checkpoint of `kind` holds, from its saved config."""
    module, model_name, config_name = MODELS[model_family(kind)]
    module = importlib.import_module(module)
    cfg = config_from_dict(getattr(module, config_name), state["config"]["model"])
    if kind == "reta":                  # RETA carries its 3DMM basis in its state dict, when it was built with one
        from talkinglib.models.bridge_3dmm import Morphable3DMM
        sd = state["model"]
        mm = None
        if "geometry.mm.mean" in sd:
            mm = Morphable3DMM(*(sd[f"geometry.mm.{k}"].float() for k in ("mean", "U_id", "U_exp")),
                               sd["geometry.mm.triangles"].numpy(), sd["geometry.mm.lip"].numpy())
        return module.RETA(cfg, mm=mm)
    return getattr(module, model_name)(cfg)


def _check_kind(kind):
    if kind is not None and model_family(kind) not in MODELS:
        raise InputError(f"unknown checkpoint kind {kind!r}: one of {sorted(MODELS)}")


def from_state(state, kind=None, path="the checkpoint"):
    """The model of a checkpoint's dict (load_checkpoint's), in eval mode. kind: the kind the caller needs
    ("reta", "edtalk." for any EDTalk video stage, ...); a checkpoint of another kind raises CheckpointError
    naming both kinds and the command that makes the right one. path: named in the messages."""
    _check_kind(kind)
    have = require_kind(path, state, kind) if kind is not None else checkpoint_kind(state)
    if model_family(have) not in MODELS:
        raise CheckpointError(f"{path} is a checkpoint of kind {have!r}, which no talkinglib model reads")
    model = _build(have, state)
    try:
        model.load_state_dict(state["model"])                  # load_state_dict casts float16 to float32
    except RuntimeError as e:
        raise CheckpointError(f"{path} does not match {type(model).__name__}({state['config']['model']}): "
                              f"{e}") from e
    if have == "teacher":
        model.requires_grad_(False)     # a frozen teacher: RETA's distillation target
    return model.eval()


def load_with_state(path, kind=None, map_location="cpu"):
    """(model in eval mode, the checkpoint's dict) from any talkinglib checkpoint (float16 exports included);
    kind as in from_state (an unknown kind is refused before the file is read)."""
    _check_kind(kind)
    state = load_checkpoint(path, map_location)
    return from_state(state, kind, path), state


def load(path, kind=None, map_location="cpu"):
    """The model in a talkinglib checkpoint, in eval mode: `talkinglib.load(path)`. See load_with_state."""
    return load_with_state(path, kind, map_location)[0]
