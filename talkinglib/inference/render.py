"""G's fast inference path, shared by every pipeline (EDTalk-A, EDTalk-V, RETA, `generate`, `evaluate`).

    render = Renderer(edtalk.dec)                          # form="shared", compile="auto", dtype="float32"
    with render.clip(num_frames=T) as G:                   # per clip: forms set, weights prepared, compile decided
        frames = G(latent, feats)                          # (B, D), [f^{id}_r (1 or B, C_r, r, r)] -> (B, 3, S, S)
    with fast_path(edtalk):                                # the model's own API (animate, render), a few frames
        frames = edtalk.animate(source, mouth=drivers)

What it does, each change measured in eval/bench.py (`talkinglib bench`):
- shared-weight modulated convs (models/layers/stylegan2.py, form="shared"): one ordinary conv per layer
  for the whole batch, instead of one conv group per sample ("fused", the official order);
- per clip, the shared weights (scale · weight, its transposed layout, Σ_k w²) are computed once
  (prepare_shared) instead of in every call, and the identity pyramid is laid out channels-last once;
- torch.compile (inductor: the elementwise work fused around the convs), reading the weights prepared for
  the clip, when the clip is long enough to pay for compiling: compile="auto" (below);
- dtype="bfloat16": G under bfloat16 autocast (CPUs with AVX-512 BF16 or AMX, and GPUs); frames come
  back float32. bench reports its PSNR against float32 on the same frames; never the default. A CPU without
  bfloat16 instructions emulates it, slower than float32 (native_bf16; Renderer warns).

compile="auto" compiles when a clip has at least compile_min_frames(S) frames:

    compile_min_frames(S) = COMPILE_MIN_FRAMES_256 · (256 / S)²

the frames at which the compile time is paid back by the per-frame saving, measured at 256² and scaled
by the image area, which G's per-frame work and so the saving grow with. Measured on the 2-core
AMD EPYC CPU (AVX-512 BF16) this project develops on, torch 2.14, EDTalk-A, batch 1, by running twice

    TORCHINDUCTOR_CACHE_DIR=/tmp/empty talkinglib bench --preset full --mode edtalk-a --compile always --batch-size 1 --frames 25

(and the same with --preset tiny): the first run compiles on an empty cache, the second from the cache. Its
"compile" line gives the seconds from torch.compile to the end of the first compiled call (dynamo's own
import, ~1.8 s, included), the pipeline's eager and compiled ms a frame, and the break-even clip length:

| preset | compile, first on the machine / cached | eager -> compiled, a frame | break-even, first / cached |
|---|---|---|---|
| full (256²) | 25.0 s / 3.5-3.7 s | 156-169 -> 94-100 ms | 449 / 50 frames |
| tiny (64²)  | 14.7-22.4 s / 3.3 s | 5-6 -> 3 ms | 7169-8360 / 1800 frames |

(the cached full row also from the default `talkinglib bench --preset full --mode edtalk-a`, 100 frames.)
On a 2-core Intel Xeon (2.8 GHz, AVX-512 without BF16), from the default bench: full, 42.6 s on an empty
cache (G 472 -> 228 ms a frame at batch 8: 174 frames) and 8.2 s cached (338 -> 232 ms at batch 1: 77 frames).
Inductor and AOTAutograd cache the compiled graph on disk (TORCHINDUCTOR_CACHE_DIR, by default
/tmp/torchinductor_$USER), keyed by the architecture, the batch size and the weights' shapes and layouts,
not their values: only the first compile of an architecture and batch size on a machine pays the full
price (a bfloat16 G is another graph: 17 s the first time). COMPILE_MIN_FRAMES_256 = 100 frames (4 s of
video) follows the cached cost: twice the break-even at full, and the area rule's 1600 frames at tiny
is near the measured 1800.
No freezing: inductor's freezing (the weights folded into the graph as constants) ran G alone 77-80 ms a
frame against 80-85 without it, but AOTAutograd does not cache a frozen graph, so every process paid
5-7 s of compiling instead of ~2 s (dynamo's import aside), and a frozen G would keep the weights it
was compiled with. Unfrozen, the compiled G reads the weights prepared at the start of each clip
(prepare_shared).
Compile is CPU-measured: on CUDA, "auto" never compiles (unmeasured there; compile="always" forces it).
A compiled G runs at one batch size: a clip's last, shorter batch is padded to it (padding rows are
dropped), so that it does not compile a second time.
"""
import math
import time
import warnings
from contextlib import contextmanager, nullcontext
from functools import lru_cache

