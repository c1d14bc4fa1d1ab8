"""RETA's training data: clip segments (audio, frames, mel windows; never a label), the further
voices of the distillation phase, and the frozen teacher's targets for them.

- `RETAClips`: segments of clip_frames frames; `audio_batch` for distillation, `batch` end to end.
- `DistillClips` / `distillation_clips`: the training split plus a further folder's clips.
- `TeacherTargets`: f_V and the teacher's logits per frame, cached or computed per batch.
- `CodeTargets`: a frozen EDTalk's mouth and expression features per frame, cached (ours, not RETA's).

Used by the `reta` stage (train/reta.py); tests/test_reta_training.py trains with every label
field made unreadable.
"""
import json
from pathlib import Path

import torch

from talkinglib.constants import SAMPLES_PER_FRAME
from talkinglib.data.datasets import ClipMedia
from talkinglib.errors import InputError



class RETAClips(ClipMedia):
    """Clip segments for RETA: audio, frames and mel windows; never a label."""

    def __init__(self, root, split="train", clip_frames=75, window=5):
        super().__init__(root, split)
        self.clip_frames, self.window = clip_frames, window
        short = [c for c in range(len(self)) if self.num_frames(c) < clip_frames]
        if short:
            raise ValueError(f"{len(short)} clips of {root} are shorter than clip_frames={clip_frames} "
                             f"(e.g. {self.store.names[short[0]]}); lower clip_frames")

    def _segment(self, g, c):
        T = self.num_frames(c)
        s0 = int(torch.randint(T - self.clip_frames + 1, (1,), generator=g))
        wav = self.audio(c)                                                   # read once per clip, kept
        a = wav[s0 * SAMPLES_PER_FRAME:(s0 + self.clip_frames) * SAMPLES_PER_FRAME]
        if len(a) < self.clip_frames * SAMPLES_PER_FRAME:
            a = torch.nn.functional.pad(a, (0, self.clip_frames * SAMPLES_PER_FRAME - len(a)))
        return s0, a

    def audio_batch(self, g, batch_size):
        """Distillation: {"clip" (B,), "start" (B,), "wav" (B, N)}: clip segments of clip_frames frames."""
        clips, starts, wavs = [], [], []
        for _ in range(batch_size):
            c = int(torch.randint(len(self), (1,), generator=g))
            s0, a = self._segment(g, c)
            clips.append(c), starts.append(s0), wavs.append(a)
        return {"clip": torch.tensor(clips), "start": torch.tensor(starts), "wav": torch.stack(wavs)}

    def batch(self, g, batch_size):
        """End to end: audio_batch's fields plus "identity" (B, 3, S, S) (a random frame of the clip),
        "offset" (B,) the window's first frame within the segment, "real" (B, K, 3, S, S) and
        "mel" (B, 1, 80, 16) the window centre's audio for SyncNet."""
        out = self.audio_batch(g, batch_size)
        ident, offs, real, mel = [], [], [], []
        for c, s0 in zip(out["clip"].tolist(), out["start"].tolist()):
            o = int(torch.randint(self.clip_frames - self.window + 1, (1,), generator=g))
            t_id = int(torch.randint(self.num_frames(c), (1,), generator=g))
            ident.append(self.frames(c, slice(t_id, t_id + 1))[0])
            real.append(self.frames(c, slice(s0 + o, s0 + o + self.window)))
            mel.append(self.mel(c)[s0 + o + self.window // 2])
            offs.append(o)
        return {**out, "identity": torch.stack(ident), "offset": torch.tensor(offs), "real": torch.stack(real),
                "mel": torch.stack(mel)}


class DistillClips(RETAClips):
    """Phase 1's clips: the training split's, then every clip of a further folder's "train" split.
    Clip indices 0 .. len(train) − 1 are the training split's own; like RETAClips, no label is read."""

    def __init__(self, train: RETAClips, extra: RETAClips):
        self.parts, self.clip_frames, self.window = (train, extra), train.clip_frames, train.window
        self._index = [(p, c) for p in self.parts for c in range(len(p))]

    def __len__(self):
        return len(self._index)

    def num_frames(self, c):
        p, k = self._index[c]
        return p.num_frames(k)

    def audio(self, c):
        p, k = self._index[c]
        return p.audio(k)

    def frames(self, c, index=slice(None)):
        p, k = self._index[c]
        return p.frames(k, index)


def distillation_clips(data: RETAClips, data_root, extra_root):
    """`data`, or DistillClips(data, the clips of extra_root) when extra_root is given. A SynthTalk
    folder made with the training data's own seed is refused: its identities are the same people,
    test speakers included (SynthTalk draws identity k from the seed alone)."""
    if not extra_root:
        return data
    if not (Path(extra_root) / "splits.json").is_file():
        raise InputError(f"distill_data={extra_root} is not a clip folder (no splits.json): make one with "
                         "`talkinglib synth --seed S ...` (another seed than the training data's) or `talkinglib prepare`")
    seeds = []
    for r in (data_root, extra_root):
        f = Path(r) / "dataset.json"
        seeds.append(json.loads(f.read_text()).get("seed") if f.is_file() else None)
    if seeds[0] is not None and seeds[0] == seeds[1]:
        raise InputError(f"distill_data={extra_root} is SynthTalk with the training data's seed ({seeds[0]}): its "
                         "identities are the training data's, test speakers included; generate it with another --seed")
    return DistillClips(data, RETAClips(extra_root, "train", data.clip_frames, data.window))


class TeacherTargets:
    """f_V and the teacher's logits of clip frames (frozen teacher). cache=True computes every frame
    of a clip once and keeps it on the CPU in float16 (tiny data); cache=False runs the teacher on
    the frames a batch needs (real data, where a cache of every frame would not fit)."""

    def __init__(self, teacher, media: ClipMedia, device="cpu", batch=256, cache=True, shared=None):
        """shared: the TeacherTargets of media whose clips 0 .. len − 1 are this media's first ones
        (the training split inside DistillClips): their cached frames are reused, not recomputed."""
        self.teacher, self.media, self.device, self.batch, self.cache = teacher.eval(), media, device, batch, cache
        self._cache = shared._cache if shared is not None else {}

    @torch.no_grad()
    def _run(self, frames):
        parts = [self.teacher(frames[i:i + self.batch].to(self.device)) for i in range(0, len(frames), self.batch)]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def frames(self, c, start, length):
        """(f_V (length, H_T), logits (length, n)) of frames start .. start + length − 1 of clip c, on the device."""
        if not self.cache:
            return self._run(self.media.frames(c, slice(start, start + length)))
        if c not in self._cache:
            f, z = self._run(self.media.frames(c))
            self._cache[c] = (f.half().cpu(), z.half().cpu())
        f, z = self._cache[c]
        return f[start:start + length].to(self.device).float(), z[start:start + length].to(self.device).float()

    def segments(self, clips, starts, length):
        """f_V (B, length, H_T) of the batch's clip segments."""
        return torch.stack([self.frames(c, s, length)[0] for c, s in zip(clips.tolist(), starts.tolist())])


class CodeTargets:
    """A frozen EDTalk's f^{r→m} = Σ W^m b^m and f^{r→e} = Σ W^e b^e (EDTalk Eq. 1) of every frame of
    a clip, computed the first time the clip is asked for and kept on the CPU in float16: the targets
    of RETATrainConfig.w_mouth_code / w_emotion_code (ours, not in RETA). No label is read: the
    codes come from the frames, so real clips work too."""

    def __init__(self, edtalk, media: ClipMedia, device="cpu", batch=256, shared=None):
        """shared: the CodeTargets of media whose clips 0 .. len − 1 are this media's first ones."""
        self.edtalk, self.media, self.device, self.batch = edtalk.to(device).eval(), media, device, batch
        self._cache = shared._cache if shared is not None else {}

    @torch.no_grad()
    def _codes(self, frames):
        e = self.edtalk
        w = e.navigate(e.encode(frames.to(self.device)).latent, ("mouth", "expression"))
        return e.feature("mouth", w["mouth"]), e.feature("expression", w["expression"])   # (N, D) each

    def frames(self, c, start, length):
        """(f^{r→m}, f^{r→e}), each (length, D), of frames start .. start + length − 1 of clip c, on the device."""
        if c not in self._cache:
            frames = self.media.frames(c)
            parts = [self._codes(frames[i:i + self.batch]) for i in range(0, len(frames), self.batch)]
            self._cache[c] = tuple(torch.cat([p[k] for p in parts]).half().cpu() for k in (0, 1))
        m, e = self._cache[c]
        return m[start:start + length].to(self.device).float(), e[start:start + length].to(self.device).float()

    def segments(self, clips, starts, length):
        """(f^{r→m}, f^{r→e}), each (B, length, D), of the batch's clip segments."""
        rows = [self.frames(c, s, length) for c, s in zip(clips.tolist(), starts.tolist())]
        return torch.stack([r[0] for r in rows]), torch.stack([r[1] for r in rows])


def window_rows(x, offsets, K):
    """x (B, T, ...) -> (B, K, ...) rows offsets[b] .. offsets[b] + K − 1 of each clip."""
    idx = offsets[:, None].to(x.device) + torch.arange(K, device=x.device)          # (B, K)
    return torch.gather(x, 1, idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand(-1, -1, *x.shape[2:]))


def targets_logits(targets, b, K):
    """The teacher's logits of the batch's K real frames per clip, flattened (B*K, n)."""
    return torch.cat([targets.frames(c, s + o, K)[1] for c, s, o in zip(b["clip"].tolist(), b["start"].tolist(),
                                                                          b["offset"].tolist())])
