"""Semantics-aware expression: Ŵ^e from speech (E_S, HuBERT) and transcript (E_T, EmoBERTa).

Implements: EDTalk §3.3 "Semantically-Aware Expression Generation", EDTalk Eq. 15. E_S is HuBERT
(a CNN feature encoder, frozen, then transformer blocks, fine-tuned); E_T is EmoBERTa (RoBERTa).
Their utterance embeddings (mean over HuBERT frames; RoBERTa's first token) are concatenated and
MLP^e_A maps them to the expression weights. In training a modality is masked with p ~ U(0, 1):
    0.5 ≤ p ≤ 1     MLP(E_S(a), E_T(T))          both
    0.25 ≤ p < 0.5  MLP(M(E_S(a)), E_T(T))       audio masked
    0 ≤ p < 0.25    MLP(E_S(a), M(E_T(T)))       text masked
where M replaces the embedding with a learned mask vector (as HuBERT masks frames), so at
inference either modality alone works: pass wav=None or texts=None.

    m = SemanticExpression(PRESETS["tiny"])          # tiny HuBERT / RoBERTa configs, offline
    w_e = m(wav, texts)                              # wav (B, N) 16 kHz, texts list of B str -> (B, 10)
    m = SemanticExpression(PRESETS["full"])          # facebook/hubert-large-ls960-ft, tae898/emoberta-base
                                                     # from the local cache (talkinglib.weights)

At `tiny` the text side uses a word-level tokenizer over SynthTalk's vocabulary (synth/text.py);
at `full` the checkpoint's own tokenizer.
"""
from dataclasses import dataclass

import torch
import torch.nn as nn


@dataclass(frozen=True)
class SemanticExpressionConfig:
    exp_dim: int = 10                    # the expression bank's K
    speech_weights: str | None = "hubert"    # registry entry to load E_S from; None: build from the sizes below
    text_weights: str | None = "emoberta"    # registry entry to load E_T from; None: build from the sizes below
    speech_hidden: int = 64              # built configs only (tiny)
    speech_layers: int = 2
    speech_heads: int = 2
    speech_conv: int = 32                # channels of every CNN feature-encoder layer
    text_hidden: int = 64
    text_layers: int = 2
    text_heads: int = 2
    max_words: int = 32
    mlp_hidden: int = 256
    p_text_masked: float = 0.25          # EDTalk Eq. 15: p < 0.25 masks the text
    p_audio_masked: float = 0.5          # EDTalk Eq. 15: 0.25 <= p < 0.5 masks the audio


PRESETS = {
    "tiny": SemanticExpressionConfig(speech_weights=None, text_weights=None),
    "full": SemanticExpressionConfig(mlp_hidden=512),
}

SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")         # RoBERTa's order: bos 0, pad 1, eos 2, unk 3