import torch

from talkinglib.errors import InputError, TalkingLibWarning
from talkinglib.models.layers.stylegan2 import ModulatedConv2d, modconv_form

COMPILES = ("auto", "always", "never")
DTYPES = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}
COMPILE_MIN_FRAMES_256 = 100          # break-even clip length at 256², CPU, cached compile (module docstring)
CPU_BATCH_PIXELS = 4 * 64 * 64       # a CPU's default frames per G call: as many as 4 frames of 64² (default_batch_size)
CUDA_BATCH_SIZE = 32


def default_batch_size(device, size):
    """Frames per G call by default for a size² G: 32 on a GPU; on a CPU, max(1, 4 · 64² // size²): 1 at 256²,
    4 at 64². A CPU's G is bound by memory traffic, not by its convs: a batch is fastest while its activations
    stay in cache. EDTalk-A, 2 cores, eager, frames/s by batch size (`talkinglib bench --compile never
    --batch-size 1 4 16 32`): full (256², 100 frames) batch 1 5.2-6.0, batch 8 2.9-3.1 (G 150-195 against
    320-340 ms a frame); tiny (64², 200 frames) batch 1 208, 4 345, 16 278, 32 255."""
    if torch.device(device).type != "cpu":
        return CUDA_BATCH_SIZE
    return max(1, CPU_BATCH_PIXELS // (size * size))


def compile_min_frames(size):
    """Frames from which compile="auto" compiles G for a size² model (module docstring)."""
    return math.ceil(COMPILE_MIN_FRAMES_256 * (256 / size) ** 2)


BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}       # x86 AVX-512 BF16, x86 AMX, Arm BF16 (/proc/cpuinfo)


