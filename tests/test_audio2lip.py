"""Audio2Lip: exact parity with the official network on the fixture, the loader's errors, shapes."""
import json

import pytest
import torch

from conftest import SHARED
from talkinglib import official
from talkinglib import checkpoints
from talkinglib.errors import InputError
from talkinglib.models.audio2lip import PRESETS, Audio2Lip

PARITY = SHARED / "reference" / "edtalk_parity"


def _fixture():
    if not (PARITY / "fixture_seed0.pt").is_file():
        pytest.skip(f"parity fixture not found under {PARITY} (set TALKINGLIB_SHARED)")
    return official.load_fixture(PARITY / "fixture_seed0.pt")


def test_full_preset_has_the_official_state_dict():
    m = Audio2Lip(PRESETS["full"])
    assert sum(p.numel() for p in m.parameters()) == 2_822_932
    if not (PARITY / "manifest.json").is_file():
        pytest.skip(f"parity manifest not found under {PARITY}")
    entries = json.loads((PARITY / "manifest.json").read_text())["audio2lip"]["entries"]
    assert [(k, list(v.shape)) for k, v in m.state_dict().items()] == [(e["name"], e["shape"]) for e in entries]


def test_parity_with_official_audio2lip(tmp_path):
    """fixture output `audio2lip` (1, 5, 20) from the seeded weights and the fixture's mel, ≤ 1e-3."""
    fx = _fixture()
    state = official.reference_weights(PARITY / "manifest.json", fx, module="audio2lip")
    torch.save({"audio2lip": state}, tmp_path / "Audio2Lip.pt")
    a2l = official.load_audio2lip(tmp_path / "Audio2Lip.pt")
    assert not a2l.training                               # BatchNorm must use the running statistics
    mel = fx["inputs"]["mel"]                             # (5, 1, 80, 16): batch 1, T = 5
    with torch.no_grad():
        out = a2l(mel, batch=1, frames=5)
    ref = fx["outputs"]["audio2lip"]
    diff = (out - ref).abs().max().item()
    print(f"audio2lip max |diff| vs reference: {diff:.2e} (reference scale {ref.abs().max():.2f})")
    assert out.shape == ref.shape == (1, 5, 20)
    assert diff <= 1e-3
    # and the whole audio path: wav -> our mel front end (tested against the fixture in
    # test_audio.py) -> Audio2Lip runs at 25 windows per second
    from talkinglib.audio import mel_windows
    assert a2l(mel_windows(fx["inputs"]["wav_16k"].numpy())).shape == (1, 25, 20)


def test_tiny_shapes_and_batch_view():
    torch.manual_seed(0)
    m = Audio2Lip(PRESETS["tiny"]).eval()
    mel = torch.randn(2 * 7, 1, 80, 16)
    out = m(mel, batch=2, frames=7)
    assert out.shape == (2, 7, 20)
    assert torch.allclose(out.view(14, 20), m(mel).view(14, 20), atol=1e-6)   # frames are independent
    with pytest.raises(ValueError, match="batch=3"):
        m(mel, batch=3, frames=7)
    with pytest.raises(ValueError, match=r"\(N, 1, 80, 16\)"):
        m(torch.randn(4, 80, 16))


