"""Loading the official EDTalk checkpoints into talkinglib models.

Implements: the public EDTalk release (EDTalk.pt: the generator under key "gen"; Audio2Lip.pt:
the audio-to-mouth network under key "audio2lip"), whose state-dict names and shapes
`EDTalk(PRESETS["full"])` and `Audio2Lip(PRESETS["full"])` reproduce exactly, so loading is a
plain `load_state_dict` after the checks below. See shared/reference/edtalk_parity/README.md.

    m = tl.official.load_edtalk("~/.cache/talkinglib/EDTalk.pt")     # -> EDTalk, eval mode
    m = tl.official.load_edtalk(state_dict)                          # {"gen": ...} or a bare state dict
    a2l = tl.official.load_audio2lip("~/.cache/talkinglib/Audio2Lip.pt")   # -> Audio2Lip, eval mode

`reference_weights(manifest, fixture)` regenerates the seeded weights of the parity fixture
(README "Weights procedure"); the parity test and CPU benchmarks use it.
"""
import json
import pickle
from collections import OrderedDict
from pathlib import Path

import torch

from talkinglib.errors import CheckpointError
from talkinglib.models.edtalk import PRESETS, EDTalk

WHERE = ("the EDTalk release: the Google Drive link in the EDTalk README (github.com/tanshuai0219/EDTalk, "
         "'put them into ./ckpts') or Hugging Face hf://tanshuai0219/EDTalk; "
         "`talkinglib weights fetch edtalk` fetches it into $TALKINGLIB_HOME")


class OfficialCheckpointError(CheckpointError):
    """The file or state dict is not an EDTalk generator checkpoint this model can load."""


def _read(path, map_location, file="EDTalk.pt", where=WHERE):
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist. Get {file} from {where}.")
    import argparse
    try:
        # training checkpoints often pickle their argparse arguments: allow exactly that class
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        if isinstance(e, pickle.UnpicklingError) and "Unsupported global" in str(e):
            raise OfficialCheckpointError(
                f"{path} holds Python objects that torch.load(weights_only=True) refuses ({e}). If you trust "
                "the file, load it with torch.load(path, weights_only=False) and pass the dict to load_edtalk") from e
        raise OfficialCheckpointError(f"{path} is not a readable torch checkpoint ({type(e).__name__}: {e}); "
                                      f"a truncated download? Get {file} again from {where}") from e


def _state_dict_of(obj, key="gen", what="EDTalk generator"):
    if not isinstance(obj, dict):
        raise OfficialCheckpointError(f"expected a checkpoint dict or a state dict, got {type(obj).__name__}")
    if key in obj and isinstance(obj[key], dict):
        obj = obj[key]                                    # official EDTalk.pt: {"gen": ...}; Audio2Lip.pt: {"audio2lip": ...}
    if not obj or not all(torch.is_tensor(v) for v in obj.values()):
        keys = sorted(obj)[:8]
        raise OfficialCheckpointError(f"not an {what} state dict: no {key!r} entry and not all values are "
                                      f"tensors (keys: {keys}{' ...' if len(obj) > 8 else ''})")
    if all(k.startswith("module.") for k in obj):           # saved from a DistributedDataParallel wrapper
        obj = OrderedDict((k[len("module."):], v) for k, v in obj.items())
    return obj


def _listing(names, n=5):
    names = sorted(names)
    return ", ".join(names[:n]) + (f", ... ({len(names)} in all)" if len(names) > n else f" ({len(names)})")


def check_state_dict(model, state, hint="(official EDTalk.pt fits PRESETS['full']; EDTalk_lip_pose.pt is a "
                                        "different, expression-free model)"):
    """Raise OfficialCheckpointError naming missing/unexpected keys and shape mismatches."""
    own = model.state_dict()
    missing, unexpected = set(own) - set(state), set(state) - set(own)
    shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state and state[k].shape != own[k].shape]
    problems = []
    if missing:
        problems.append(f"missing keys: {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_listing(unexpected)}")
    if shapes:
        problems.append(f"shape mismatches: {'; '.join(shapes[:5])}" + (f" ... ({len(shapes)} in all)"
                                                                       if len(shapes) > 5 else ""))
    if problems:
        raise OfficialCheckpointError(
            f"the state dict does not fit {type(model).__name__}({model.cfg}):\n  " + "\n  ".join(problems)
            + "\n" + hint)


