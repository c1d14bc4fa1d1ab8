"""`talkinglib bench`: inference frames/s and latency, against a per-frame loop like the official demo's.

    talkinglib bench --preset full --mode edtalk-a --frames 32 --json bench.json
    r = bench("full", "edtalk-a", frames=32)          # the same dict as the JSON

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
scaled to a trained model's range, see RANDOM_FLOW_SCALE), or `checkpoint=` an EDTalk/RETA
checkpoint of that preset. Timings are wall-clock after one warm-up call per path (which also
compiles); on CUDA every timed call is synchronised.

What makes EDTalk-A fast, profiled first (full, 256², 2 CPU cores, torch.profiler). Per frame the
official loop spends E(source) 174 ms + G with EEM 358 ms (of which EEM 117 ms) + two QRs (0.4 ms).
Inside G: 12 3×3 convs of ~2.4 GFLOP each run near the CPU's peak, but about a third of G's time
is layout work around them (the grouped-conv form builds and re-lays out per-sample weights on
every call; transposed-conv outputs are copied), and batching does not help that form (each
sample is its own conv group). Each change, predicted and
then measured (50 frames, one run each, frames/s of ours against the loop's 1.7-1.9):

| change | predicted | measured |
|---|---|---|
| source encoded, banks orthogonalised and EEM applied once per clip (batch 1, official op order) | 2.2× (drop 291 of 532 ms) | 1.82×, frames bit-identical |
| the same at batch 8 | faster (bigger convs) | 1.41×: slower than batch 1; grouped convs do not batch on a CPU |
| shared-weight modulated convs, batch 8 | faster than fused at batch 8 | 1.47× |
| shared form + torch.compile with inductor freezing, batch 1 | G 250 -> ~170 ms (weights pre-packed once) | 2.93×, G 205 ms |
| the same at batch 8 | as batch 1 | 3.68×, max abs diff 2.0e-5 |

`talkinglib bench --preset full --mode edtalk-a --form shared --compile` reproduces the last row.
"""
import platform
from dataclasses import asdict, dataclass, replace

import torch

from talkinglib import checkpoints
from talkinglib.errors import InputError
from talkinglib.eval.speed import clock

MODES = ("edtalk-a", "edtalk-v", "reta")
DTYPES = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Random weights at a preset's architecture stand in for trained ones (speed does not depend on the
# values), with two heads brought to a trained model's scale, since max_abs_diff is meaningful only there:
# - the flow heads: a random head warps each level by offsets of up to half the image, which makes G
#   chaotic (a relative change of 1e-7 in the latent moved pixels by 2e-3 at full size), so no two
#   summation orders could agree. Offset weights × 0.01 give smooth offsets of a few pixels.
# - the ToRGB heads: a random G's images span about ±7.6 instead of ±1, and float32 rounding scales
#   with them. Weights × 0.15 bring them near ±1.
# The compute is unchanged: every warp and every layer still runs.
RANDOM_FLOW_SCALE = 0.01
RANDOM_RGB_SCALE = 0.15


@torch.no_grad()
def stand_in_weights(generator):
    """Scale a randomly initialised G's flow-offset and ToRGB weights as described above; returns G."""
    for head in generator.to_flows:
        head.conv.weight[:, :2] *= RANDOM_FLOW_SCALE
    for head in generator.to_rgbs:
        head.conv[0].weight *= RANDOM_RGB_SCALE                    # EqualConv2d; its leaky ReLU is 1-homogeneous
    return generator


