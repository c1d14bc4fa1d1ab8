"""RETA inference: one identity image + 16 kHz audio -> talking frames.

    pipe = RETAPipeline(model)        # batch_size: frames per G call (default: render.default_batch_size)
    frames = pipe(image, wav)         # image (3, S, S) or (1, 3, S, S) in [-1, 1], wav (N,) -> (T, 3, S, S)

The source is encoded once (f_STY, f_TEX), the audio once for the whole clip (E_A, the geometric
prior and the student run over all T frames, so the TCNs see their full context), and G renders
the frames in batches with the batch-1 source broadcast: the frames equal `model(image, wav)` (to
float rounding, ~1e-6, in G's default shared form; form="fused" runs the official order), without
holding T copies of the identity pyramid. `stream(..., span=250)` turns long audio into controls
10 s at a time (inference/chunks.py: context and a cross-fade, so no seam) and yields frame
batches, so memory stays bounded.
"""
import torch

from talkinglib.audio import SAMPLE_RATE, frame_count
from talkinglib.constants import SAMPLES_PER_FRAME
from talkinglib.errors import InputError
from talkinglib.inference.chunks import stream_spans


class RETAPipeline:
    """G runs its fast path (inference/render.py): form="shared", compile="auto" (compiled for clips of at
    least render.compile_min_frames(S) frames), dtype="float32"; form="fused" is the official order."""

    def __init__(self, model, batch_size=None, form="shared", compile="auto", dtype="float32"):
        from talkinglib.inference.render import Renderer, default_batch_size
        self.model = model.eval()
        self.batch_size = batch_size or default_batch_size(next(model.parameters()).device, model.cfg.size)   # frames per G call
        self.render = Renderer(model.dec, form=form, compile=compile, dtype=dtype)

    @torch.no_grad()
    def stream(self, image, wav, sample_rate=SAMPLE_RATE, span=None, overlap=12, pad=25):
        """Yield frames (b, 3, S, S) in order. span: frames of audio turned into controls at a time
        (None: the whole clip, so the TCNs and wav2vec 2.0 see all of it); see inference/chunks.py."""
        if sample_rate != SAMPLE_RATE:
            raise InputError(f"RETA's audio encoder reads 16 kHz audio; got {sample_rate} Hz. Resample it first "
                             "(talkinglib.audio.load_audio(path, resample=True) does)")
        image = image[None] if image.dim() == 3 else image
        if image.shape[0] != 1:
            raise InputError(f"one identity image (3, S, S) or (1, 3, S, S); got {tuple(image.shape)}")
        wav = torch.as_tensor(wav, dtype=torch.float32)
        if wav.dim() == 2 and wav.shape[0] == 1:
            wav = wav[0]
        if wav.dim() != 1:
            raise InputError(f"mono audio (N,) or (1, N); got {tuple(wav.shape)}")
        dev = next(self.model.parameters()).device
        code = self.model.encode_source(image.to(dev))                   # f_STY, f_TEX: once
        T = frame_count(len(wav))

        def controls(lo, hi):                                            # [f_M | f_E] (hi - lo, D + H_T)
            end = hi * SAMPLES_PER_FRAME if hi < T else len(wav)          # the last span keeps the audio's tail
            c = self.model.controls(wav[None, lo * SAMPLES_PER_FRAME:end].to(dev), hi - lo)
            return torch.cat([c["f_M"][0], c["f_E"][0]], 1)

        with self.render.clip(T) as G:                                   # forms, weights: once per clip
            for _, c in stream_spans(controls, T, span, overlap, pad):
                split = c.shape[1] - self.model.cfg.teacher_dim             # f_E is in the teacher's space
                for i in range(0, len(c), self.batch_size):
                    f_m, f_e = c[i:i + self.batch_size, :split], c[i:i + self.batch_size, split:]
                    styles = self.model.control_styles(code.latent.expand(len(f_m), -1), f_m, f_e)   # (b, L, D)
                    yield G(styles, code.feats)                          # = model.render(code, f_m, f_e)

    def __call__(self, image, wav, sample_rate=SAMPLE_RATE):
        """All frames (T, 3, S, S), T = frame_count(len(wav)), at once (stream() for long audio)."""
        return torch.cat(list(self.stream(image, wav, sample_rate)))
