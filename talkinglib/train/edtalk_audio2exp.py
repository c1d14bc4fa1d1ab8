"""Stage `edtalk.audio2exp`: expression weights from speech and transcript (E_S, E_T, MLP^e_A).

    talkinglib train edtalk.audio2exp --data DATA --out runs/a2e --init data/checkpoints/edtalk_tiny.pt

Implements: EDTalk §3.3 "Semantically-Aware Expression Generation", EDTalk Eq. 15 and
L_exp = ‖W^e − Ŵ^e‖₁, with W^e the frozen ELN's expression weights of the clip's frames (their
mean over the clip: one emotion per clip). Each sample: a random `seconds`-long crop of a
training clip's audio, its transcript, and EDTalk Eq. 15's modality mask. HuBERT's CNN feature encoder
stays frozen; its transformer blocks, E_T, the mask vectors and MLP^e_A train.
Checkpoints: {"config": {"stage", "model", "train", "init"}, "model", "optimizer", "step", ...}.
"""
from dataclasses import dataclass

import torch

from talkinglib.errors import InputError
from talkinglib.train import common
from talkinglib.train.edtalk_common import BankTargets, step_generator
from talkinglib.train.module_stage import ModuleStage, load_stage_checkpoint

STAGE = "edtalk.audio2exp"


@dataclass(frozen=True)
class Audio2ExpTrainConfig:
    steps: int = 600
    batch_size: int = 8
    lr: float = 1e-3
    seconds: float = 2.0             # audio crop per sample
    seed: int = 0
    log_every: int = 25
    ckpt_every: int = 250


TRAIN_PRESETS = {
    "tiny": Audio2ExpTrainConfig(),
    "full": Audio2ExpTrainConfig(steps=20_000, batch_size=16, lr=1e-5),    # fine-tuning pretrained encoders
}


def l1_expression_loss(w, w_hat):
    """L_exp = ‖W^e − Ŵ^e‖₁: the L1 norm per sample, mean over the batch. (B, 10) each."""
    return (w - w_hat).abs().sum(-1).mean()


class ExpressionClips:
    """(audio crop, transcript, clip-mean ELN weights W^e, emotion index) from one split."""

    def __init__(self, data_root, edtalk, split="train", device="cpu"):
        from talkinglib.data.datasets import ClipStore
        self.store = ClipStore(data_root, split)
        self.targets = BankTargets(edtalk, self.store, device=device)
        self.texts = [m["transcript"] for m in self.store.metas]
        self.emotion = torch.tensor([m["emotion_index"] for m in self.store.metas])

    def __len__(self):
        return len(self.store)

    def target(self, c):
        return self.targets[c]["expression"].mean(0)                  # W^e of the clip (10,)

    def audio(self, c):
        return torch.from_numpy(self.store.audio(c)).float()

    def sample(self, g, batch_size, seconds, sr=16000):
        n = int(seconds * sr)
        wavs, texts, ws, emo = [], [], [], []
        for _ in range(batch_size):
            c = int(torch.randint(len(self.store), (1,), generator=g))
            a = self.audio(c)
            if len(a) < n:
                raise ValueError(f"clip {self.store.names[c]} has {len(a) / sr:.2f} s of audio, less than "
                                 f"seconds={seconds}")
            s = int(torch.randint(len(a) - n + 1, (1,), generator=g))
            wavs.append(a[s:s + n])
            texts.append(self.texts[c])
            ws.append(self.target(c))
            emo.append(int(self.emotion[c]))
        return torch.stack(wavs), texts, torch.stack(ws), torch.tensor(emo)


def load_audio2exp(path):
    """(SemanticExpression in eval mode, checkpoint state) from an edtalk.audio2exp checkpoint."""
    from talkinglib.models.semantic_expression import SemanticExpression, SemanticExpressionConfig
    return load_stage_checkpoint(path, STAGE, SemanticExpression, SemanticExpressionConfig)


def train_audio2exp(data_root, out_dir, init, preset="tiny", cfg=None, model_cfg=None, resume=True, progress=True,
                    callback=None, stop_at=None, device=None):
    """Train (or resume) E_S, E_T and MLP^e_A on the ELN weights of the EDTalk `init`; writes
    out_dir/audio2exp.pt. Returns (the model in eval mode, the logger)."""
    from dataclasses import replace
    from talkinglib.models.semantic_expression import PRESETS, SemanticExpression
    from talkinglib.train.edtalk_common import _initial_model
    if init is None:
        raise InputError(f"{STAGE} learns the ELN weights of a trained EDTalk: pass --init (an edtalk.expression "
                         "checkpoint, or the official EDTalk.pt)")
    cfg = cfg or TRAIN_PRESETS[preset]
    run = ModuleStage(STAGE, out_dir, "audio2exp.pt", cfg, device)
    edtalk, _ = _initial_model(STAGE, preset, init, None)
    model_cfg = model_cfg or replace(PRESETS[preset], exp_dim=edtalk.cfg.exp_dim)
    model = SemanticExpression(model_cfg).to(run.device)
    run.attach(model, torch.optim.Adam(model.trainable_parameters(), lr=cfg.lr),
               {"model": common.config_to_dict(model_cfg), "train": common.config_to_dict(cfg), "init": str(init)},
               resume)
    data = ExpressionClips(data_root, edtalk, "train", device=run.device)
    last = run.begin(progress, stop_at)
    while run.step < last:
        g = step_generator(cfg.seed, run.step, run.rank)
        wav, texts, w, _ = data.sample(g, cfg.batch_size, cfg.seconds)
        mask_audio, mask_text = model.modality_mask(len(wav), g)      # EDTalk Eq. 15
        w_hat = model(wav.to(run.device), texts, mask_audio=mask_audio, mask_text=mask_text)
        loss = l1_expression_loss(w.to(run.device), w_hat)
        run.update(loss)
        run.end_step({"loss": loss}, callback)
    return run.close()


@torch.no_grad()
def emotion_from_weights(model, train, test, seconds=None):
    """Emotion accuracy of Ŵ^e on the test clips from audio only, text only and both.

    Ŵ^e is named by the nearest emotion centroid of the training clips' W^e (the frozen ELN's
    clip-mean weights); the same classifier on the test clips' own W^e is the ceiling ("video").
    Returns {"both", "audio", "text", "video": accuracy, "chance": 1/8, "n": clips}."""
    model.eval()
    W = torch.stack([train.target(c) for c in range(len(train))])
    cent = torch.stack([W[train.emotion == e].mean(0) for e in range(8)])          # (8, 10)
    name = lambda w: torch.cdist(w, cent).argmin(1)                                  # noqa: E731
    wavs = [test.audio(c) for c in range(len(test))]
    if seconds is not None:
        wavs = [a[:int(seconds * 16000)] for a in wavs]
    n = min(len(a) for a in wavs)                                                   # a batch: crop to the shortest
    wav = torch.stack([a[:n] for a in wavs])
    y = test.emotion
    out = {}
    for mode, kw in (("both", dict(wav=wav, texts=test.texts)), ("audio", dict(wav=wav)),
                     ("text", dict(texts=test.texts))):
        w_hat = torch.cat([model(**{k: (v[i:i + 16]) for k, v in kw.items()}) for i in range(0, len(y), 16)])
        out[mode] = float((name(w_hat) == y).float().mean())
    out["video"] = float((name(torch.stack([test.target(c) for c in range(len(test))])) == y).float().mean())
    out.update(chance=1 / 8, n=len(y))
    return out
