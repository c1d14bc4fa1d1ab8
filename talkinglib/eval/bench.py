"""`talkinglib bench`: inference frames/s and latency of our fast path, against a per-frame loop like the official demo's.

    talkinglib bench --preset full --mode edtalk-a                      # the defaults: what generate runs
    talkinglib bench --preset full --mode edtalk-a --dtype float32 bfloat16   # + a bfloat16 row with its PSNR
    talkinglib bench --suite --preset full --device cuda --json suite.json    # every mode and dtype (a GPU)
    r = bench("full", "edtalk-a")                                       # the same dict as the JSON

The baseline mirrors the official demo loop (EDTalk's demo_EDTalk_A_using_predefined_exp_weights.py,
demo_EDTalk_V.py): the audio modules run once over the clip, then one generator call per frame, each
of which re-encodes the source image and recomputes the QR of the banks. Ours (the library's
pipelines) encodes the source once per clip, orthogonalises the banks once, and generates frames in
batches. Both paths get the same inputs (the same sampled pose, the same weights), and
`max_abs_diff` is measured between their frames, not assumed.

Modes
- edtalk-a: audio -> Audio2Lip mouth weights, pose sampled from the pose flow (τ = 1, a fixed
  seed), expression from preset weights (EEM on), as the official EDTalk-A demo with predefined
  expression weights.
- edtalk-v: mouth, pose and expression from a driving video (every frame drives all three).
- reta: audio -> RETA (wav2vec 2.0, the geometric prior, the emotion student, G); the baseline
  re-encodes the source for every frame.

Weights: random at the preset's architecture (speed does not depend on the values; two heads are
scaled to a trained model's range, models/stand_in.py), or `checkpoint=` an EDTalk/RETA
checkpoint of that preset. Timings are wall-clock after one warm-up call per path (which also
compiles: its seconds are reported, with the clip length from which compiling pays); on CUDA
every timed call is synchronised.

Ours is the pipelines' default path (inference/render.py), which generate, evaluate and the notebooks
run: shared-weight modulated convs, weights prepared and the identity pyramid laid out once per clip,
batch 1 on a CPU at 256² (render.default_batch_size), and on a CPU G compiled for clips of at least
render.compile_min_frames(S) frames (100 at 256²; on CUDA only with compile="always"). The default clip is 100 frames, so the default run
compiles, as generate does for a clip of 4 s or more. form="fused", compile="never" is the official per-sample order (batch 1: bit-identical frames).

What makes EDTalk-A fast, profiled first (full, 256², 2 CPU cores, torch.profiler). Per frame the
official loop spends E(source) 174 ms + G with EEM 358 ms (of which EEM 117 ms) + two QRs (0.4 ms).
Inside G: 12 3×3 convs of ~2.4 GFLOP each run near the CPU's peak, but about a third of G's time
is layout work around them (the grouped-conv form builds and re-lays out per-sample weights on
every call; transposed-conv outputs are copied), and batching does not help that form (each
sample is its own conv group). Each change, predicted and then measured (50 frames, one run each,
frames/s of ours against the loop's 1.7-1.9; from the blur row on against the loop's 2.5-2.6, which the
padding change also sped up; the last row, 100 frames, the loop's 2.8). The freezing and pre-packing rows are
history: the last row took freezing out again:

| change | predicted | measured |
|---|---|---|
| source encoded, banks orthogonalised and EEM applied once per clip (batch 1, official op order) | 2.2× (drop 291 of 532 ms) | 1.82×, frames bit-identical |
| the same at batch 8 | faster (bigger convs) | 1.41×: slower than batch 1; grouped convs do not batch on a CPU |
| shared-weight modulated convs, batch 8 | faster than fused at batch 8 | 1.47× |
| shared form + torch.compile with inductor freezing, batch 1 | G 250 -> ~170 ms (weights pre-packed once) | 2.93×, G 205 ms |
| the same at batch 8 | as batch 1 | 3.68×, max abs diff 2.0e-5 |
| FIR blur pads inside its conv (no padded copy; upfirdn2d) | G -12 ms (the copies' profiled time) | eager shared G, batch 1: 190 -> 150-168 ms |
| shared form eager, batch 1 vs 8 | batch 1 faster: G is memory-bound, one frame's activations stay in cache | 150-195 vs 320-340 ms a frame: batch 1 is the CPU default |
| compile without oneDNN weight pre-packing (cacheable on disk) | as fast; later compiles cheap | compiled G 105 vs 105-110 ms; compile 33 s -> 6 s in a second process |
| identity pyramid channels-last, once per clip | fewer layout copies | compiled G 106-114 -> 80-86 ms, eager 150-168 -> 139-152 ms |
| no freezing: compiled G reads the per-clip prepared weights; the warp grid built without an inference-mode switch (AOTAutograd caches the graph on disk) | later compiles cheaper, G a little slower | compile in a later process 5.2-6.7 -> 1.9-2.3 s (dynamo's import aside; 3.5-3.7 s with it); G alone 77-80 -> 80-85 ms; 100 frames 11.42 -> 10.42 frames/s (3.73×), break-even 62 -> 50 frames (dynamo's import counted) |

README.md's Speed section has the default run's numbers.
"""
import platform
from dataclasses import asdict, dataclass, replace