def native_bf16(cpuinfo=None):
    """Whether this CPU computes bfloat16 in hardware, read off /proc/cpuinfo's flags ("flags" on x86,
    "Features" on Arm); None where it cannot tell (no /proc/cpuinfo). Without it oneDNN converts to float32
    and back around every op: EDTalk-A, full, batch 1, on a 2-core Intel Xeon with AVX-512 but not BF16,
    `talkinglib bench --preset full --mode edtalk-a --batch-size 1 --dtype float32 bfloat16` ran bfloat16 at
    1.91 frames/s against float32's 4.32; on an AMD EPYC with AVX-512 BF16, 16.40 against 10.59."""
    if cpuinfo is None:
        cpuinfo = _cpuinfo()
    for line in (cpuinfo or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return bool(BF16_FLAGS & set(value.split()))
    return None


@lru_cache(maxsize=1)
def _cpuinfo():
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return None


def check_compile(compile):
    """"auto" | "always" | "never"; True / False are read as "always" / "never"."""
    if compile is True or compile is False:
        return "always" if compile else "never"
    if compile not in COMPILES:
        raise InputError(f"compile must be one of {COMPILES} (or True / False), got {compile!r}")
    return compile


@contextmanager
def fast_path(model):
    """G's fast path for frames rendered through a model's own API (EDTalk.animate, RETA.render,
    generate_window) rather than a pipeline, e.g. a notebook's few frames: within the block the model's
    modulated convs run their shared-weight form, with the weights prepared once for the block, under
    no_grad (inference only; do not change the weights inside). No compile: a few frames never pay for one.

        with fast_path(edtalk):
            frames = edtalk.animate(source, mouth=drivers)       # (B, 3, S, S), ~1e-6 from the fused form
    """
    with torch.no_grad(), modconv_form(model, "shared", prepare=True):
        yield model


class Renderer:
    """Runs a Generator (models/generator.py) for a pipeline: G(latent, feats, f_exp=None) -> frames."""

    def __init__(self, generator, form="shared", compile="auto", dtype="float32"):
        if form not in ModulatedConv2d.FORMS:
            raise InputError(f"form must be one of {ModulatedConv2d.FORMS}, got {form!r}")
        if dtype not in DTYPES:
            raise InputError(f"dtype must be one of {tuple(DTYPES)}, got {dtype!r}")
        compile = check_compile(compile)
        if compile == "always" and form != "shared":
            raise InputError("compile needs form='shared' (the fused form builds per-sample weights in every call); "
                             "use form='shared', or compile='never' for the fused form")
        self.generator, self.form, self.compile, self.dtype = generator, form, compile, dtype
        self.compiled = None                 # torch.compile(G), built on the first clip that compiles
        self.compiled_batch = 0              # the batch size it was compiled at
        self.compile_seconds = None          # wall time of the first compiled call (the compilation)
        self.compile_failed = False          # compile="auto" and torch.compile failed: G runs eager (with a warning)
        self._layouts = {}                   # per clip: the identity pyramid in channels-last layout

    def will_compile(self, num_frames):
        """Whether a clip of num_frames frames runs G compiled."""
        if self.compile != "auto" or self.compile_failed:
            return self.compile == "always"
        device = next(self.generator.parameters()).device
        return (self.form == "shared" and device.type == "cpu"
                and num_frames >= compile_min_frames(self.generator.size))

    @contextmanager
    def clip(self, num_frames):
        """Within the block, G's forms are set (and restored on exit) and the shared weights prepared once;
        yields the function that renders a batch."""
        compiled = self.will_compile(num_frames)
        self._warn_if_emulated_bf16()
        self._layouts = {}
        try:
            with torch.no_grad(), modconv_form(self.generator, self.form, prepare=True):
                yield (lambda latent, feats, f_exp=None: self._run(compiled, latent, feats, f_exp))
        finally:
            self._layouts = {}

    def _warn_if_emulated_bf16(self):
        if self.dtype != "bfloat16" or next(self.generator.parameters()).device.type != "cpu":
            return
        if native_bf16() is False:
            warnings.warn("this CPU has no bfloat16 instructions (AVX-512 BF16, AMX or Arm BF16): bfloat16 is "
                          "emulated and runs slower than float32 (measured 0.44x on such a CPU); use --dtype "
                          "float32 (dtype='float32')", TalkingLibWarning)

    def _channels_last(self, feats):
        """The identity pyramid in channels-last layout (the shared form), converted once per clip: the convs
        and warps read it in that layout without a per-call copy. Full, 256², batch 1: compiled G 106-114 ms
        a frame with the pyramid as encoded (NCHW), 80-86 ms channels-last; eager 150-168 -> 139-152 ms."""
        key = tuple(id(f) for f in feats)
        if key not in self._layouts:                         # the originals are held too: their ids stay theirs
            self._layouts[key] = (feats, [f.contiguous(memory_format=torch.channels_last) for f in feats])
        return self._layouts[key][1]

    def _run(self, compiled, latent, feats, f_exp):
        B = latent.shape[0]
        if self.form == "shared":                            # "fused" keeps the official layout, for parity
            feats = self._channels_last(feats)
        compiled = compiled and not self.compile_failed
        n = max(B, self.compiled_batch) if compiled else B   # a compiled G runs at one batch size
        if n > B:                                            # the clip's last, shorter batch: padded (no recompile)
            rows = lambda x: None if x is None else torch.cat([x, x[-1:].expand(n - B, *x.shape[1:])])   # noqa: E731
            latent, f_exp = rows(latent), rows(f_exp)
            feats = [f if f.shape[0] == 1 else rows(f) for f in feats]
        # a batch-1 pyramid is broadcast (stride 0), in the padded batch as in every other: the same strides,
        # so the compiled graph's guards hold and it does not compile again
        feats = [f.expand(n, *f.shape[1:]) if f.shape[0] == 1 and n > 1 else f for f in feats]   # (n, C_r, r, r)
        amp = (torch.autocast(latent.device.type, dtype=DTYPES[self.dtype]) if DTYPES[self.dtype] is not None
               else nullcontext())
        with amp:
            out = self._compiled(latent, feats, f_exp) if compiled else self.generator(latent, feats, f_exp)
        return out[:B].float()

    def _compiled(self, latent, feats, f_exp):
        n = latent.shape[0]
        if n <= self.compiled_batch:
            return self.compiled(latent, feats, f_exp)
        t0 = time.perf_counter()                             # a new (larger) batch: this call compiles
        try:
            if self.compiled is None:                        # the first torch.compile of a process imports dynamo
                self.compiled = torch.compile(self.generator, dynamic=False)
            out = self.compiled(latent, feats, f_exp)
        except Exception as e:                               # e.g. no C++ compiler for inductor's CPU kernels
            why = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200] if str(e).strip() else ''}"
            if self.compile == "always":
                raise InputError(f"torch.compile could not compile G ({why}); run without compiling: "
                                 "compile='never' (--compile never)") from e
            warnings.warn(f"torch.compile could not compile G ({why}); G runs eager, as fast as --compile never "
                          "(which skips the attempt)", TalkingLibWarning)
            self.compile_failed = True
            return self.generator(latent, feats, f_exp)
        self.compile_seconds = (self.compile_seconds or 0) + time.perf_counter() - t0
        self.compiled_batch = n
        return out
