"""RETA inference: one identity image + 16 kHz audio -> talking frames.

    pipe = RETAPipeline(model, batch_size=32)
    frames = pipe(image, wav)         # image (3, S, S) or (1, 3, S, S) in [-1, 1], wav (N,) -> (T, 3, S, S)

The source is encoded once (f_STY, f_TEX), the audio once for the whole clip (E_A, the geometric
prior and the student run over all T frames, so the TCNs see their full context), and G renders
the frames in batches with the batch-1 source broadcast: the frames equal `model(image, wav)`,
without holding T copies of the identity pyramid.
"""
import torch

from talkinglib.audio import SAMPLE_RATE


class RETAPipeline:
    def __init__(self, model, batch_size=32):
        self.model, self.batch_size = model.eval(), batch_size

    @torch.inference_mode()
    def __call__(self, image, wav, num_frames=None, sample_rate=SAMPLE_RATE):
        if sample_rate != SAMPLE_RATE:
            raise ValueError(f"RETA's audio encoder reads 16 kHz audio; got {sample_rate} Hz. Resample it first "
                             "(talkinglib.audio.load_audio(path, resample=True) does)")
        image = image[None] if image.dim() == 3 else image
        if image.shape[0] != 1:
            raise ValueError(f"one identity image (3, S, S) or (1, 3, S, S); got {tuple(image.shape)}")
        wav = torch.as_tensor(wav, dtype=torch.float32)
        wav = wav[None] if wav.dim() == 1 else wav
        if wav.dim() != 2 or wav.shape[0] != 1:
            raise ValueError(f"mono audio (N,) or (1, N); got {tuple(wav.shape)}")
        dev = next(self.model.parameters()).device
        code = self.model.encode_source(image.to(dev))                   # f_STY, f_TEX: once
        c = self.model.controls(wav.to(dev), num_frames)                 # f_M, f_E for every frame
        f_m, f_e = c["f_M"][0], c["f_E"][0]
        return torch.cat([self.model.render(code, f_m[i:i + self.batch_size], f_e[i:i + self.batch_size])
                          for i in range(0, len(f_m), self.batch_size)])   # (T, 3, S, S)
