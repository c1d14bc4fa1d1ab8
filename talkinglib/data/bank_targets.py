"""The audio stages' data: what a frozen EDTalk reads from every frame, and the clips those stages draw.

BankTargets holds W^m, W^p, W^e = MLN/PLN/ELN(E(I_t)) of every frame of a clip, the ground truth of
edtalk.audio2lip, edtalk.audio2pose and edtalk.audio2exp (EDTalk §3.3). PoseSequences and ExpressionClips
sample the training windows of the pose flow and of the semantic expression model from it.
"""
import torch

from talkinglib.data.datasets import ClipMedia


class BankTargets:
    """W^m, W^p, W^e = MLN/PLN/ELN(E(I_t)) of every frame of a clip, by a frozen EDTalk, computed the
    first time a clip is asked for and kept (the audio stages' ground truth).

        targets = BankTargets(edtalk, store)
        targets[c]["pose"]          # (T, 6) for clip c of the ClipStore
        targets.all("pose")         # a list over every clip
    """

    def __init__(self, edtalk, store, device="cpu", batch=256):
        self.edtalk, self.store, self.device, self.batch = edtalk.to(device).eval(), store, device, batch
        self._cache = {}

    @torch.no_grad()
    def __getitem__(self, c):
        if c not in self._cache:
            from talkinglib.data.datasets import to_tensor_images
            frames = to_tensor_images(self.store.frames(c))
            parts = [self.edtalk.navigate(self.edtalk.encode(frames[i:i + self.batch].to(self.device)).latent)
                     for i in range(0, len(frames), self.batch)]
            self._cache[c] = {k: torch.cat([p[k] for p in parts]).float().cpu() for k in parts[0]}
        return self._cache[c]

    def __len__(self):
        return len(self.store)

    def all(self, component):
        return [self[c][component] for c in range(len(self))]


class PoseSequences(ClipMedia):
    """Random N-frame windows of (W^p (N, 6), mel (N, 1, 80, 16)) from one split."""

    def __init__(self, data_root, edtalk, split="train", device="cpu"):
        super().__init__(data_root, split)
        self.targets = BankTargets(edtalk, self.store, device=device)                 # computed per clip on demand

    @property
    def angles(self):
        """True yaw, pitch, roll of every clip, a list of (T, 3): SynthTalk only (evaluation)."""
        from talkinglib.data.datasets import frame_factors
        return [torch.from_numpy(frame_factors(m)["pose"][:, :3]) for m in self.store.metas]

    @property
    def pose(self):
        """W^p of every clip, a list of (T, 6)."""
        return self.targets.all("pose")

    def sample(self, g, batch_size, frames):
        ws, mels = [], []
        for _ in range(batch_size):
            c = int(torch.randint(len(self.store), (1,), generator=g))
            T = len(self.targets[c]["pose"])
            if T < frames:
                raise ValueError(f"clip {self.store.names[c]} has {T} frames, fewer than N = {frames}")
            s = int(torch.randint(T - frames + 1, (1,), generator=g))
            ws.append(self.targets[c]["pose"][s:s + frames])
            mels.append(self.mel(c)[s:s + frames])
        return torch.stack(ws), torch.cat(mels)                          # (B, N, 6), (B*N, 1, 80, 16)


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
