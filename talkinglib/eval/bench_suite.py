"""`talkinglib bench --suite`: every mode (EDTalk-A, EDTalk-V, RETA) and dtype, frames/s batched and one
frame's latency, each dtype with its PSNR against float32 on the same frames; no baseline. For a lent GPU:

    talkinglib bench --suite --preset full --device cuda --json suite.json

CI runs it at --preset tiny on CPU, so it cannot rot. The timing is eval/bench.py's.
"""
import torch

from talkinglib.eval.bench import BUILDERS, MODES, BenchConfig, device_name, frame_latency_ms, time_pipeline
from talkinglib.inference.render import check_compile, default_batch_size
from talkinglib.models.edtalk import PRESETS

SUITE_MODES = MODES


def suite_dtypes(device):
    """float32 and bfloat16; float16 too on CUDA (CPU float16 autocast is not a fast path)."""
    return ("float32", "bfloat16", "float16") if torch.device(device).type == "cuda" else ("float32", "bfloat16")


@torch.no_grad()
def bench_suite(preset="full", device="cpu", frames=50, batch_size=None, dtypes=None, compile="auto",
                modes=SUITE_MODES, seed=0):
    """For each mode and dtype: frames/s of a clip at `batch_size` (None: the pipelines' default,
    render.default_batch_size: 32 on a GPU) and the latency of one frame at batch 1, at the preset's size;
    PSNR of every dtype against float32 on the same frames. Returns a JSON-ready dict."""
    dtypes = tuple(dtypes or suite_dtypes(device))
    if "float32" not in dtypes:
        dtypes = ("float32",) + dtypes
    dev = torch.device(device)
    batch_size = batch_size or default_batch_size(dev, PRESETS[preset].size)
    out = {"preset": preset, "device": device_name(dev), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "frames": frames, "batch_size": batch_size, "compile": check_compile(compile), "results": []}
    for mode in modes:
        cfg = BenchConfig(preset=preset, mode=mode, frames=frames, batch_sizes=(batch_size,), device=device,
                          dtypes=dtypes, compile=compile, seed=seed)
        _, pipeline, frame = BUILDERS[mode](cfg, dev)
        reference = None
        for dtype in ("float32",) + tuple(d for d in dtypes if d != "float32"):
            row, frames_out, _ = time_pipeline(pipeline, batch_size, dtype, dev, reference)
            reference = frames_out if reference is None else reference
            row.update(mode=mode, size=int(frames_out.shape[-1]), frames=len(frames_out),
                       latency_ms=frame_latency_ms(pipeline, frame, dtype, dev, frames))
            out["results"].append(row)
    return out


def format_suite(r):
    lines = [f"bench suite: {r['preset']} on {r['device']}, {r['frames']} frames, batch {r['batch_size']}, "
             f"compile={r['compile']}",
             f"  {'mode':9s} {'dtype':9s} {'frames/s':>9s} {'latency ms':>11s}  PSNR vs float32"]
    for x in r["results"]:
        p = f"{x['psnr_db']:.1f} dB" if "psnr_db" in x else "(reference)"
        lines.append(f"  {x['mode']:9s} {x['dtype']:9s} {x['fps']:9.2f} {x['latency_ms']:11.1f}  {p}")
    return "\n".join(lines)