def test_load_audio2lip_accepts_dicts_and_explains_mismatches(tmp_path):
    torch.manual_seed(0)
    tiny = Audio2Lip(PRESETS["tiny"])
    m = official.load_audio2lip({"audio2lip": tiny.state_dict()}, config=PRESETS["tiny"])
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), tiny.state_dict().values()))
    m = official.load_audio2lip({f"module.{k}": v for k, v in tiny.state_dict().items()}, config=PRESETS["tiny"])
    with pytest.raises(official.OfficialCheckpointError, match="(?s)shape mismatches.*Audio2Lip.pt fits"):
        official.load_audio2lip(tiny.state_dict())        # tiny weights into the full network
    with pytest.raises(official.OfficialCheckpointError, match="no 'audio2lip' entry"):
        official.load_audio2lip({"gen": tiny.state_dict(), "step": 3})
    with pytest.raises(FileNotFoundError, match="Get Audio2Lip.pt from"):
        official.load_audio2lip(tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(official.OfficialCheckpointError, match="truncated download"):
        official.load_audio2lip(tmp_path / "bad.pt")


# -- stage edtalk.audio2lip ----------------------------------------------------------------------
from dataclasses import replace                                             # noqa: E402
from pathlib import Path                                                    # noqa: E402

EDTALK = Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "edtalk_tiny.pt"


@pytest.fixture(scope="module")
def expert(tiny_dataset, tmp_path_factory):
    from talkinglib.train.syncnet import TRAIN_PRESETS, train_syncnet
    out = tmp_path_factory.mktemp("expert")
    train_syncnet(tiny_dataset, out, cfg=replace(TRAIN_PRESETS["tiny"], steps=1, batch_size=2), progress=False)
    return out / "syncnet.pt"


def test_stage_trains_only_audio2lip_through_the_frozen_generator(tiny_dataset, expert, tmp_path):
    """With L_fea off, only L_rec and L_sync (through G and SyncNet) can move the weights: they do,
    every Audio2Lip parameter moves, and the EDTalk checkpoint file is untouched."""
    from talkinglib.train import edtalk_audio2lip as L
    before = EDTALK.read_bytes()
    cfg = replace(L.TRAIN_PRESETS["tiny"], steps=2, batch_size=2, image_start=0, w_fea=0.0, log_every=1)
    torch.manual_seed(0)
    net, log = L.train_audio2lip(tiny_dataset, tmp_path, EDTALK, cfg=cfg, syncnet=expert, progress=False)
    torch.manual_seed(0)
    fresh = Audio2Lip(PRESETS["tiny"])
    moved = {k for k, v in net.named_parameters() if not torch.equal(v, dict(fresh.named_parameters())[k])}
    assert moved == {k for k, _ in fresh.named_parameters()}
    assert set(log.history) >= {"fea", "rec", "sync"} and EDTALK.read_bytes() == before


def test_stage_resumes_to_the_same_bytes_and_the_cli_runs_it(tiny_dataset, expert, tmp_path):
    from talkinglib import cli
    from talkinglib.train import edtalk_audio2lip as L
    cfg = replace(L.TRAIN_PRESETS["tiny"], steps=4, batch_size=2, image_start=2)
    a, _ = L.train_audio2lip(tiny_dataset, tmp_path / "a", EDTALK, cfg=cfg, syncnet=expert, progress=False)
    L.train_audio2lip(tiny_dataset, tmp_path / "b", EDTALK, cfg=cfg, syncnet=expert, stop_at=3, progress=False)
    b, _ = L.train_audio2lip(tiny_dataset, tmp_path / "b", EDTALK, cfg=cfg, syncnet=expert, progress=False)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    loaded, state = checkpoints.load_with_state(tmp_path / "b" / "audio2lip.pt", "edtalk.audio2lip")
    assert state["step"] == 4 and not loaded.training
    argv = ["train", "edtalk.audio2lip", "--data", str(tiny_dataset), "--out", str(tmp_path / "c"), "--steps", "2",
            "--init", str(EDTALK), "--syncnet", str(expert), "--set", "batch_size=2", "--set", "image_start=1"]
    assert cli.main(argv) == 0
    assert checkpoints.load_checkpoint(tmp_path / "c" / "audio2lip.pt")["step"] == 2
    with pytest.raises(InputError, match="--init"):
        cli.main(["--debug", *(argv[:8] + argv[10:])])


def test_lip_feature_and_mse_losses_on_hand_values():
    from talkinglib.losses.edtalk import lip_feature_loss, mse_reconstruction_loss
    w = torch.zeros(1, 2, 20)
    w_hat = torch.zeros(1, 2, 20)
    w_hat[0, 0, :2] = torch.tensor([3.0, 4.0])
    assert lip_feature_loss(w, w_hat).item() == pytest.approx(2.5)            # (5 + 0) / 2
    assert mse_reconstruction_loss(torch.zeros(1, 3, 2, 2), torch.full((1, 3, 2, 2), 0.5)).item() == 0.25
