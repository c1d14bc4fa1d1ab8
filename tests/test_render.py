"""G's fast path (inference/render.py): shared-weight convs with weights prepared per clip, compile="auto",
bfloat16; and every pipeline uses it and leaves the model as it found it."""
import warnings

import pytest
import torch

from talkinglib.errors import InputError, TalkingLibWarning
import talkinglib.inference.render as render
from talkinglib.inference.render import (COMPILE_MIN_FRAMES_256, Renderer, compile_min_frames, default_batch_size,
                                         native_bf16)
from talkinglib.models.edtalk import PRESETS, EDTalk
from talkinglib.models.layers.stylegan2 import ModulatedConv2d, modconv_form, prepare_shared


def forms(model):
    return {m.form for m in model.modules() if isinstance(m, ModulatedConv2d)}


@pytest.fixture(scope="module")
def tiny():
    from talkinglib.models.stand_in import stand_in_weights
    torch.manual_seed(0)
    m = EDTalk(PRESETS["tiny"]).eval()
    stand_in_weights(m.dec)
    return m


def test_prepared_shared_weights_give_the_same_frames_and_are_dropped_on_exit(tiny):
    g = torch.Generator().manual_seed(1)
    lat, src = torch.randn(3, 128, generator=g), torch.rand(1, 3, 64, 64, generator=g) * 2 - 1
    with torch.no_grad():
        feats = [f.expand(3, *f.shape[1:]) for f in tiny.encode(src).feats]
        fused = tiny.dec(lat, feats)
        with modconv_form(tiny.dec, "shared"):
            assert forms(tiny) == {"shared"}
            shared = tiny.dec(lat, feats)
            with prepare_shared(tiny.dec):
                assert all(m.prepared is not None for m in tiny.modules() if isinstance(m, ModulatedConv2d))
                prepared = tiny.dec(lat, feats)
        assert forms(tiny) == {"fused"}                                   # restored
        assert all(m.prepared is None for m in tiny.modules() if isinstance(m, ModulatedConv2d))
    assert torch.allclose(prepared, shared, atol=1e-6) and torch.allclose(shared, fused, atol=1e-5)
    assert (shared - fused).abs().max() > 0                                # another order: not the same code path


def test_compile_auto_compiles_clips_long_enough_to_pay_for_it(tiny):
    assert compile_min_frames(256) == COMPILE_MIN_FRAMES_256 and compile_min_frames(64) == 16 * COMPILE_MIN_FRAMES_256
    r = Renderer(tiny.dec)                                                 # the defaults: shared, auto, float32
    n = compile_min_frames(64)
    assert not r.will_compile(n - 1) and r.will_compile(n)
    assert Renderer(tiny.dec, compile="always").will_compile(5) and not Renderer(tiny.dec, compile=False).will_compile(10**6)
    assert not Renderer(tiny.dec, form="fused").will_compile(10**6)       # the fused form never compiles
    with pytest.raises(InputError, match="compile needs form='shared'"):
        Renderer(tiny.dec, form="fused", compile="always")
    with pytest.raises(InputError, match="dtype must be one of"):
        Renderer(tiny.dec, dtype="int8")


def test_bfloat16_frames_are_close_to_float32_and_come_back_float32(tiny):
    lat = torch.randn(2, 128, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        feats = tiny.encode(torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(4)) * 2 - 1).feats
    with Renderer(tiny.dec).clip(2) as G:
        f32 = G(lat, feats)
    with Renderer(tiny.dec, dtype="bfloat16").clip(2) as G:
        bf16 = G(lat, feats)
    assert bf16.dtype == torch.float32 and f32.shape == bf16.shape == (2, 3, 64, 64)
    assert 1e-4 < (bf16 - f32).abs().max() < 0.1


def test_edtalk_v_pipeline_gives_animates_frames_and_leaves_the_forms(tiny):
    from talkinglib.inference.edtalk_v import EDTalkV
    g = torch.Generator().manual_seed(3)
    src, a, b = (torch.rand(n, 3, 64, 64, generator=g) * 2 - 1 for n in (1, 5, 5))
    with torch.no_grad():
        ref = tiny.animate(src, mouth=a, pose=b, expression=a)
    out = EDTalkV(tiny, batch_size=2)(src, {"mouth": a, "pose": b, "expression": a})
    assert out.shape == (5, 3, 64, 64) and (out - ref).abs().max() < 1e-4
    assert forms(tiny) == {"fused"}
    with pytest.raises(InputError, match="differ in length"):
        EDTalkV(tiny)(src, {"mouth": a, "pose": b[:3]})


def test_default_batch_size_follows_the_image_area_on_a_cpu():
    """Batch 1 at 256² and 4 at 64² on a CPU (G is memory-bound: the fastest measured there), 32 on a GPU."""
    assert [default_batch_size("cpu", s) for s in (512, 256, 128, 64, 32)] == [1, 1, 1, 4, 16]
    assert default_batch_size("cuda", 256) == default_batch_size(torch.device("cuda:0"), 64) == 32