import torch

from talkinglib import checkpoints
from talkinglib.errors import InputError
from talkinglib.eval.image_metrics import psnr
from talkinglib.eval.speed import clock
from talkinglib.inference.render import DTYPES, check_compile, native_bf16
from talkinglib.models.layers.stylegan2 import ModulatedConv2d, modconv_form
from talkinglib.models.stand_in import random_models, stand_in_inputs

MODES = ("edtalk-a", "edtalk-v", "reta")
@dataclass(frozen=True)
class BenchConfig:
    preset: str = "full"
    mode: str = "edtalk-a"
    frames: int = 100                # N frames per clip (4 s of audio): long enough that compile="auto" compiles
    batch_sizes: tuple = (1, 8)      # ours, at each batch size (float32)
    device: str = "cpu"
    dtypes: tuple = ("float32",)     # ours' G: float32, plus one row per other dtype (bfloat16 | float16 autocast)
    form: str = "shared"             # ours: G's modulated convs, "shared" (fast) or "fused" (official order)
    compile: str = "auto"            # ours: torch.compile G: auto (clips long enough to pay) | always | never
    checkpoint: str | None = None    # weights; random at the preset's architecture when None
    seed: int = 0

    def __post_init__(self):
        if self.mode not in MODES:
            raise InputError(f"mode must be one of {MODES}, got {self.mode!r}")
        bad = [d for d in self.dtypes if d not in DTYPES]
        if bad or not self.dtypes:
            raise InputError(f"dtypes must be among {tuple(DTYPES)}, got {self.dtypes!r}")
        if self.form not in ModulatedConv2d.FORMS:
            raise InputError(f"form must be one of {ModulatedConv2d.FORMS}, got {self.form!r}")
        object.__setattr__(self, "compile", check_compile(self.compile))
        if self.compile == "always" and self.form != "shared":
            raise InputError("compile needs form='shared' (the fused form builds per-sample weights in every call); "
                             "use form='shared', or compile='never' for the fused form")
        if self.frames < 5:
            raise InputError(f"frames must be >= 5 (one mel window per frame needs 0.2 s of audio); got {self.frames}")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise InputError(f"batch sizes must be >= 1, got {self.batch_sizes!r}")


def _models(cfg, device):
    if not cfg.checkpoint:
        return random_models(cfg.mode, cfg.preset, device, cfg.seed)
    if cfg.mode == "reta":
        return {"reta": checkpoints.load(cfg.checkpoint, "reta").float().to(device).eval()}
    models = random_models(cfg.mode, cfg.preset, device, cfg.seed)      # the audio modules stay random
    models["edtalk"] = checkpoints.load(cfg.checkpoint, "edtalk.").float().to(device).eval()
    return models


# -- the three modes: each returns (baseline(), pipeline(b, dtype) -> (run(), Renderer), frame(pipe) -> G call) --
def _edtalk_a(cfg, device):
    from talkinglib import audio as tl_audio
    from talkinglib.inference.edtalk_a import EDTalkA
    models = _models(cfg, device)
    m, a2l, flow = models["edtalk"], models["audio2lip"], models["pose_flow"]
    g, source, wav = stand_in_inputs(cfg.seed, cfg.frames, m.cfg.size, device)
    w_e = (0.5 * torch.randn(1, m.cfg.exp_dim, generator=g)).to(device)  # a preset's expression weights
    pose_seed = cfg.seed + 1

    def baseline():                      # the official loop: audio modules once, then frame by frame
        with modconv_form(m, "fused"):
            mel = tl_audio.mel_windows(wav).to(device)
            w_m = a2l(mel)[0]
            w_p = flow.sample(mel, batch=1, frames=len(mel), generator=torch.Generator().manual_seed(pose_seed))[0]
            return torch.cat([m.animate(source, mouth_weights=w_m[i:i + 1], pose_weights=w_p[i:i + 1],
                                        expression_weights=w_e) for i in range(len(mel))])

    def pipeline(b, dtype):
        pipe = EDTalkA(m, a2l, pose_flow=flow, presets={"neutral": w_e[0], "preset": w_e[0]}, batch_size=b,
                       form=cfg.form, compile=cfg.compile, dtype=dtype)
        return (lambda: pipe(source, wav, pose="sample", expression="preset",
                             generator=torch.Generator().manual_seed(pose_seed))), pipe.render

    def frame():                         # one more frame of a running clip: source encoded, EEM applied
        code = m.encode(source)
        lat = m.compose(code.latent, mouth=torch.zeros(1, m.cfg.mouth_dim, device=device),
                        pose=torch.zeros(1, m.cfg.pose_dim, device=device), expression=w_e)
        return (lat, m.express(code.feats, w_e), None)
    return baseline, pipeline, frame


