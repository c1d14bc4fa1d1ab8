# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 11 · Full-scale training on Colab (or any GPU), stage by stage, with resume
#
# **Purpose.** The complete recipe of both papers at the `full` preset (256², the official
# architectures) on prepared MEAD/HDTF: `talkinglib train recipe --recipe full` (train/recipe.py),
# whose every step is one `talkinglib train` call that resumes from its last checkpoint, so a Colab
# disconnect costs minutes, not the run.
#
# **Two paths, one recipe.** On a GPU with `SMOKE = False` it trains for real. Without a GPU (and in
# CI) the same cells run the **smoke path**: the same recipe's steps at the tiny preset on SynthTalk,
# two steps each, to prove the recipe is wired end to end. Nothing else differs.
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
SETTINGS = {}                                        # per-step settings, e.g. {"edtalk.autoencoder": ["steps=50000"]}
EXPERT = None                                        # full path: your L_mot experts' checkpoint (see the recipe)
TEACHER = None                                       # full path: None reads the registry's ViT, or RETA's teacher

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

import talkinglib as tl                                                            # noqa: E402
from talkinglib.cli import main as talkinglib                                     # noqa: E402

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
# The papers' main chain, in dependency order: each step is one `talkinglib train` call that writes
# `RUNS/<stage>/`, and the next starts from that run's checkpoint as it is. Run again (after a
# disconnect, re-run the notebook from the top), finished steps return at once and an interrupted one
# continues from its last checkpoint. `RUNS/recipe.json` records each step's wall time.
#
# | step | paper | trains | starts from |
# |---|---|---|---|
# | `edtalk.autoencoder` | EDTalk A.3 (LIA-style) | E, G | scratch |
# | `edtalk.mouth_pose` | EDTalk §3.2, EDTalk Eqs. 3–7 | mouth and pose banks | stage 1 |
# | `edtalk.expression` | EDTalk §3.2, EDTalk Eqs. 8–10 | ELN, expression bank, EEM | stage 2 (+ L_mot experts) |
# | `syncnet` | Wav2Lip's expert | the lip-sync expert | scratch |
# | `edtalk.audio2lip` | EDTalk §3.3, EDTalk Eqs. 11–12 | Audio2Lip | EDTalk + SyncNet |
# | `edtalk.audio2pose` | EDTalk A.1, EDTalk Eqs. 13–14 | the pose flow | EDTalk |
# | `edtalk.audio2exp` | EDTalk Eq. 15 | E_S, E_T, the MLP | EDTalk |
# | `reta` | RETA §3 | the whole RETA | EDTalk + teacher + SyncNet |
#
# EDTalk's L_mot needs two experts, a 3DMM regressor φ and an emotion network ψ. On SynthTalk they
# are `talkinglib train expert`; on real data pass your own as `EXPERT` (without one the recipe
# leaves `edtalk.expression` out and says so: the later steps start from stage 2). RETA's teacher at
# `full` is the registry's facial-expression ViT; the tiny preset has none, so the smoke path passes
# SynthTalk's. Both smoke inputs are the committed ones the tiny recipe makes
# (`talkinglib train recipe --preset tiny`), which also holds the ablations (EDTalk Tab. 3, RETA
# Tab. 4) this chain leaves out: its `--dry-run` prints their commands.
#
# The smoke path shortens every step to two (`--steps 2`) and runs EDTalk's stages on batches of two
# (stage 1 without its 500 extra identities: `--set STEP:KEY=VALUE`); the commands are printed first.
# In a terminal the same call is
# `talkinglib train recipe --recipe full --preset full --data DATA --out RUNS --expert EXPERT`.

# %%
def checkpoint_step(path):
    return tl.checkpoints.load_checkpoint(path)["step"]


def recipe_args(preset, expert, teacher, steps=None, sets=None):
    """The `talkinglib train recipe --recipe full` command line of these parameters."""
    return (["train", "recipe", "--recipe", "full", "--preset", preset, "--data", DATA, "--out", RUNS]
            + (["--expert", str(expert)] if expert else []) + (["--teacher", str(teacher)] if teacher else [])
            + (["--steps", str(steps)] if steps else [])
            + [a for step, kvs in (sets or {}).items() for kv in kvs for a in ("--set", f"{step}:{kv}")])


