"""`talkinglib synth`: same seed, same bytes (whatever the number of workers)."""
import hashlib
import subprocess
import sys
from pathlib import Path

SMALL = ["--set", "identities=3", "--set", "test_identities=1", "--set", "seconds=1.0"]


def _digest(root: Path):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _synth(out, seed, workers):
    cmd = [sys.executable, "-m", "talkinglib", "synth", "--out", str(out), "--seed", str(seed),
           "--preset", "tiny", "--workers", str(workers), *SMALL]
    subprocess.run(cmd, check=True, capture_output=True)


def test_same_seed_same_bytes_any_worker_count(tmp_path):
    _synth(tmp_path / "a", 7, 1)
    _synth(tmp_path / "b", 7, 2)
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert len(a) == 3 * 8 * 3 + 2                     # 24 clips x (frames, audio, meta) + splits + dataset
    assert a == b
    _synth(tmp_path / "c", 8, 2)
    c = _digest(tmp_path / "c")
    assert sum(a[k] != c[k] for k in a) > 60, "another seed gives other data"


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("precious")
    r = subprocess.run([sys.executable, "-m", "talkinglib", "synth", "--out", str(tmp_path / "mine"), *SMALL],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "not a SynthTalk dataset" in r.stderr
    assert (tmp_path / "mine" / "notes.txt").read_text() == "precious"
