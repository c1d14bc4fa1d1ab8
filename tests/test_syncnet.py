"""SyncNet: shapes, the official expert's layout and loader, the losses, the offset search, and
contrastive training on SynthTalk telling in-sync from shifted audio on held-out identities."""
import math
from dataclasses import replace

import pytest
import torch

from talkinglib import official
from talkinglib import checkpoints
from talkinglib.eval.sync import offset_distances, sync_scores
from talkinglib.models.syncnet import PRESETS, SyncNet, contrastive_sync_loss, info_nce_sync_loss, sync_loss


def test_shapes_colours_and_errors():
    torch.manual_seed(0)
    net = SyncNet(PRESETS["tiny"]).eval()
    clip = torch.rand(2, 5, 3, 64, 64) * 2 - 1
    x = net.face_input(clip)
    assert x.shape == (2, 15, 48, 96)
    bgr = net.face_input(clip, official_colours=True)
    assert bgr.min() >= 0 and bgr.max() <= 1
    assert torch.allclose(bgr[:, 0], (x[:, 2] + 1) / 2)              # channel 0 is blue now
    p = net.sync_probability(torch.randn(2, 1, 80, 16), clip)
    assert p.shape == (2,) and (p >= 0).all() and (p <= 1 + 1e-6).all()   # cosine of ReLU features
    with pytest.raises(ValueError, match=r"\(B, 5, 3, H, W\)"):
        net.face_input(clip[:, :4])
    with pytest.raises(ValueError, match=r"\(B, 1, 80, 16\)"):
        net.embed_audio(torch.randn(2, 80, 16))


def test_losses_on_hand_values():
    p = torch.tensor([1.0, 0.5, 0.25])
    assert sync_loss(p).item() == pytest.approx((0 + 0.6931472 + 1.3862944) / 3, rel=1e-5)     # −log S
    y = torch.tensor([1, 0, 0])
    assert contrastive_sync_loss(p, y).item() == pytest.approx((0 + 0.6931472 + 0.2876821) / 3, abs=1e-5)
    # K-way choice: S = (1, 0, 0) for the own window and two shifted ones: −log(e^10 / (e^10 + 2))
    S = torch.tensor([[1.0, 0.0, 0.0]])
    assert info_nce_sync_loss(S, scale=10).item() == pytest.approx(math.log1p(2 * math.exp(-10)), rel=1e-2)


def test_official_expert_layout_and_loader(tmp_path):
    """Wav2Lip's SyncNet_color names (face_encoder 17 blocks of which the first takes 15 channels,
    audio_encoder 14 blocks, 512-d embeddings); a checkpoint with its keys loads."""
    full = SyncNet(PRESETS["full"])
    sd = full.state_dict()
    assert sd["face_encoder.0.conv_block.0.weight"].shape == (32, 15, 7, 7)
    assert sd["face_encoder.16.conv_block.0.weight"].shape == (512, 512, 1, 1)
    assert sd["audio_encoder.13.conv_block.0.weight"].shape == (512, 512, 1, 1)
    assert max(int(k.split(".")[1]) for k in sd if k.startswith("face_encoder")) == 16
    torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}, "global_step": 1}, tmp_path / "e.pth")
    net = official.load_wav2lip_syncnet(tmp_path / "e.pth")
    key = "audio_encoder.0.conv_block.0.weight"
    assert not net.training and torch.equal(net.state_dict()[key], sd[key])
    with pytest.raises(official.OfficialCheckpointError, match="lipsync_expert.pth fits"):
        official.load_wav2lip_syncnet({"state_dict": SyncNet(PRESETS["tiny"]).state_dict()})
    with pytest.raises(FileNotFoundError, match="Expert Discriminator"):
        official.load_wav2lip_syncnet(tmp_path / "none.pth")


def test_offset_distances_find_a_known_shift():
    """Embeddings where face t matches audio t + 3: the minimum sits at δ = 3, with zero distance."""
    g = torch.Generator().manual_seed(0)
    s = torch.nn.functional.normalize(torch.randn(40, 16, generator=g), dim=1)
    v = s[2 + 3:2 + 3 + 30]                                          # centres 2..31 see audio t + 3
    D = offset_distances(v, s, max_offset=15, first=2)
    assert int(D.argmin()) - 15 == 3 and D.min().item() == pytest.approx(0.0, abs=1e-6)
    assert D.median() > 1.0                                          # unrelated unit vectors: ≈ √2 apart


def test_training_resumes_exactly(tiny_dataset, tmp_path):
    """2 steps, stop, resume to 4: the same bytes as 4 straight. (That the loss falls is checked on
    the committed run's curve below: the expert needs ~500 steps to leave chance, too long here.)"""
    from talkinglib.train.syncnet import TRAIN_PRESETS, train_syncnet
    cfg = replace(TRAIN_PRESETS["tiny"], batch_size=8)
    train_syncnet(tiny_dataset, tmp_path / "b", cfg=replace(cfg, steps=4), stop_at=2, progress=False)
    b, _ = train_syncnet(tiny_dataset, tmp_path / "b", cfg=replace(cfg, steps=4), progress=False)
    a, _ = train_syncnet(tiny_dataset, tmp_path / "c", cfg=replace(cfg, steps=4), progress=False)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert checkpoints.load_with_state(tmp_path / "b" / "syncnet.pt", "syncnet")[1]["step"] == 4


def test_committed_expert_hears_sync_on_held_out_identities(tiny_dataset):
    """data/checkpoints/syncnet_tiny.pt (2500 steps, the README's command): on test identities it
    prefers a face window's own audio to a shifted window of the same clip (measured 89 %), and
    finds a known delay of a real clip's audio."""
    from pathlib import Path
    from talkinglib.data.datasets import ClipMedia
    from talkinglib.data.sync_pairs import SyncPairs
    from talkinglib.eval.sync import pair_accuracy
    net, state = checkpoints.load_with_state(Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "syncnet_tiny.pt",
                                             "syncnet")
    assert state["step"] == 2500
    loss = [v for _, v in state["history"]["loss"]]
    assert min(loss[:2]) > 1.5 and max(loss[-3:]) < 1.0              # log 8 = 2.08 is chance
    acc = pair_accuracy(net, SyncPairs(tiny_dataset, "test"), n=256)
    print("committed syncnet on test identities:", acc)
    assert acc["ranking"] >= 0.85 and acc["p_sync"] > acc["p_off"] + 0.3
    media = ClipMedia(tiny_dataset, "test")
    frames, mel = media.frames(1), media.mel(1)
    for k in (0, 2, -3):
        assert sync_scores(net, frames, torch.roll(mel, k, 0))["offset"] == k