def _edtalk_v(cfg, device):
    from talkinglib.inference.edtalk_v import EDTalkV
    m = _models(cfg, device)["edtalk"]
    g, source, _ = stand_in_inputs(cfg.seed, cfg.frames, m.cfg.size, device)
    drivers = (torch.rand(cfg.frames, 3, m.cfg.size, m.cfg.size, generator=g) * 2 - 1).to(device)

    def baseline():
        with modconv_form(m, "fused"):
            return torch.cat([m.animate(source, mouth=d[None], pose=d[None], expression=d[None]) for d in drivers])

    def pipeline(b, dtype):
        pipe = EDTalkV(m, b, form=cfg.form, compile=cfg.compile, dtype=dtype)
        return (lambda: pipe(source, drivers)), pipe.render

    def frame():                         # one driving frame: its encoding, the navigation and G (with EEM)
        code, d = m.encode(source), drivers[:1]
        w = m.navigate(m.encode(d).latent)
        return (m.compose(code.latent, **w), code.feats, m.feature("expression", w["expression"]))
    return baseline, pipeline, frame


def _reta(cfg, device):
    from talkinglib.inference.reta import RETAPipeline
    reta = _models(cfg, device)["reta"]
    g, source, wav = stand_in_inputs(cfg.seed, cfg.frames, reta.cfg.size, device)

    def baseline():                      # the source re-encoded for every frame
        with modconv_form(reta, "fused"):
            c = reta.controls(wav[None].to(device))
            f_m, f_e = c["f_M"][0], c["f_E"][0]
            return torch.cat([reta.render(reta.encode_source(source), f_m[t:t + 1], f_e[t:t + 1])
                              for t in range(len(f_m))])

    def pipeline(b, dtype):
        pipe = RETAPipeline(reta, batch_size=b, form=cfg.form, compile=cfg.compile, dtype=dtype)
        return (lambda: pipe(source[0], wav)), pipe.render

    def frame():
        code, c = reta.encode_source(source), reta.controls(wav[None, :3200].to(device))
        return (reta.control_styles(code.latent, c["f_M"][0, :1], c["f_E"][0, :1]), code.feats, None)
    return baseline, pipeline, frame


BUILDERS = {"edtalk-a": _edtalk_a, "edtalk-v": _edtalk_v, "reta": _reta}


# -- timing -------------------------------------------------------------------------------------
def time_pipeline(pipeline, b, dtype, device, reference=None):
    """{"fps", "seconds", compile facts; "psnr_db" / "psnr_min_db" / "max_abs_diff" against `reference`}, frames."""
    run, render = pipeline(b, dtype)
    frames, t = clock(run, device)                       # the warm-up call compiles, when G is compiled
    frames = frames.float()
    row = {"batch_size": b, "dtype": dtype, "fps": len(frames) / t, "seconds": t, "compiled": render.compiled is not None}
    if render.compile_seconds is not None:
        row["compile_seconds"] = render.compile_seconds
    if reference is not None:
        row["max_abs_diff"] = (frames - reference).abs().max().item()
        p = psnr(reference, frames).clamp(max=PSNR_CAP)
        row["psnr_db"], row["psnr_min_db"] = p.mean().item(), p.min().item()
    return row, frames, render


def frame_latency_ms(pipeline, frame, dtype, device, frames, repeats=5):
    """One frame of a running clip, batch 1: G alone (the source encoded, the per-clip work done)."""
    _, render = pipeline(1, dtype)
    latent, feats, f_exp = frame()
    with render.clip(frames) as G:
        _, t = clock(lambda: G(latent, feats, f_exp), device, repeats=repeats)
    return 1000 * t


PSNR_CAP = 100.0                         # dB given to a frame identical to its reference (8-bit)


