"""Training that survives: SIGKILL and resume, and torchrun with 2 CPU processes (gloo)."""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from talkinglib import checkpoints


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _probe_cmd(data, out, steps=200):
    return [sys.executable, "-m", "talkinglib", "train", "probe", "--data", str(data), "--out", str(out),
            "--steps", str(steps), "--set", "ckpt_every=20", "--set", "extra_identities=0", "--set", "log_every=10"]


@pytest.mark.timeout(600)
def test_a_run_killed_with_sigkill_resumes_from_its_last_checkpoint(tiny_dataset, tmp_path):
    """kill -9 in the middle of training (possibly mid-save): the last checkpoint loads, a stale
    temporary file is ignored, the resumed run continues the step count and ends with the same
    weights as a run that was never interrupted."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ckpt = tmp_path / "killed" / "probe.pt"
    proc = subprocess.Popen(_probe_cmd(tiny_dataset, tmp_path / "killed"), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if ckpt.exists() and checkpoints.load_checkpoint(ckpt)["step"] >= 60:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = checkpoints.load_checkpoint(ckpt)["step"]                     # atomic: always a whole file
    assert 60 <= killed_at < 200
    (ckpt.parent / "probe.pt.tmp").write_bytes(b"half a checkpoint")    # what a kill mid-save leaves
    subprocess.run(_probe_cmd(tiny_dataset, tmp_path / "killed"), env=env, check=True, capture_output=True)
    subprocess.run(_probe_cmd(tiny_dataset, tmp_path / "straight"), env=env, check=True, capture_output=True)
    resumed = checkpoints.load_checkpoint(ckpt)
    straight = checkpoints.load_checkpoint(tmp_path / "straight" / "probe.pt")
    assert resumed["step"] == straight["step"] == 200
    assert all(torch.equal(resumed["model"][k], straight["model"][k]) for k in straight["model"])


def test_corrupt_and_foreign_checkpoints_get_clear_errors(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(checkpoints.CheckpointError, match="not a readable talkinglib checkpoint"):
        checkpoints.load_checkpoint(bad)
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(checkpoints.CheckpointError, match="not written by talkinglib"):
        checkpoints.load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(checkpoints.CheckpointError, match="does not exist"):
        checkpoints.load_checkpoint(tmp_path / "none.pt")
    probe_path = os.path.join(os.path.dirname(__file__), "..", "data", "checkpoints", "probe_tiny.pt")
    with pytest.raises(checkpoints.CheckpointError, match="of kind 'probe', not an EDTalk video stage"):
        checkpoints.load_with_state(probe_path, "edtalk.")                                   # a probe is not an EDTalk
    from talkinglib.models.probe import FactorProbe
    probe = checkpoints.load(probe_path, "probe")
    assert isinstance(probe, FactorProbe) and not probe.training             # the probe itself loads, in eval mode


def test_an_export_with_a_base_stores_only_what_changed_and_loads_whole(tmp_path):
    """EDTalk's stages 2 and 3 freeze E and G: exported against stage 1 (--base), a checkpoint keeps only
    the tensors that changed, loads back bit-for-bit as the whole export does, and says what to do when
    its base has moved or changed."""
    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.BatchNorm1d(64), nn.Linear(64, 4))
    checkpoints.save_checkpoint(tmp_path / "stage1.pt", config={"stage": "s1"}, model=model)
    checkpoints.export_weights(tmp_path / "stage1.pt", tmp_path / "ckpt" / "base.pt", half=True)
    with torch.no_grad():
        model[2].weight.add_(1.0)                                         # "stage 2" trains only the head
    checkpoints.save_checkpoint(tmp_path / "stage2.pt", config={"stage": "s2"}, model=model, step=5)
    whole = checkpoints.export_weights(tmp_path / "stage2.pt", tmp_path / "ckpt" / "whole.pt", half=True)
    delta = checkpoints.export_weights(tmp_path / "stage2.pt", tmp_path / "ckpt" / "delta.pt", half=True,
                                  base=tmp_path / "ckpt" / "base.pt")
    assert sorted(torch.load(delta, weights_only=True)["model"]) == ["2.weight"]
    assert delta.stat().st_size < whole.stat().st_size / 2
    a, b = checkpoints.load_checkpoint(delta), checkpoints.load_checkpoint(whole)
    assert list(a["model"]) == list(b["model"]) and a["step"] == 5 and "base" not in a
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in b["model"])
    with pytest.raises(checkpoints.CheckpointError, match="has a base of its own"):
        checkpoints.export_weights(tmp_path / "stage2.pt", tmp_path / "x.pt", half=True, base=delta)
    (tmp_path / "moved").mkdir()
    os.replace(delta, tmp_path / "moved" / "delta.pt")                   # moved without its base
    with pytest.raises(checkpoints.CheckpointError, match="keep the two files together"):
        checkpoints.load_checkpoint(tmp_path / "moved" / "delta.pt")
    os.replace(tmp_path / "moved" / "delta.pt", delta)
    checkpoints.export_weights(tmp_path / "stage2.pt", tmp_path / "ckpt" / "base.pt", half=True)    # base replaced
    with pytest.raises(checkpoints.CheckpointError, match="sha256 differs"):
        checkpoints.load_checkpoint(delta)


DDP = r'''
import hashlib, sys, torch, torch.distributed as dist
from dataclasses import replace
from talkinglib.train.edtalk_autoencoder import train_autoencoder
from talkinglib.train.edtalk_config import TRAIN_PRESETS
data, out, steps, stop = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
cfg = replace(TRAIN_PRESETS["edtalk.autoencoder"]["tiny"], steps=steps, batch_size=2, extra_identities=0,
              ckpt_every=1)
run = train_autoencoder(data, out, cfg=cfg, progress=False, stop_at=stop)
h = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in run.model.parameters())).hexdigest()
print("RANK", dist.get_rank(), dist.get_world_size(), h, flush=True)
'''


@pytest.mark.timeout(600)
def test_torchrun_with_two_cpu_processes_keeps_ranks_identical_and_resumes(tiny_dataset, tmp_path):
    """EDTalk stage 1 under torchrun (2 processes, gloo): after each leg both ranks hold the same
    parameters (their batches differ: each rank draws its own), rank 0 writes the checkpoint, and
    the second leg resumes at step 2 and ends at step 4."""
    script = tmp_path / "ddp.py"
    script.write_text(DDP)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    hashes = []
    for stop in (2, 4):
        r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                            "--master_port", str(_free_port()), str(script), str(tiny_dataset), str(tmp_path / "run"),
                            "4", str(stop)], env=env, capture_output=True, text=True, timeout=500)
        assert r.returncode == 0, r.stderr[-3000:]
        ranks = dict(line.split()[1:4:2] for line in r.stdout.splitlines() if line.startswith("RANK"))
        assert set(ranks) == {"0", "1"} and ranks["0"] == ranks["1"]     # identical parameters on both ranks
        assert checkpoints.load_checkpoint(tmp_path / "run" / "edtalk.pt")["step"] == stop
        hashes.append(ranks["0"])
    assert hashes[0] != hashes[1]                                        # the second leg trained on


DDP_PROBE = r'''
import hashlib, sys, torch.distributed as dist
from dataclasses import replace
from talkinglib.train.probe import TRAIN_PRESETS, train_probe
data, out = sys.argv[1], sys.argv[2]
model, _ = train_probe(data, out, cfg=replace(TRAIN_PRESETS["tiny"], steps=3, batch_size=4, extra_identities=0),
                       progress=False)
h = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()
print("RANK", dist.get_rank(), dist.get_world_size(), h, flush=True)
'''


@pytest.mark.timeout(300)
def test_the_probe_trains_under_torchrun_with_identical_ranks(tiny_dataset, tmp_path):
    """`talkinglib train probe` (and expert, the same loop) under torchrun: gradients averaged over
    2 gloo processes that draw different batches, one checkpoint written by rank 0."""
    script = tmp_path / "ddp_probe.py"
    script.write_text(DDP_PROBE)
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                        str(_free_port()), str(script), str(tiny_dataset), str(tmp_path / "run")],
                       env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=280)
    assert r.returncode == 0, r.stderr[-3000:]
    ranks = dict(line.split()[1:4:2] for line in r.stdout.splitlines() if line.startswith("RANK"))
    assert set(ranks) == {"0", "1"} and ranks["0"] == ranks["1"]
    assert checkpoints.load_checkpoint(tmp_path / "run" / "probe.pt")["step"] == 3