if SMOKE:                                   # the committed SynthTalk expert and teacher (data/checkpoints/)
    CKPT = Path(tl.__file__).resolve().parents[1] / "data" / "checkpoints"
    EXPERT, TEACHER = str(CKPT / "expert_tiny.pt"), str(CKPT / "teacher_tiny.pt")
SMOKE_SETTINGS = {"edtalk.autoencoder": ["extra_identities=0", "batch_size=2"],
                  "edtalk.mouth_pose": ["batch_size=2"], "edtalk.expression": ["batch_size=2"]}
RECIPE = recipe_args(PRESET, EXPERT, TEACHER, steps=2 if SMOKE else None, sets=SMOKE_SETTINGS if SMOKE else SETTINGS)
assert talkinglib(RECIPE + ["--dry-run"]) == 0
assert talkinglib(RECIPE) == 0
times = json.loads((Path(RUNS) / "recipe.json").read_text())     # {step: wall seconds}, in the recipe's order
trained = {name: next((Path(RUNS) / name).glob("*.pt")) for name in times}
for name, path in trained.items():
    print(f"{name:20s} step {checkpoint_step(path):7d}   {times[name]:8.1f} s   {path}")
if SMOKE:
    assert len(times) == 8 and all(checkpoint_step(p) == 2 for p in trained.values())

# %% [markdown]
# **Resume, shown.** Run the recipe again: every step finds its run at its last step and returns
# without training. A run stopped half way (`--stop-at`, or a disconnect) continues from its step.

# %%
assert talkinglib(RECIPE) == 0
again = json.loads((Path(RUNS) / "recipe.json").read_text())
print("again:", again == times, "(recipe.json unchanged: nothing retrained)")
assert again == times
if SMOKE:
    tiny_only = ["--set", "extra_identities=0", "--set", "batch_size=2"]
    half = Path(RUNS) / "resume_demo"
    talkinglib(["train", "edtalk.autoencoder", "--data", DATA, "--out", str(half), "--preset", PRESET, "--steps", "3",
                "--stop-at", "1", *tiny_only])
    stopped = checkpoint_step(half / "edtalk.pt")
    talkinglib(["train", "edtalk.autoencoder", "--data", DATA, "--out", str(half), "--preset", PRESET, "--steps", "3",
                *tiny_only])
    print("stopped at", stopped, "-> resumed to", checkpoint_step(half / "edtalk.pt"))
    assert (stopped, checkpoint_step(half / "edtalk.pt")) == (1, 3)

# %% [markdown]
# ## Several GPUs
# Every stage runs under `torchrun` with DDP (nccl on GPUs, gloo on CPUs): each process draws its
# own batches, gradients are averaged, rank 0 writes logs and checkpoints. The recipe runs its steps in
# this one process, so on several GPUs run its commands (the dry run above) under `torchrun` one by
# one, in order; a step so finished is one the recipe then skips. On one machine with 4 GPUs, the first:

# %%
import contextlib  # noqa: E402
import io  # noqa: E402

commands = io.StringIO()
with contextlib.redirect_stdout(commands):                   # the dry run prints one `talkinglib ...` line a step
    talkinglib(recipe_args("full", EXPERT, None) + ["--dry-run"])
first = next(line for line in commands.getvalue().splitlines() if line.startswith("talkinglib train"))
print("torchrun --nproc_per_node 4 -m " + first)

# %% [markdown]
# ## Use what was trained
# The pipeline of notebook 10 takes these checkpoints as they are; `talkinglib evaluate` scores them
# (notebook 12):
#
#     talkinglib generate --mode reta --checkpoint RUNS/reta/reta.pt --image me.jpg --audio talk.wav --out me.mp4
#     talkinglib evaluate --mode reta --checkpoint RUNS/reta/reta.pt --data DATA --out RUNS/eval