@torch.no_grad()
def bench(preset="full", mode="edtalk-a", **kw):
    """Run one benchmark (BenchConfig fields as keywords); returns a JSON-ready dict.

    "per_frame": the official-style loop; "ours": {batch: row} in float32, each with its max |diff| to the
    loop's frames; "dtypes": {dtype: row} at the best batch, with PSNR against ours in float32 on the same
    frames; "compile": when ours compiled G, its seconds and the break-even clip length against eager G."""
    cfg = BenchConfig(preset=preset, mode=mode, **kw)
    device = torch.device(cfg.device)
    baseline, pipeline, frame = BUILDERS[cfg.mode](cfg, device)
    ref, t_ref = clock(baseline, device)
    out = {"config": asdict(cfg), "device": device_name(device), "torch": torch.__version__,
           "threads": torch.get_num_threads(), "frames": len(ref), "size": int(ref.shape[-1]),
           "cpu_native_bf16": native_bf16() if device.type == "cpu" else None,   # bfloat16 rows read against it
           "per_frame": {"fps": len(ref) / t_ref, "seconds": t_ref}, "ours": {}, "dtypes": {}}
    ours = {}
    for b in cfg.batch_sizes:
        row, frames, render = time_pipeline(pipeline, b, "float32", device, ref)
        out["ours"][str(b)], ours[b] = row, frames
    best = max(cfg.batch_sizes, key=lambda b: out["ours"][str(b)]["fps"])
    out["best_batch_size"] = best
    out["speedup_vs_per_frame"] = out["ours"][str(best)]["fps"] / out["per_frame"]["fps"]
    out["max_abs_diff"] = max(r["max_abs_diff"] for r in out["ours"].values())
    out["output_abs_max"] = ref.abs().max().item()              # the scale max_abs_diff is read against
    if out["ours"][str(best)]["compiled"]:                       # what compiling bought: eager G at the same batch
        eager = time_pipeline(lambda b, d: pipeline_with(cfg, device, b, d, compile="never"), best, "float32", device)[0]
        c = out["ours"][str(best)]
        saving = 1 / eager["fps"] - 1 / c["fps"]                 # seconds a frame
        out["compile"] = {"seconds": c.get("compile_seconds"), "eager_ms_per_frame": 1000 / eager["fps"],
                          "compiled_ms_per_frame": 1000 / c["fps"], "batch_size": best,
                          "break_even_frames": (c.get("compile_seconds", 0) / saving) if saving > 0 else None}
    for dtype in cfg.dtypes:
        if dtype != "float32":
            out["dtypes"][dtype] = time_pipeline(pipeline, best, dtype, device, ours[best])[0]
    out["latency_ms"] = frame_latency_ms(pipeline, frame, "float32", device, cfg.frames)
    return out


def pipeline_with(cfg, device, b, dtype, **change):
    """ours(b, dtype) of a config with fields changed (e.g. compile="never")."""
    return BUILDERS[cfg.mode](replace(cfg, **change), device)[1](b, dtype)


def device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def format_bench(r):
    """A few lines for the terminal."""
    c = r["config"]
    lines = [f"{c['mode']} {c['preset']} {r['size']}² on {r['device']}, {r['frames']} frames; ours: form={c['form']}, "
             f"compile={c['compile']}",
             f"  per-frame loop (official demo)   {r['per_frame']['fps']:7.2f} frames/s"]
    for b, o in r["ours"].items():
        how = "compiled" if o["compiled"] else "eager"
        lines.append(f"  ours, batch {b:>3s}, float32 ({how:8s}) {o['fps']:7.2f} frames/s  "
                     f"{o['fps'] / r['per_frame']['fps']:5.2f}×   max |diff| {o['max_abs_diff']:.2e}")
    for d, o in r["dtypes"].items():
        how = "compiled" if o["compiled"] else "eager"
        lines.append(f"  ours, batch {o['batch_size']:>3d}, {d:8s} ({how:8s}) {o['fps']:7.2f} frames/s  "
                     f"{o['fps'] / r['per_frame']['fps']:5.2f}×   PSNR vs float32 {o['psnr_db']:.1f} dB "
                     f"(worst frame {o['psnr_min_db']:.1f}), max |diff| {o['max_abs_diff']:.2e}")
    if "compile" in r:
        k = r["compile"]
        be = "never" if k["break_even_frames"] is None else f"{k['break_even_frames']:.0f} frames"
        lines.append(f"  compile: {k['seconds']:.1f} s; G {k['eager_ms_per_frame']:.0f} ms/frame eager -> "
                     f"{k['compiled_ms_per_frame']:.0f} compiled (batch {k['batch_size']}): pays back after {be}")
    lines.append(f"  speedup_vs_per_frame {r['speedup_vs_per_frame']:.2f} (batch {r['best_batch_size']}), "
                 f"latency {r['latency_ms']:.1f} ms (one frame, source encoded), outputs within ±{r['output_abs_max']:.2f}")
    return "\n".join(lines)
