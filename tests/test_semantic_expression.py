"""Semantics-aware expression (EDTalk Eq. 15): the frozen CNN, modality masking, the registry path
for the real HuBERT/EmoBERTa (exercised offline on tiny weights saved here), and the stage."""
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from talkinglib import checkpoints
from talkinglib.models.semantic_expression import PRESETS, SemanticExpression, WordTokenizer

EDTALK = Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "edtalk_tiny.pt"
TINY = replace(PRESETS["tiny"], mlp_hidden=32)


def _model(seed=0, cfg=TINY):
    torch.manual_seed(seed)
    return SemanticExpression(cfg)


def test_modality_mask_follows_eq15_ranges():
    m = _model()
    audio, text = m.modality_mask(20_000, torch.Generator().manual_seed(0))
    assert not (audio & text).any()                                   # never both masked
    assert abs(audio.float().mean() - 0.25) < 0.01 and abs(text.float().mean() - 0.25) < 0.01


def test_masking_replaces_a_modality_and_single_modalities_work():
    m = _model().eval()
    g = torch.Generator().manual_seed(1)
    wav = torch.randn(3, 16000, generator=g)
    texts = ["padetir modom lubu", "homo tapek", "lubu lubu"]
    both = m(wav, texts)
    assert both.shape == (3, 10)
    masked = m(wav, texts, mask_audio=torch.tensor([True, False, False]))
    assert torch.allclose(masked[0], m(None, texts[:1])[0], atol=1e-6)          # masked audio = no audio
    assert torch.allclose(masked[1:], both[1:], atol=1e-6)
    masked = m(wav, texts, mask_text=torch.tensor([False, False, True]))
    assert torch.allclose(masked[2], m(wav[2:], None)[0], atol=1e-6)             # masked text = no text
    assert not torch.allclose(m(wav, None), m(None, texts))                       # each modality matters
    with pytest.raises(ValueError, match="speech .* transcript"):
        m(None, None)
    with pytest.raises(ValueError, match=r"\(B, N\)"):
        m(torch.randn(16000), None)


def test_tokenizer_frames_words_like_roberta():
    tok = WordTokenizer()
    out = tok(["padetir modom", "qqqq"])
    ids, mask = out["input_ids"], out["attention_mask"]
    assert ids[:, 0].tolist() == [0, 0] and ids[0, 3] == 2 and ids[1, 1] == tok.vocab["<unk>"]
    assert mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]] and ids[1, 3] == tok.vocab["<pad>"]


def test_full_preset_loads_local_snapshots_and_says_what_is_missing(tmp_path, monkeypatch):
    """The `full` code path (registry -> from_pretrained) on tiny HuBERT/RoBERTa weights saved here;
    offline, a missing snapshot names the file and where it goes."""
    from talkinglib import weights as W
    from talkinglib.models.semantic_expression import _tiny_hubert, _tiny_roberta
    monkeypatch.setenv("TALKINGLIB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    cfg = replace(PRESETS["full"], mlp_hidden=16)
    with pytest.raises(W.WeightsNotFoundError, match="hubert-large-ls960-ft"):
        SemanticExpression(cfg)
    torch.manual_seed(0)
    speech = _tiny_hubert(TINY)
    speech.save_pretrained(tmp_path / "home" / "hubert-large-ls960-ft")
    # a byte-level BPE tokenizer with single characters only, written as the real repo writes it
    chars = ["Ġ"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = {t: i for i, t in enumerate(["<s>", "<pad>", "</s>", "<unk>", "<mask>"] + chars)}
    text_dir = tmp_path / "home" / "emoberta-base"
    text_dir.mkdir(parents=True)
    (text_dir / "vocab.json").write_text(json.dumps(vocab))
    (text_dir / "merges.txt").write_text("#version: 0.2\n")
    from transformers import RobertaTokenizer
    RobertaTokenizer(str(text_dir / "vocab.json"), str(text_dir / "merges.txt")).save_pretrained(text_dir)
    text = _tiny_roberta(replace(TINY, max_words=60), len(vocab))
    text.save_pretrained(text_dir)
    m = SemanticExpression(cfg).eval()
    for (k, a), b in zip(speech.state_dict().items(), m.speech.state_dict().values()):
        assert torch.equal(a, b), k
    assert not any(p.requires_grad for p in m.speech.feature_extractor.parameters())
    assert all(p.requires_grad for p in m.speech.encoder.parameters())
    out = m(torch.randn(2, 8000), ["padetir modom", "homo"])
    assert out.shape == (2, 10)


def test_l1_expression_loss_on_hand_values():
    from talkinglib.train.edtalk_audio2exp import l1_expression_loss
    w = torch.zeros(2, 10)
    w_hat = torch.zeros(2, 10)
    w_hat[0, :3] = torch.tensor([1.0, -2.0, 0.5])
    assert l1_expression_loss(w, w_hat).item() == pytest.approx(3.5 / 2)


def test_stage_freezes_the_cnn_resumes_exactly_and_runs_from_the_cli(tiny_dataset, tmp_path):
    from talkinglib import cli
    from talkinglib.train import edtalk_audio2exp as E
    cfg = replace(E.TRAIN_PRESETS["tiny"], steps=4, batch_size=2, seconds=0.5)
    a, _ = E.train_audio2exp(tiny_dataset, tmp_path / "a", EDTALK, cfg=cfg, model_cfg=TINY, progress=False)
    E.train_audio2exp(tiny_dataset, tmp_path / "b", EDTALK, cfg=cfg, model_cfg=TINY, stop_at=2, progress=False)
    mid = checkpoints.load_checkpoint(tmp_path / "b" / "audio2exp.pt")["model"]
    b, _ = E.train_audio2exp(tiny_dataset, tmp_path / "b", EDTALK, cfg=cfg, model_cfg=TINY, progress=False)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k                                  # resumed = straight, bit for bit
    # steps 3-4 move E_S's transformer, E_T and MLP^e_A, and never the CNN feature encoder
    moved = {n for n, p in b.named_parameters() if not torch.equal(p, mid[n])}
    assert not any(n.startswith("speech.feature_extractor.") for n in moved)
    assert any(n.startswith("speech.encoder.") for n in moved) and any(n.startswith("text.") for n in moved)
    assert any(n.startswith("mlp.") for n in moved)
    m, state = checkpoints.load_with_state(tmp_path / "b" / "audio2exp.pt", "edtalk.audio2exp")
    assert state["step"] == 4 and not m.training
    argv = ["train", "edtalk.audio2exp", "--data", str(tiny_dataset), "--out", str(tmp_path / "c"), "--steps", "2",
            "--init", str(EDTALK), "--set", "batch_size=2", "--set", "seconds=0.5"]
    assert cli.main(argv) == 0
    assert checkpoints.load_checkpoint(tmp_path / "c" / "audio2exp.pt")["step"] == 2