@torch.no_grad()
def stand_in_statistics(encoder, images):
    """A random BatchNorm E (encoder_norm="batch") in eval mode has the initial statistics (mean 0,
    variance 1), which shrink its features layer by layer; a trained E has its data's. Set them from
    `images` (B, 3, S, S) in one pass, as training would. A normalisation-free E is left as it is."""
    norms = [m for m in encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if not norms:
        return encoder
    for m in norms:
        m.reset_running_stats()
        m.momentum = None                                          # cumulative: one pass sets them exactly
    encoder.train()(images)
    for m in norms:
        m.momentum = 0.1
    return encoder.eval()


@dataclass(frozen=True)
class BenchConfig:
    preset: str = "full"
    mode: str = "edtalk-a"
    frames: int = 32                 # N frames per clip (the audio is N / 25 s long)
    batch_sizes: tuple = (1, 8)      # ours, at each batch size
    device: str = "cpu"
    dtype: str = "float32"           # autocast dtype of ours: bfloat16 | float16 (the baseline stays float32)
    form: str = "fused"              # ours: G's modulated convs, "fused" (official order) or "shared" (stylegan2.py)
    compile: bool = False            # ours: torch.compile G with inductor's freezing (edtalk-a)
    checkpoint: str | None = None    # weights; random at the preset's architecture when None
    seed: int = 0

    def __post_init__(self):
        if self.mode not in MODES:
            raise InputError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.dtype not in DTYPES:
            raise InputError(f"dtype must be one of {tuple(DTYPES)}, got {self.dtype!r}")
        if self.compile and self.mode != "edtalk-a":
            raise InputError("compile=True is implemented for mode='edtalk-a' (EDTalkA(compile=True)); "
                             f"got mode={self.mode!r}")
        if self.frames < 5:
            raise InputError(f"frames must be >= 5 (one mel window per frame needs 0.2 s of audio); got {self.frames}")


# -- the three modes: each returns (baseline(), ours(batch_size), latency_call()) ----------------
def _edtalk(cfg, device):
    from talkinglib.models.edtalk import PRESETS, EDTalk
    if cfg.checkpoint:
        m = checkpoints.load(cfg.checkpoint, "edtalk.")
        return m.float().to(device).eval()
    m = EDTalk(PRESETS[cfg.preset]).to(device).eval()
    stand_in_weights(m.dec)
    stand_in_statistics(m.enc, _inputs(cfg, m.cfg.size, device)[1])
    return m


def _inputs(cfg, size, device):
    g = torch.Generator().manual_seed(cfg.seed)
    source = (torch.rand(1, 3, size, size, generator=g) * 2 - 1).to(device)
    wav = 0.1 * torch.randn(cfg.frames * 640, generator=g)               # N frames of 16 kHz audio at 25 fps
    return g, source, wav


def _edtalk_a(cfg, device):
    from talkinglib import audio as tl_audio
    from talkinglib.inference.edtalk_a import EDTalkA
    from talkinglib.models.audio2lip import PRESETS as A2L, Audio2Lip
    from talkinglib.models.layers.stylegan2 import set_modconv_form
    from talkinglib.models.pose_flow import PRESETS as FLOW, PoseFlow
    m = _edtalk(cfg, device)
    a2l, flow = Audio2Lip(A2L[cfg.preset]).to(device).eval(), PoseFlow(FLOW[cfg.preset]).to(device).eval()
    g, source, wav = _inputs(cfg, m.cfg.size, device)
    w_e = (0.5 * torch.randn(1, m.cfg.exp_dim, generator=g)).to(device)  # a preset's expression weights
    pose_seed = cfg.seed + 1

    def baseline():                      # the official loop: audio modules once, then frame by frame
        set_modconv_form(m, "fused")
        mel = tl_audio.mel_windows(wav).to(device)
        w_m = a2l(mel)[0]
        w_p = flow.sample(mel, batch=1, frames=len(mel), generator=torch.Generator().manual_seed(pose_seed))[0]
        return torch.cat([m.animate(source, mouth_weights=w_m[i:i + 1], pose_weights=w_p[i:i + 1],
                                    expression_weights=w_e) for i in range(len(mel))])

    pipes = {}

    def ours(b):
        pipes[b] = EDTalkA(m, a2l, pose_flow=flow, presets={"neutral": w_e[0], "preset": w_e[0]}, batch_size=b,
                           form=cfg.form, compile=cfg.compile)
        return lambda: pipes[b](source, wav, pose="sample", expression="preset",
                                generator=torch.Generator().manual_seed(pose_seed))

    def one_frame():                     # latency: one more frame of a running clip (source already encoded)
        pipe = pipes[min(pipes)]
        code = m.encode(source)
        lat = m.compose(code.latent, mouth=torch.zeros(1, m.cfg.mouth_dim, device=device),
                        pose=torch.zeros(1, m.cfg.pose_dim, device=device), expression=w_e)
        feats = m.express(code.feats, w_e)
        return lambda: pipe._generate(lat, feats)
    return baseline, ours, one_frame


def _edtalk_v(cfg, device):
    from talkinglib.models.layers.stylegan2 import set_modconv_form
    m = _edtalk(cfg, device)
    g, source, _ = _inputs(cfg, m.cfg.size, device)
    drivers = (torch.rand(cfg.frames, 3, m.cfg.size, m.cfg.size, generator=g) * 2 - 1).to(device)

    def baseline():
        set_modconv_form(m, "fused")
        return torch.cat([m.animate(source, mouth=d[None], pose=d[None], expression=d[None]) for d in drivers])

    def ours(b):
        def run():
            set_modconv_form(m, cfg.form)
            code = m.encode(source)
            return torch.cat([m.animate(code, mouth=d, pose=d, expression=d) for d in drivers.split(b)])
        return run

    def one_frame():
        code = m.encode(source)
        return lambda: m.animate(code, mouth=drivers[:1], pose=drivers[:1], expression=drivers[:1])
    return baseline, ours, one_frame


def _reta(cfg, device):
    from talkinglib.models.layers.stylegan2 import set_modconv_form
    from talkinglib.inference.reta import RETAPipeline
    from talkinglib.models.audio_encoder import BASE_ARCHITECTURE, PRESETS as AUDIO
    from talkinglib.models.reta import PRESETS, RETA
    if cfg.checkpoint:
        reta = checkpoints.load(cfg.checkpoint, "reta").float().to(device).eval()
    else:                                # the full E_A is wav2vec 2.0 Base's architecture, built offline
        audio = AUDIO[cfg.preset] if AUDIO[cfg.preset].weights is None else BASE_ARCHITECTURE
        reta = RETA(replace(PRESETS[cfg.preset], audio=audio)).to(device).eval()
        stand_in_weights(reta.dec)
        stand_in_statistics(reta.enc, _inputs(cfg, reta.cfg.size, device)[1])
    g, source, wav = _inputs(cfg, reta.cfg.size, device)

    def baseline():
        set_modconv_form(reta, "fused")
        c = reta.controls(wav[None].to(device))
        f_m, f_e = c["f_M"][0], c["f_E"][0]
        return torch.cat([reta.render(reta.encode_source(source), f_m[t:t + 1], f_e[t:t + 1]) for t in range(len(f_m))])

    def ours(b):
        pipe = RETAPipeline(reta, batch_size=b)

        def run():
            set_modconv_form(reta, cfg.form)
            return pipe(source[0], wav)
        return run

    def one_frame():
        src, c1 = reta.encode_source(source), reta.controls(wav[None, :3200].to(device))
        return lambda: reta.render(src, c1["f_M"][0, :1], c1["f_E"][0, :1])
    return baseline, ours, one_frame


BUILDERS = {"edtalk-a": _edtalk_a, "edtalk-v": _edtalk_v, "reta": _reta}


@torch.no_grad()                         # not inference_mode: inductor's freezing wants no_grad tensors
def bench(preset="full", mode="edtalk-a", **kw):
    """Run one benchmark (BenchConfig fields as keywords); returns a JSON-ready dict."""
    cfg = BenchConfig(preset=preset, mode=mode, **kw)
    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    baseline, ours, one_frame = BUILDERS[cfg.mode](cfg, device)
    ref, t_ref = clock(baseline, device)
    out = {"config": asdict(cfg), "device": _device_name(device), "torch": torch.__version__,
           "threads": torch.get_num_threads(), "frames": len(ref), "size": int(ref.shape[-1]),
           "per_frame": {"fps": len(ref) / t_ref, "seconds": t_ref}, "ours": {}}
    for b in cfg.batch_sizes:
        run = ours(b)
        if DTYPES[cfg.dtype] is not None:
            run = _autocast(run, device, DTYPES[cfg.dtype])
        frames, t = clock(run, device)
        frames = frames.float()
        out["ours"][str(b)] = {"fps": len(frames) / t, "seconds": t, "max_abs_diff": (frames - ref).abs().max().item()}
    _, lat = clock(one_frame(), device, repeats=5)
    out["latency_ms"] = 1000 * lat
    best = max(out["ours"], key=lambda b: out["ours"][b]["fps"])
    out["best_batch_size"] = int(best)
    out["speedup_vs_per_frame"] = out["ours"][best]["fps"] / out["per_frame"]["fps"]
    out["max_abs_diff"] = max(r["max_abs_diff"] for r in out["ours"].values())
    out["output_abs_max"] = ref.abs().max().item()              # the scale max_abs_diff is read against
    return out


def _autocast(fn, device, dtype):
    def run():
        with torch.autocast(device.type, dtype=dtype):
            return fn()
    return run


def _device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def format_bench(r):
    """A few lines for the terminal."""
    c = r["config"]
    lines = [f"{c['mode']} {c['preset']} {r['size']}² on {r['device']}, {r['frames']} frames, form={c['form']}, "
             f"compile={c['compile']}, dtype={c['dtype']}",
             f"  per-frame loop (official demo)  {r['per_frame']['fps']:7.2f} frames/s"]
    for b, o in r["ours"].items():
        lines.append(f"  ours, batch {b:>3s}                {o['fps']:7.2f} frames/s   max |diff| {o['max_abs_diff']:.2e}")
    lines.append(f"  speedup_vs_per_frame {r['speedup_vs_per_frame']:.2f} (batch {r['best_batch_size']}), "
                 f"latency {r['latency_ms']:.1f} ms (one frame, source encoded), outputs within ±{r['output_abs_max']:.2f}")
    return "\n".join(lines)
