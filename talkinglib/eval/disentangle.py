"""Disentanglement, measured: what the papers could only show, scored with SynthTalk's factor probe.

- `mouth_swap`: animate a neutral source with the mouth of one frame and the pose of another
  (drivers from any clip of the same identity, so they carry other expressions too). The output's
  jaw should follow the mouth driver, its pose the pose driver, its emotion stay the source's.
- `self_reconstruction`: the same with mouth and pose from one frame: the ceiling for E and G.
- `copy_error`: the driving frame is the source itself; mean |Î − I| on [0, 1] images (a sharp G
  gives the source back; a blurred one cannot).
- `expression_transfer`: animate a neutral source with the expression of a K-frame window of an
  emotional clip; the probe's emotion of the output should be the window's emotion.
- `crosstalk`: vary one driver over many frames with the others fixed; how much do the factors
  that driver should not touch move? (std of the probe's reading over the variation, divided by
  that factor's std over the data: 0 = perfectly disentangled, ~1 = as much as a new frame would.)
Everything runs on a split's identities (the test split by default: unseen in training).
"""
from dataclasses import dataclass

import numpy as np
import torch

from talkinglib.constants import EMOTIONS
from talkinglib.data.datasets import ClipStore, frame_factors, to_tensor_images
from talkinglib.eval.factors import r2_score


@dataclass(frozen=True)
class DisentangleConfig:
    n: int = 192                 # samples per measurement
    window: int = 5              # K frames for the expression driver
    variations: int = 8          # crosstalk: driver frames per fixed configuration
    batch_size: int = 32
    seed: int = 0


class _Split:
    """Frames and factors of one split, by identity and emotion."""

    def __init__(self, root, split):
        self.store = ClipStore(root, split)
        self.factors = [frame_factors(m) for m in self.store.metas]
        self.emotion = [m["emotion"] for m in self.store.metas]
        ids = sorted(set(m["identity"] for m in self.store.metas))
        self.clips_of = {i: [c for c, m in enumerate(self.store.metas) if m["identity"] == i] for i in ids}
        self.identities = ids

    def neutral(self, ident):
        return [c for c in self.clips_of[ident] if self.emotion[c] == "neutral"]

    def emotional(self, ident):
        return [c for c in self.clips_of[ident] if self.emotion[c] != "neutral"]

    def frame(self, c, t):
        return self.store.frames(c)[t]


@torch.no_grad()
def _batched(fn, n, batch_size):
    outs = [fn(slice(i, min(n, i + batch_size))) for i in range(0, n, batch_size)]
    return torch.cat(outs)


@torch.no_grad()
def mouth_swap(model, probe, root, split="test", cfg=DisentangleConfig(), same_driver=False):
    """{"mouth_r2", "pose_r2", "expression_kept", ...} over cfg.n (source, mouth, pose) triples.
    same_driver=True takes mouth and pose from one frame: self-reconstruction of that frame from
    the source, the ceiling a swap can reach with this E and G (see `self_reconstruction`)."""
    data, rng = _Split(root, split), np.random.default_rng([cfg.seed, 1])
    src, mth, pse, jaw_true, pose_true = [], [], [], [], []
    for _ in range(cfg.n):
        ident = data.identities[rng.integers(len(data.identities))]
        cs = data.neutral(ident)[rng.integers(len(data.neutral(ident)))]
        cm, cp = (data.clips_of[ident][rng.integers(len(data.clips_of[ident]))] for _ in range(2))
        ts, tm, tp = (int(rng.integers(len(data.factors[c]["mouth"]))) for c in (cs, cm, cp))
        if same_driver:
            cp, tp = cm, tm
        src.append(data.frame(cs, ts)), mth.append(data.frame(cm, tm)), pse.append(data.frame(cp, tp))
        jaw_true.append(data.factors[cm]["mouth"][tm]), pose_true.append(data.factors[cp]["pose"][tp])
    src, mth, pse = (to_tensor_images(np.stack(x)) for x in (src, mth, pse))
    out = _batched(lambda s: model.animate(src[s], mouth=mth[s], pose=pse[s]), cfg.n, cfg.batch_size)
    r = probe(out)
    r_m = probe(mth)
    jaw_true, pose_true = np.stack(jaw_true)[:, 0], np.stack(pose_true)
    neutral = EMOTIONS.index("neutral")
    return {"mouth_r2": float(r2_score(jaw_true, r["mouth"][:, 0].numpy())[0]),
            "mouth_r2_vs_probe_of_driver": float(r2_score(r_m["mouth"][:, 0].numpy(), r["mouth"][:, 0].numpy())[0]),
            "pose_r2": float(r2_score(pose_true, r["pose"].numpy()).mean()),
            "expression_kept": float((r["emotion"].argmax(1) == neutral).float().mean()),
            "images": (src[:8], mth[:8], pse[:8], out[:8])}


