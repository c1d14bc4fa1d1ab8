"""EDTalk-V: an identity image driven by video, each of mouth, pose and expression by its own clip
(EDTalk §3.1, Fig. 4: mouth from one clip, pose from another, expression from a third).

    pipe = EDTalkV(edtalk)            # batch_size: frames per G call (default: render.default_batch_size)
    frames = pipe(source, {"mouth": video_a, "pose": video_b, "expression": video_a})   # (T, 3, S, S)

Per clip the source is encoded once and the banks orthogonalised once; per batch the driving frames
are encoded once (a video that drives several components is encoded once), and G runs its fast
path (inference/render.py). The frames are `edtalk.animate(source, mouth=..., pose=...,
expression=...)`'s, to float rounding (~1e-6 in the default shared form; form="fused" is the official order).
"""
import torch

from talkinglib.errors import InputError
from talkinglib.models.edtalk import COMPONENTS


def driving_length(driving):
    """Frames of a driving video, or of a {component: video} dict whose videos must agree."""
    if not isinstance(driving, dict):
        return len(driving)
    lengths = {c: len(v) for c, v in driving.items()}
    if len(set(lengths.values())) != 1:
        raise InputError(f"the driving videos differ in length ({lengths} frames); cut them to one length first, "
                         "e.g. `ffmpeg -i in.mp4 -frames:v N out.mp4`")
    return next(iter(lengths.values()))


class EDTalkV:
    """form / compile / dtype: G's path, as in EDTalkA (inference/render.py)."""

    def __init__(self, edtalk, batch_size=None, form="shared", compile="auto", dtype="float32"):
        from talkinglib.inference.render import Renderer, default_batch_size
        self.edtalk = edtalk.eval()
        self.batch_size = batch_size or default_batch_size(next(edtalk.parameters()).device, edtalk.cfg.size)
        self.render = Renderer(edtalk.dec, form=form, compile=compile, dtype=dtype)

    @torch.no_grad()
    def stream(self, source, driving, components=COMPONENTS):
        """Yield frames (b, 3, S, S) for a source image (1, 3, S, S) and a driving video (T, 3, S, S) that drives
        `components` (the others keep the source's), or {component: video (T, 3, S, S)}, one video each."""
        videos = driving if isinstance(driving, dict) else {c: driving for c in components}
        bad = set(videos) - set(COMPONENTS)
        if bad or not videos:
            raise InputError(f"components must be a non-empty subset of {COMPONENTS}; got {tuple(videos)}")
        if source.dim() != 4 or source.shape[0] != 1:
            raise InputError(f"source must be one image (1, 3, S, S); got {tuple(source.shape)}")
        T = driving_length(videos)
        m = self.edtalk
        dev = next(m.parameters()).device
        code = m.encode(source.to(dev))                                       # once per clip
        Q = m.bases() if m.cfg.bank == "bases" else None                      # once per clip
        unique = list({id(v): v for v in videos.values()}.values())           # a video driving several: once
        with self.render.clip(T) as G:
            for i in range(0, T, self.batch_size):
                w = {}                                                           # W^* (b, K_*) per component
                for v in unique:
                    wanted = tuple(c for c, u in videos.items() if u is v)
                    w.update(m.navigate(m.encode(v[i:i + self.batch_size].to(dev)).latent, wanted))
                b = len(next(iter(w.values())))
                lat = m.compose(code.latent.expand(b, -1), Q=Q, **w)             # f^{i→d} (b, D)  (EDTalk Eqs. 1–2)
                f_exp = m.feature("expression", w["expression"], Q) if "expression" in w else None   # f^{r→e}
                yield G(lat, code.feats, f_exp)                                  # (b, 3, S, S), EEM inside G

    def __call__(self, source, driving, components=COMPONENTS):
        """All frames (T, 3, S, S) at once (stream() for long videos)."""
        return torch.cat(list(self.stream(source, driving, components)))