class WordTokenizer:
    """Word-level ids over SynthTalk's vocabulary, framed like RoBERTa: <s> words </s> <pad>..."""

    def __init__(self, max_words=32):
        from talkinglib.synth.text import EMOTION_WORDS, FILLER_WORDS
        words = sorted(set(FILLER_WORDS) | {w for ws in EMOTION_WORDS.values() for w in ws})
        self.vocab = {t: i for i, t in enumerate(SPECIALS + tuple(words))}
        self.max_words = max_words

    def __len__(self):
        return len(self.vocab)

    def __call__(self, texts):
        unk = self.vocab["<unk>"]
        rows = [[0] + [self.vocab.get(w, unk) for w in t.lower().split()][:self.max_words] + [2] for t in texts]
        L = max(len(r) for r in rows)
        ids = torch.full((len(rows), L), self.vocab["<pad>"], dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = torch.tensor(r)
        return {"input_ids": ids, "attention_mask": (ids != self.vocab["<pad>"]).long()}


def _tiny_hubert(cfg):
    from transformers import HubertConfig, HubertModel
    c = HubertConfig(hidden_size=cfg.speech_hidden, num_hidden_layers=cfg.speech_layers,
                     num_attention_heads=cfg.speech_heads, intermediate_size=2 * cfg.speech_hidden,
                     conv_dim=(cfg.speech_conv,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
                     hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0,
                     layerdrop=0.0, mask_time_prob=0.0)
    return HubertModel(c)


def _tiny_roberta(cfg, vocab_size):
    from transformers import RobertaConfig, RobertaModel
    c = RobertaConfig(vocab_size=vocab_size, hidden_size=cfg.text_hidden, num_hidden_layers=cfg.text_layers,
                      num_attention_heads=cfg.text_heads, intermediate_size=2 * cfg.text_hidden,
                      max_position_embeddings=cfg.max_words + 4, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                      hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return RobertaModel(c, add_pooling_layer=False)


def _pretrained(kind, name):
    from talkinglib import weights
    path = weights.resolve(name)          # raises, naming where to get it, when it is not on disk
    if kind == "speech":
        from transformers import HubertModel
        return HubertModel.from_pretrained(path), None
    from transformers import AutoTokenizer, RobertaModel
    return RobertaModel.from_pretrained(path, add_pooling_layer=False), AutoTokenizer.from_pretrained(path)


class SemanticExpression(nn.Module):
    def __init__(self, cfg: SemanticExpressionConfig = SemanticExpressionConfig()):
        super().__init__()
        self.cfg = cfg
        if cfg.speech_weights:
            self.speech, _ = _pretrained("speech", cfg.speech_weights)
        else:
            self.speech = _tiny_hubert(cfg)
        if cfg.text_weights:
            self.text, self.tokenizer = _pretrained("text", cfg.text_weights)
        else:
            self.tokenizer = WordTokenizer(cfg.max_words)
            self.text = _tiny_roberta(cfg, len(self.tokenizer))
        self.speech.feature_extractor.requires_grad_(False)        # "We freeze the CNN-based feature encoder"
        hs, ht = self.speech.config.hidden_size, self.text.config.hidden_size
        self.audio_mask = nn.Parameter(torch.zeros(hs))               # M(E_S(a))
        self.text_mask = nn.Parameter(torch.zeros(ht))                # M(E_T(T))
        self.mlp = nn.Sequential(nn.Linear(hs + ht, cfg.mlp_hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(cfg.mlp_hidden, cfg.exp_dim))                 # MLP^e_A

    def trainable_parameters(self):
        """Everything but the frozen CNN feature encoder."""
        return [p for p in self.parameters() if p.requires_grad]

    def embed_speech(self, wav):
        """E_S: 16 kHz (B, N) -> (B, Hs), the mean of HuBERT's last hidden states (utterance-normalised input)."""
        if wav.dim() != 2:
            raise ValueError(f"E_S expects a batch of 16 kHz waveforms (B, N); got {tuple(wav.shape)}")
        if wav.shape[1] < 400:
            raise ValueError(f"E_S needs at least 400 samples (25 ms at 16 kHz); got {wav.shape[1]}")
        x = (wav - wav.mean(1, keepdim=True)) / (wav.std(1, keepdim=True) + 1e-7)
        return self.speech(input_values=x).last_hidden_state.mean(1)

    def embed_text(self, texts):
        """E_T: B transcripts -> (B, Ht), the first token's last hidden state."""
        tok = self.tokenizer(list(texts), return_tensors="pt", padding=True, truncation=True) \
            if not isinstance(self.tokenizer, WordTokenizer) else self.tokenizer(texts)
        dev = self.audio_mask.device
        out = self.text(input_ids=tok["input_ids"].to(dev), attention_mask=tok["attention_mask"].to(dev))
        return out.last_hidden_state[:, 0]

    def modality_mask(self, batch, generator=None):
        """EDTalk Eq. 15's draw, per sample: (mask_audio, mask_text) booleans (B,)."""
        p = torch.rand(batch, generator=generator)
        return (p >= self.cfg.p_text_masked) & (p < self.cfg.p_audio_masked), p < self.cfg.p_text_masked

    def forward(self, wav=None, texts=None, mask_audio=None, mask_text=None):
        """Ŵ^e (B, exp_dim) from speech and/or text; a missing modality is masked. mask_*: (B,) booleans
        (training passes modality_mask's draw)."""
        if wav is None and texts is None:
            raise ValueError("give speech (wav), a transcript (texts), or both")
        B = len(wav) if wav is not None else len(texts)
        hs = self.embed_speech(wav) if wav is not None else self.audio_mask.expand(B, -1)
        ht = self.embed_text(texts) if texts is not None else self.text_mask.expand(B, -1)
        if mask_audio is not None:
            hs = torch.where(mask_audio.to(hs.device)[:, None], self.audio_mask.expand_as(hs), hs)
        if mask_text is not None:
            ht = torch.where(mask_text.to(ht.device)[:, None], self.text_mask.expand_as(ht), ht)
        return self.mlp(torch.cat([hs, ht], dim=-1))