def load_edtalk(path_or_state_dict=None, map_location="cpu", config=None):
    """EDTalk in eval mode from EDTalk.pt (a path), its dict ({"gen": ...}) or a bare state dict.

    None looks the file up in the weights registry (talkinglib.weights, entry "edtalk"); it never
    downloads. config: the EDTalkConfig to build (default PRESETS["full"], the official sizes).
    """
    obj = path_or_state_dict
    if obj is None:
        from talkinglib import weights
        obj = weights.resolve("edtalk")                   # raises, naming where to get the file, if absent
    if isinstance(obj, (str, Path)):
        obj = _read(obj, map_location)
    state = _state_dict_of(obj)
    model = EDTalk(config or PRESETS["full"])
    check_state_dict(model, state)
    model.load_state_dict(state)
    return model.eval()


def load_audio2lip(path_or_state_dict=None, map_location="cpu", config=None):
    """Audio2Lip in eval mode (BatchNorm on its running statistics) from Audio2Lip.pt (a path), its
    dict ({"audio2lip": ...}) or a bare state dict. None looks it up in the weights registry
    (entry "audio2lip"); it never downloads. config: default PRESETS["full"] of models/audio2lip.py."""
    from talkinglib.models.audio2lip import PRESETS as A2L_PRESETS, Audio2Lip
    obj = path_or_state_dict
    if obj is None:
        from talkinglib import weights
        obj = weights.resolve("audio2lip")
    if isinstance(obj, (str, Path)):
        obj = _read(obj, map_location, file="Audio2Lip.pt")
    state = _state_dict_of(obj, key="audio2lip", what="Audio2Lip")
    model = Audio2Lip(config or A2L_PRESETS["full"])
    check_state_dict(model, state, hint="(official Audio2Lip.pt fits PRESETS['full'] of talkinglib.models.audio2lip; "
                                        "a checkpoint of `talkinglib train edtalk.audio2lip` loads with its own loader)")
    model.load_state_dict(state)
    return model.eval()


def load_wav2lip_syncnet(path_or_state_dict=None, map_location="cpu"):
    """Wav2Lip's expert (lipsync_expert.pth, key "state_dict") as a talkinglib SyncNet (PRESETS["full"]),
    eval mode. Feed it `face_input(clip, official_colours=True)`: the expert was trained on BGR in [0, 1].
    None looks the file up in the weights registry (entry "syncnet"); it never downloads."""
    from talkinglib.models.syncnet import PRESETS as SYNC_PRESETS, SyncNet
    obj = path_or_state_dict
    if obj is None:
        from talkinglib import weights
        obj = weights.resolve("syncnet")
    if isinstance(obj, (str, Path)):
        obj = _read(obj, map_location, file="lipsync_expert.pth",
                    where="the Wav2Lip README ('Expert Discriminator'); `talkinglib weights list` shows the link "
                          "and where to put it")
    state = _state_dict_of(obj, key="state_dict", what="Wav2Lip SyncNet")
    model = SyncNet(SYNC_PRESETS["full"])
    check_state_dict(model, state, hint="(Wav2Lip's lipsync_expert.pth fits PRESETS['full'] of "
                                        "talkinglib.models.syncnet; a `talkinglib train syncnet` checkpoint loads "
                                        "with talkinglib.load)")
    model.load_state_dict(state)
    return model.eval()


def load_fixture(path):
    """fixture_seed0.pt with weights_only=True (it also records a torch.torch_version.TorchVersion)."""
    from torch.torch_version import TorchVersion
    with torch.serialization.safe_globals([TorchVersion]):
        return torch.load(path, map_location="cpu", weights_only=True)


def reference_weights(manifest, fixture, module="generator", seed=None):
    """The seeded weights of the parity fixture, as a state dict in manifest order.

    Entry i (0-based) of the module's manifest: a buffer is copied from the fixture; a parameter
    is randn(shape, generator=manual_seed(seed * 100003 + i)) * std, plus 1 for BatchNorm weights.
    manifest: path or parsed manifest.json; fixture: path or loaded fixture_seed0.pt (or its
    "buffers" dict). seed defaults to the fixture's.
    """
    if isinstance(manifest, (str, Path)):
        manifest = json.loads(Path(manifest).read_text())
    if isinstance(fixture, (str, Path)):
        fixture = load_fixture(fixture)
    entries = manifest[module]["entries"] if module in manifest else manifest["entries"]
    buffers = fixture["buffers"][module] if "buffers" in fixture else fixture
    seed = fixture.get("seed", 0) if seed is None else seed
    state = OrderedDict()
    for i, e in enumerate(entries):
        if e["kind"] == "buffer":
            state[e["name"]] = buffers[e["name"]].clone()
            continue
        g = torch.Generator().manual_seed(seed * 100003 + i)
        w = torch.randn(e["shape"], generator=g) * e["std"]
        state[e["name"]] = 1 + w if e["batchnorm_weight"] else w
    return state
