"""How fast EDTalk-V animates a clip: the source encoded once per clip, against the official
demo loop, which re-encodes the source (and recomputes the QR of the banks) for every frame.

    r = animate_speed(model, source, drivers, batch_sizes=(1, 8))
    r["per_frame"]["fps"], r["encode_once"][1]["fps"], r["encode_once"][1]["max_abs_diff"]

Every path produces the same frames (`max_abs_diff` against the per-frame loop is reported, not
assumed). Wall-clock times on the current device, after one warm-up call per path.
"""
import time

import torch


def _clock(fn, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - t0


@torch.inference_mode()
def animate_speed(model, source, drivers, batch_sizes=(1,)):
    """source (1, 3, S, S); drivers (N, 3, S, S), each frame driving mouth, pose and expression.

    Returns {"frames": N, "per_frame": {"fps", "seconds"}, "encode_once": {b: {"fps", "seconds",
    "max_abs_diff"}}, "speedup": {b: per-frame seconds / encode-once seconds}}.
    """
    model = model.eval()
    device = next(model.parameters()).device
    source, drivers = source.to(device), drivers.to(device)
    N = drivers.shape[0]

    def per_frame():                    # the official loop: everything recomputed for every frame
        return torch.cat([model.animate(source, mouth=d[None], pose=d[None], expression=d[None]) for d in drivers])

    def encode_once(b):
        def run():
            code = model.encode(source)                       # f^{i→r}, f^{id}: once per clip
            outs = []
            for i in range(0, N, b):                         # animate() broadcasts the batch-1 code
                d = drivers[i:i + b]
                outs.append(model.animate(code, mouth=d, pose=d, expression=d))
            return torch.cat(outs)
        return run

    model.animate(source, mouth=drivers[:1], pose=drivers[:1], expression=drivers[:1])     # warm-up
    ref, t_ref = _clock(per_frame, device)
    result = {"frames": N, "per_frame": {"fps": N / t_ref, "seconds": t_ref}, "encode_once": {}, "speedup": {}}
    for b in batch_sizes:
        encode_once(b)()                                                                    # warm-up
        out, t = _clock(encode_once(b), device)
        result["encode_once"][b] = {"fps": N / t, "seconds": t, "max_abs_diff": (out - ref).abs().max().item()}
        result["speedup"][b] = t_ref / t
    return result


@torch.inference_mode()
def audio_pipeline_speed(preset="tiny", seconds=2.0, batch_size=32, seed=0, device="cpu"):
    """Frames/s of EDTalk-A (Audio2Lip mouth, still pose, no expression) and of RETA, in one run,
    at a preset's architecture with random weights (speed does not depend on the values; the full
    RETA audio encoder is wav2vec 2.0 Base's architecture built offline). One identity image and
    `seconds` of audio each; every frame of the clip generated, after one warm-up call.

    Returns {"frames", "edtalk_a": {"fps", "seconds"}, "reta": {"fps", "seconds"}, "preset"}."""
    from dataclasses import replace
    from talkinglib.inference.edtalk_a import EDTalkA
    from talkinglib.inference.reta import RETAPipeline
    from talkinglib.models.audio2lip import PRESETS as A2L, Audio2Lip
    from talkinglib.models.audio_encoder import BASE_ARCHITECTURE, PRESETS as AUDIO
    from talkinglib.models.edtalk import PRESETS as EDT, EDTalk
    from talkinglib.models.reta import PRESETS as RP, RETA
    device = torch.device(device)
    torch.manual_seed(seed)
    edtalk = EDTalk(EDT[preset]).to(device).eval()
    audio = AUDIO[preset] if AUDIO[preset].weights is None else BASE_ARCHITECTURE
    reta = RETA(replace(RP[preset], audio=audio)).to(device).eval()
    S = edtalk.cfg.size
    source = torch.rand(1, 3, S, S, device=device) * 2 - 1
    wav = 0.1 * torch.randn(int(seconds * 16000))
    edtalk_a = EDTalkA(edtalk, Audio2Lip(A2L[preset]).to(device), batch_size=batch_size)
    reta_pipe = RETAPipeline(reta, batch_size=batch_size)
    pipes = {"edtalk_a": lambda: edtalk_a(source, wav), "reta": lambda: reta_pipe(source, wav)}
    out = {"preset": preset, "batch_size": batch_size}
    for name, run in pipes.items():
        run()                                                                   # warm-up
        frames, t = _clock(run, device)
        out["frames"] = len(frames)
        out[name] = {"fps": len(frames) / t, "seconds": t}
    return out
