"""SyncNet's training pairs: a face window and the mel windows of its own frame and of shifted frames.
"""
import torch

from talkinglib.data.datasets import ClipMedia


class SyncPairs(ClipMedia):
    """(face window, mel window, in-sync label) triples from one split."""

    def __init__(self, data_root, split="train", frames=5):
        super().__init__(data_root, split)
        self.n, self.h = frames, frames // 2

    def sample(self, g, batch_size, negatives=1, min_shift=5):
        """Face windows (B, F, 3, H, W) and mel windows (B, 1 + negatives, 1, 80, 16): index 0 is the
        window's own audio (in sync), the others come from frames of the same clip >= min_shift away."""
        faces, mels = [], []
        for _ in range(batch_size):
            c = int(torch.randint(len(self.store), (1,), generator=g))
            mel, T = self.mel(c), self.num_frames(c)
            t = int(torch.randint(self.h, T - self.h, (1,), generator=g))
            far = torch.tensor([u for u in range(T) if abs(u - t) >= min_shift])
            off = far[torch.randperm(len(far), generator=g)[:negatives]]
            faces.append(self.frames(c, slice(t - self.h, t + self.h + 1)))
            mels.append(mel[torch.cat([torch.tensor([t]), off])])
        return torch.stack(faces), torch.stack(mels)
