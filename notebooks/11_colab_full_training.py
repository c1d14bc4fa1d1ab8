# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 11 · Full-scale training on Colab (or any GPU), stage by stage, with resume
#
# **Purpose.** The complete recipe of both papers at the `full` preset (256², the official
# architectures) on prepared MEAD/HDTF: every stage is one `talkinglib train` call, every call
# resumes from its last checkpoint, so a Colab disconnect costs minutes, not the run.
#
# **Two paths, one code.** On a GPU with `SMOKE = False` it trains for real. Without a GPU (and in
# CI) the same cells run the **smoke path**: the tiny preset on SynthTalk, two steps per stage, to
# prove the recipe is wired end to end. Nothing else differs.
#
# **Before you start (real data).** Prepare the datasets once, on any machine with the `prepare`
# extra (`pip install "talkinglib[prepare]"`; mediapipe pins numpy < 2, so on Colab restart the
# runtime after installing it, or prepare locally and upload):
#
#     talkinglib prepare mead /path/MEAD --out /content/drive/MyDrive/talkinglib/data
#     talkinglib prepare hdtf /path/HDTF --out /content/drive/MyDrive/talkinglib/data
#
# Both write into one dataset: MEAD's emotional clips and HDTF's unlabelled ones, split by identity.

# %% [markdown]
# ## Parameters
# Edit these. `SMOKE = None` picks the smoke path exactly when there is no GPU.

# %%
import json
import sys
from pathlib import Path

SMOKE = None                                         # None: smoke path iff no CUDA GPU
DATA = "/content/drive/MyDrive/talkinglib/data"      # a prepared dataset root (talkinglib prepare)
RUNS = "/content/drive/MyDrive/talkinglib/runs"      # checkpoints: on Drive, so they outlive the runtime
SOURCE = "/content/drive/MyDrive/talkinglib/repo"    # Colab only: a clone of this repository to install
STEPS = {}                                           # per-stage step overrides, e.g. {"edtalk.autoencoder": 50_000}
EXPERT = None                                        # full path: your L_mot experts' checkpoint (see the recipe)

# %% [markdown]
# ## Environment
# On Colab: mount Drive and install talkinglib from the clone (Colab's own torch is kept; the
# `prepare` extra is left out, see above). Elsewhere nothing is installed.

# %%
IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    import subprocess
    from google.colab import drive
    drive.mount("/content/drive")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", SOURCE], check=True)
import torch                                                                       # noqa: E402

from talkinglib.cli import main as talkinglib                                     # noqa: E402
from talkinglib.train import common                                               # noqa: E402

print("python", sys.version.split()[0], "| torch", torch.__version__, "| colab:", IN_COLAB)

# %% [markdown]
# ## GPU check

# %%
has_gpu = torch.cuda.is_available()
if has_gpu:
    p = torch.cuda.get_device_properties(0)
    print(f"GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB, {torch.cuda.device_count()} device(s)")
else:
    print("no CUDA GPU")
SMOKE = (not has_gpu) if SMOKE is None else SMOKE
if not SMOKE and not has_gpu:
    raise RuntimeError("SMOKE = False needs a GPU: on Colab, Runtime > Change runtime type > GPU")
PRESET = "tiny" if SMOKE else "full"
print("path:", "smoke (tiny, SynthTalk, 2 steps a stage)" if SMOKE else "full")

# %% [markdown]
# ## Data
# The smoke path makes (or reuses) the tiny SynthTalk dataset. The full path checks the prepared
# one and says how to make it when it is not there.

# %%
if SMOKE:
    import tempfile
    from talkinglib.synth.generate import ensure_dataset
    DATA = str(ensure_dataset("tiny", progress=False))
    RUNS = tempfile.mkdtemp(prefix="talkinglib_smoke_")
elif not (Path(DATA) / "splits.json").is_file():
    raise FileNotFoundError(f"{DATA} is not a prepared dataset: run `talkinglib prepare mead ... --out {DATA}` "
                            "(and hdtf) first, see the top of this notebook")
splits = json.loads((Path(DATA) / "splits.json").read_text())
print(DATA, {k: len(v) for k, v in splits.items()}, "clips; runs in", RUNS)

# %% [markdown]
# ## Pretrained networks (full path only)
# The full presets use ImageNet VGG19 for the perceptual loss and the papers' pretrained encoders.
# `talkinglib weights fetch` is the only command that downloads; training never does.

# %%
NEEDED = ["vgg19", "hubert", "emoberta", "wav2vec2", "vit_expression"]
if not SMOKE:
    for name in NEEDED:
        talkinglib(["weights", "fetch", name])
else:
    print("smoke path: tiny presets build small random networks offline; nothing to fetch")

# %% [markdown]
# ## The recipe
# One call per stage, in the papers' order. Each writes `RUNS/<stage>/` and resumes from it when
# the cell runs again (after a disconnect, re-run the notebook from the top: finished stages return
# at once, an interrupted one continues from its last checkpoint).
#
# | stage | paper | trains | starts from |
# |---|---|---|---|
# | `edtalk.autoencoder` | EDTalk A.3 (LIA-style) | E, G | scratch (or an official EDTalk.pt with `--init`) |
# | `edtalk.mouth_pose` | EDTalk §3.1, Eqs. 3-7 | mouth and pose banks | stage 1 |
# | `edtalk.expression` | EDTalk §3.2, Eqs. 8-10 | ELN, expression bank, EEM | stage 2 (+ L_mot experts) |
# | `syncnet` | Wav2Lip's expert | the lip-sync expert | scratch |
# | `edtalk.audio2lip` | EDTalk §3.3, Eqs. 11-12 | Audio2Lip | EDTalk + SyncNet |
# | `edtalk.audio2pose` | EDTalk A.1, Eqs. 13-14 | the pose flow | EDTalk |
# | `edtalk.audio2exp` | EDTalk Eq. 15 | E_S, E_T, the MLP | EDTalk |
# | `reta` | RETA §3 | the whole RETA | EDTalk + teacher + SyncNet |
#
# EDTalk's L_mot needs two experts, a 3DMM regressor φ and an emotion network ψ. On SynthTalk they
# are `talkinglib train expert`; on real data pass your own with `--expert` (the stage is skipped
# with a message when there is none). RETA's teacher at `full` is the registry's facial-expression
# ViT; the smoke path trains SynthTalk's.