def test_a_clip_that_ends_early_gives_the_model_back(tiny):
    """A clip left by an exception, or a stream closed after one batch, restores the forms and drops the
    weights prepared for the clip (a later call must not read them)."""
    from talkinglib.inference.edtalk_v import EDTalkV
    mods = [m for m in tiny.modules() if isinstance(m, ModulatedConv2d)]
    lat = torch.randn(1, 128, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        feats = tiny.encode(torch.zeros(1, 3, 64, 64)).feats
    with pytest.raises(RuntimeError, match="stop"):
        with Renderer(tiny.dec).clip(3) as G:
            G(lat, feats)
            raise RuntimeError("stop")
    assert forms(tiny) == {"fused"} and all(m.prepared is None for m in mods)
    src, video = torch.zeros(1, 3, 64, 64), torch.zeros(9, 3, 64, 64)
    stream = EDTalkV(tiny, batch_size=2).stream(src, video)
    next(stream)
    assert forms(tiny) == {"shared"} and all(m.prepared is not None for m in mods)   # inside the clip
    stream.close()
    assert forms(tiny) == {"fused"} and all(m.prepared is None for m in mods)


def test_a_compile_that_fails_warns_and_runs_eager_or_says_what_to_do(tiny, monkeypatch):
    """compile="auto": a failed torch.compile (e.g. no C++ compiler) gives one warning and eager frames;
    compile="always": an InputError that names --compile never."""
    def broken(model, **kw):
        def run(*a, **k):
            raise RuntimeError("no C++ compiler found\nmore lines")
        return run
    monkeypatch.setattr(torch, "compile", broken)
    lat = torch.randn(2, 128, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        feats = tiny.encode(torch.zeros(1, 3, 64, 64)).feats
    with Renderer(tiny.dec, compile="never").clip(2) as G:
        eager = G(lat, feats)
    r = Renderer(tiny.dec)
    n = compile_min_frames(64)
    with pytest.warns(TalkingLibWarning, match="could not compile G .RuntimeError: no C.. compiler found.; G runs eager"):
        with r.clip(n) as G:
            out = G(lat, feats)
    assert torch.equal(out, eager) and r.compile_failed and not r.will_compile(n)
    with pytest.raises(InputError, match="--compile never"):
        with Renderer(tiny.dec, compile="always").clip(2) as G:
            G(lat, feats)


def test_fast_path_renders_a_models_own_calls_in_the_shared_form_and_gives_it_back(tiny):
    """fast_path(model): EDTalk.animate through the shared form with prepared weights, the fused form's frames
    to float rounding; on exit the forms and weights are the model's own again."""
    from talkinglib.inference.render import fast_path
    g = torch.Generator().manual_seed(7)
    src, drivers = torch.rand(1, 3, 64, 64, generator=g) * 2 - 1, torch.rand(3, 3, 64, 64, generator=g) * 2 - 1
    with torch.no_grad():
        fused = tiny.animate(src, mouth=drivers, pose=drivers)
    with fast_path(tiny):
        assert forms(tiny) == {"shared"}
        fast = tiny.animate(src, mouth=drivers, pose=drivers)
    assert forms(tiny) == {"fused"} and all(m.prepared is None for m in tiny.modules() if isinstance(m, ModulatedConv2d))
    assert 0 < (fast - fused).abs().max() < 1e-4


def test_native_bf16_reads_the_cpu_flags_and_says_when_it_cannot_tell():
    assert native_bf16("processor : 0\nflags : fpu sse2 avx2 avx512f avx512_bf16 amx_tile\n") is True
    assert native_bf16("flags : fpu sse2 avx2 avx512f avx512bw avx512_vnni\n") is False      # AVX-512, no BF16
    assert native_bf16("Features : fp asimd sve bf16 i8mm\n") is True                          # Arm
    assert native_bf16("Features : fp asimd\n") is False
    assert native_bf16("") is None


def test_bfloat16_on_a_cpu_without_bf16_instructions_warns(tiny, monkeypatch):
    lat = torch.randn(1, 128, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        feats = tiny.encode(torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(4)) * 2 - 1).feats
    monkeypatch.setattr(render, "_cpuinfo", lambda: "flags : fpu avx2 avx512f\n")
    with pytest.warns(TalkingLibWarning, match="no bfloat16 instructions.*--dtype float32"):
        with Renderer(tiny.dec, dtype="bfloat16").clip(1) as G:
            G(lat, feats)
    monkeypatch.setattr(render, "_cpuinfo", lambda: "flags : fpu avx2 avx512f avx512_bf16\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")                           # a CPU that has it: no warning
        with Renderer(tiny.dec, dtype="bfloat16").clip(1) as G:
            G(lat, feats)
        with Renderer(tiny.dec).clip(1) as G:                    # float32 never warns
            G(lat, feats)
