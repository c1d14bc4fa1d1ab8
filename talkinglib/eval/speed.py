"""Timing helpers, and RETA's inference speed beside EDTalk-A's in one run (RETA Tab. 1's FPS column).

    r = audio_pipeline_speed("full", seconds=4.0)   # {"edtalk_a": {"fps"}, "reta": {"fps"}}

`talkinglib bench` (eval/bench.py) measures one pipeline against the official per-frame loop.
"""
import time

import torch


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clock(fn, device, repeats=1, warmup=True):
    """(output of the last call, mean wall-clock seconds per call); one untimed warm-up call first."""
    if warmup:
        fn()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    sync(device)
    return out, (time.perf_counter() - t0) / repeats


@torch.inference_mode()
def audio_pipeline_speed(preset="tiny", seconds=2.0, batch_size=None, seed=0, device="cpu"):
    """Frames/s of EDTalk-A (Audio2Lip mouth, still pose, no expression) and of RETA, in one run,
    at a preset's architecture with random weights (speed does not depend on the values; the full
    RETA audio encoder is wav2vec 2.0 Base's architecture built offline). One identity image and
    `seconds` of audio each; every frame of the clip generated, after one warm-up call (which compiles G
    when the clip is long enough, inference/render.py). batch_size None: the pipelines' default.

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
    out = {"preset": preset, "batch_size": edtalk_a.batch_size}                  # the batch size used
    for name, run in pipes.items():
        frames, t = clock(run, device)
        out["frames"] = len(frames)
        out[name] = {"fps": len(frames) / t, "seconds": t}
    return out