# %%
def train(stage, *args, steps=None):
    """`talkinglib train STAGE` into RUNS/<stage> (resuming), with this notebook's data and preset."""
    out = Path(RUNS) / stage
    steps = 2 if SMOKE else STEPS.get(stage, steps)
    argv = ["train", stage, "--data", DATA, "--out", str(out), "--preset", PRESET, *map(str, args)]
    if steps is not None:
        argv += ["--steps", str(steps)]
    if talkinglib(argv) != 0:
        raise RuntimeError(f"stage {stage} failed")
    return out


def checkpoint_step(path):
    return common.load_checkpoint(path)["step"]


tiny_only = ["--set", "extra_identities=0", "--set", "batch_size=2"] if SMOKE else []   # smoke: no extra faces
ae = train("edtalk.autoencoder", *tiny_only)
mp = train("edtalk.mouth_pose", "--init", ae / "edtalk.pt", *(["--set", "batch_size=2"] if SMOKE else []))
print("EDTalk stages 1-2:", checkpoint_step(ae / "edtalk.pt"), checkpoint_step(mp / "edtalk.pt"), "steps")
if SMOKE:
    assert checkpoint_step(ae / "edtalk.pt") == checkpoint_step(mp / "edtalk.pt") == 2

# %% [markdown]
# **Resume, shown.** Run stage 1 again: it finds its checkpoint at the last step and returns
# without training. A run stopped half way (`--stop-at`, or a disconnect) continues from its step.

# %%
if SMOKE:
    half = Path(RUNS) / "resume_demo"
    talkinglib(["train", "edtalk.autoencoder", "--data", DATA, "--out", str(half), "--preset", PRESET, "--steps", "3",
                "--stop-at", "1", *tiny_only])
    stopped = checkpoint_step(half / "edtalk.pt")
    talkinglib(["train", "edtalk.autoencoder", "--data", DATA, "--out", str(half), "--preset", PRESET, "--steps", "3",
                *tiny_only])
    print("stopped at", stopped, "-> resumed to", checkpoint_step(half / "edtalk.pt"))
    assert (stopped, checkpoint_step(half / "edtalk.pt")) == (1, 3)

# %%
if SMOKE:                                            # SynthTalk's experts: `talkinglib train expert`
    EXPERT = train("expert", "--set", "extra_identities=0") / "expert.pt"
if EXPERT is not None:
    exp = train("edtalk.expression", "--init", mp / "edtalk.pt", "--expert", EXPERT,
                *(["--set", "batch_size=2"] if SMOKE else []))
    edtalk_ckpt = exp / "edtalk.pt"
else:
    print("edtalk.expression skipped: L_mot needs a 3DMM regressor and an emotion expert (--expert); "
          "the audio stages continue from the mouth-pose checkpoint")
    edtalk_ckpt = mp / "edtalk.pt"

# %%
sync = train("syncnet")
a2l = train("edtalk.audio2lip", "--init", edtalk_ckpt, "--syncnet", sync / "syncnet.pt")
a2p = train("edtalk.audio2pose", "--init", edtalk_ckpt)
a2e = train("edtalk.audio2exp", "--init", edtalk_ckpt)
teacher = ["--teacher", train("teacher") / "teacher.pt"] if SMOKE else []            # full: the registry's ViT
reta = train("reta", "--init", edtalk_ckpt, "--syncnet", sync / "syncnet.pt", *teacher)
done = {"syncnet": sync / "syncnet.pt", "audio2lip": a2l / "audio2lip.pt", "audio2pose": a2p / "audio2pose.pt",
        "audio2exp": a2e / "audio2exp.pt", "reta": reta / "reta.pt"}
print({k: checkpoint_step(v) for k, v in done.items()})
if SMOKE:
    assert all(checkpoint_step(v) == 2 for v in done.values())

# %% [markdown]
# ## Several GPUs
# Every stage runs under `torchrun` with DDP (nccl on GPUs, gloo on CPUs): each process draws its
# own batches, gradients are averaged, rank 0 writes logs and checkpoints. On one machine with 4 GPUs:

# %%
print(f"torchrun --nproc_per_node 4 -m talkinglib train edtalk.autoencoder --data {DATA} "
      f"--out {RUNS}/edtalk.autoencoder --preset full")

# %% [markdown]
# ## Use what was trained
# The pipeline of notebook 10 takes these checkpoints as they are; `talkinglib evaluate` scores them
# (notebook 12):
#
#     talkinglib generate --mode reta --checkpoint RUNS/reta/reta.pt --image me.jpg --audio talk.wav --out me.mp4
#     talkinglib evaluate --mode reta --checkpoint RUNS/reta/reta.pt --data DATA --out RUNS/eval