def self_reconstruction(model, probe, root, split="test", cfg=DisentangleConfig()):
    """mouth_swap with mouth and pose from the same driving frame: can the probe read the jaw and
    the pose of G's output at all? An upper bound for the swap scores of the same E and G."""
    return mouth_swap(model, probe, root, split, cfg, same_driver=True)


@torch.no_grad()
def copy_error(model, root, split="test", cfg=DisentangleConfig()):
    """Mean |Î − I| on images in [0, 1] over cfg.n frames (any clip of the split) animated with their
    own mouth and pose: Î = G(f^{s→r} + f^{r→m}_s + f^{r→p}_s, f^{id}_s). Outputs are clamped to
    [-1, 1] first, as a video writer would."""
    data, rng = _Split(root, split), np.random.default_rng([cfg.seed, 4])
    frames = []
    for _ in range(cfg.n):
        c = int(rng.integers(len(data.factors)))
        frames.append(data.frame(c, int(rng.integers(len(data.factors[c]["mouth"])))))
    x = to_tensor_images(np.stack(frames))
    out = _batched(lambda s: model.animate(x[s], mouth=x[s], pose=x[s]), cfg.n, cfg.batch_size)
    return float((out.clamp(-1, 1) - x).abs().mean()) / 2


@torch.no_grad()
def expression_transfer(model, probe, root, split="test", cfg=DisentangleConfig()):
    """{"emotion_acc", "confusion" (8, 8)}: source neutral, expression from a window of an emotional clip."""
    data, rng = _Split(root, split), np.random.default_rng([cfg.seed, 2])
    src, win, label = [], [], []
    for _ in range(cfg.n):
        ident = data.identities[rng.integers(len(data.identities))]
        cs = data.neutral(ident)[rng.integers(len(data.neutral(ident)))]
        ce = data.clips_of[ident][rng.integers(len(data.clips_of[ident]))]     # any emotion, neutral included
        frames = data.store.frames(ce)
        t0 = int(rng.integers(len(frames) - cfg.window + 1))
        src.append(data.frame(cs, int(rng.integers(len(data.store.frames(cs))))))
        win.append(frames[t0:t0 + cfg.window])
        label.append(EMOTIONS.index(data.emotion[ce]))
    src, win = to_tensor_images(np.stack(src)), to_tensor_images(np.stack(win))
    out = _batched(lambda s: model.animate(src[s], expression_weights=model.expression_weights(win[s])),
                   cfg.n, cfg.batch_size)
    pred = probe(out)["emotion"].argmax(1).numpy()
    label = np.asarray(label)
    confusion = np.zeros((len(EMOTIONS), len(EMOTIONS)), int)
    np.add.at(confusion, (label, pred), 1)
    return {"emotion_acc": float((pred == label).mean()), "confusion": confusion,
            "images": (src[:8], win[:8, cfg.window // 2], out[:8])}


@torch.no_grad()
def crosstalk(model, probe, root, split="test", cfg=DisentangleConfig()):
    """{"mouth->pose", "mouth->expression", "pose->mouth", "pose->expression", "expression->mouth",
    "expression->pose", "mean"}: normalised movement of factors a driver should not touch ("mean" is
    over these six). The diagonal, "mouth->mouth" etc., is how much the varied factor itself moves:
    a driver that moves nothing has no cross-talk either."""
    data, rng = _Split(root, split), np.random.default_rng([cfg.seed, 3])
    all_f = {k: np.concatenate([f[k] for f in data.factors]) for k in ("mouth", "pose", "expression")}
    scale = {"mouth": all_f["mouth"][:, :1].std(0), "pose": all_f["pose"].std(0),
             "expression": np.maximum(all_f["expression"].std(0), 1e-3)}
    reading = {"mouth": lambda r: r["mouth"][:, :1], "pose": lambda r: r["pose"], "expression": lambda r: r["expression"]}
    groups = max(1, cfg.n // cfg.variations)
    moved = {}
    for varied in ("mouth", "pose", "expression"):
        stds = {k: [] for k in reading}
        for _ in range(groups):
            ident = data.identities[rng.integers(len(data.identities))]
            cs = data.neutral(ident)[rng.integers(len(data.neutral(ident)))]
            pick = lambda: data.clips_of[ident][rng.integers(len(data.clips_of[ident]))]
            fr = lambda c: data.frame(c, int(rng.integers(len(data.factors[c]["mouth"]))))
            fixed = {k: fr(pick()) for k in ("source", "mouth", "pose")}
            drivers = {k: np.stack([fixed[k]] * cfg.variations) for k in ("mouth", "pose")}
            if varied in ("mouth", "pose"):
                drivers[varied] = np.stack([fr(pick()) for _ in range(cfg.variations)])
                w_e = None
            windows = []
            ce = pick() if varied != "expression" else None
            for v in range(cfg.variations):
                c = pick() if varied == "expression" else ce
                t0 = int(rng.integers(len(data.factors[c]["mouth"]) - cfg.window + 1))
                windows.append(data.store.frames(c)[t0:t0 + cfg.window])
            w_e = model.expression_weights(to_tensor_images(np.stack(windows)))
            src = to_tensor_images(np.stack([fixed["source"]] * cfg.variations))
            out = model.animate(src, mouth=to_tensor_images(drivers["mouth"]), pose=to_tensor_images(drivers["pose"]),
                                expression_weights=w_e)
            r = probe(out)
            for k in stds:
                stds[k].append(reading[k](r).numpy().std(0) / scale[k])
        for k, v in stds.items():
            moved[f"{varied}->{k}"] = float(np.mean(v))
    moved["mean"] = float(np.mean([v for k, v in moved.items() if k.split("->")[0] != k.split("->")[1]]))
    return moved


FACTORS = ("mouth", "pose", "expression")


def crosstalk_matrix(moved):
    """The crosstalk dict as a 3×3 array: row = the varied driver, column = the factor read."""
    return np.array([[moved[f"{a}->{b}"] for b in FACTORS] for a in FACTORS])


def disentanglement_scores(model, probe, root, split="test", cfg=DisentangleConfig()):
    """The first-class disentanglement metrics: mouth and pose transfer R², the self-reenactment
    ceiling (mouth and pose from one frame), the copy error (driver = source), expression transfer
    accuracy, and the cross-talk matrix (`crosstalk_matrix`) with its off-diagonal mean."""
    swap = mouth_swap(model, probe, root, split, cfg)
    ceiling = self_reconstruction(model, probe, root, split, cfg)
    expr = expression_transfer(model, probe, root, split, cfg)
    moved = crosstalk(model, probe, root, split, cfg)
    return {"mouth_r2": swap["mouth_r2"], "pose_r2": swap["pose_r2"],
            "self_mouth_r2": ceiling["mouth_r2"], "self_pose_r2": ceiling["pose_r2"],
            "copy_l1": copy_error(model, root, split, cfg), "expression_acc": expr["emotion_acc"],
            "crosstalk": moved["mean"], "crosstalk_matrix": crosstalk_matrix(moved).tolist()}


def ridge_readout(X_train, y_train, X_test, y_test, lam=30.0):
    """R² per target column on the test rows of a ridge regression fitted on the train rows
    (features standardised on the train rows, a bias, penalty lam). (N, F), (N, k) -> (k,)."""
    X_train, X_test = np.asarray(X_train, np.float64), np.asarray(X_test, np.float64)
    mu, sd = X_train.mean(0), X_train.std(0) + 1e-6
    A_tr = np.c_[(X_train - mu) / sd, np.ones(len(X_train))]
    A_te = np.c_[(X_test - mu) / sd, np.ones(len(X_test))]
    reg = lam * np.eye(A_tr.shape[1])
    reg[-1, -1] = 0.0                                                   # the bias is not penalised
    coef = np.linalg.solve(A_tr.T @ A_tr + reg, A_tr.T @ np.asarray(y_train, np.float64))
    return r2_score(y_test, A_te @ coef)


@torch.no_grad()
def latent_readout(model, root, max_clips=48, lam=30.0):
    """Where the motion lives, read linearly: jaw opening and yaw/pitch/roll from E's latent f^{*→r},
    from W^m (MLN) and from W^p (PLN), fitted on training clips, scored (R²) on test identities.
    A factor that no linear read-out of the latent recovers cannot be driven through the banks."""
    def collect(split):
        store = ClipStore(root, split)
        parts = {k: [] for k in ("latent", "mouth", "pose", "jaw", "angles")}
        for c in range(min(max_clips, len(store))):
            frames = to_tensor_images(store.frames(c))
            lat = model.encode(frames).latent
            w = model.navigate(lat, ("mouth", "pose"))
            f = frame_factors(store.metas[c])
            for k, v in (("latent", lat), ("mouth", w["mouth"]), ("pose", w["pose"])):
                parts[k].append(v.numpy())
            parts["jaw"].append(f["mouth"][:, :1])
            parts["angles"].append(f["pose"][:, :3])
        return {k: np.concatenate(v) for k, v in parts.items()}
    tr, te = collect("train"), collect("test")
    out = {}
    for src in ("latent", "mouth", "pose"):
        out[f"jaw_from_{src}"] = float(ridge_readout(tr[src], tr["jaw"], te[src], te["jaw"], lam)[0])
        r2 = ridge_readout(tr[src], tr["angles"], te[src], te["angles"], lam)
        out.update({f"{a}_from_{src}": float(v) for a, v in zip(("yaw", "pitch", "roll"), r2)})
    return out
