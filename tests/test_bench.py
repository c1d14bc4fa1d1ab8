"""`talkinglib bench` and what makes inference fast: each speed-up computes the same frames."""
import json

import pytest
import torch

from talkinglib.models.edtalk import PRESETS, EDTalk
from talkinglib.models.layers.stylegan2 import ModulatedConv2d, set_modconv_form


@pytest.mark.parametrize("upsample", [False, True])
@pytest.mark.parametrize("demodulate", [True, False])
def test_shared_weight_modconv_equals_the_fused_form(upsample, demodulate):
    torch.manual_seed(0)
    m = ModulatedConv2d(8, 6, 3, 16, demodulate=demodulate, upsample=upsample)
    x, s = torch.randn(3, 8, 10, 10), torch.randn(3, 16)
    fused = m(x, s)
    m.form = "shared"
    shared = m(x, s)
    assert shared.shape == fused.shape == (3, 6, 20 if upsample else 10, 20 if upsample else 10)
    assert torch.allclose(shared, fused, atol=1e-5, rtol=1e-5)
    # per sample: a batch of three equals three batches of one (each sample has its own style)
    assert torch.allclose(torch.cat([m(x[i:i + 1], s[i:i + 1]) for i in range(3)]), shared, atol=1e-6)
    with pytest.raises(ValueError, match="form must be one of"):
        set_modconv_form(m, "grouped")


def test_the_expression_applied_once_per_clip_gives_the_per_frame_result():
    """EEM depends on the source and the expression only: generate(lat, express(feats, W^e)) is
    generate(lat, feats, expression=W^e), bit for bit at batch 1."""
    torch.manual_seed(0)
    m = EDTalk(PRESETS["tiny"]).eval()
    g = torch.Generator().manual_seed(1)
    src = torch.rand(1, 3, 64, 64, generator=g) * 2 - 1
    w_e = torch.randn(1, 10, generator=g)
    with torch.no_grad():
        code = m.encode(src)
        lat = m.compose(code.latent, mouth=torch.randn(1, 20, generator=g), expression=w_e)
        per_frame = m.generate(lat, code.feats, expression=w_e)
        once = m.generate(lat, m.express(code.feats, w_e))
        without = m.generate(lat, code.feats)
    assert torch.equal(per_frame, once)
    assert (per_frame - without).abs().max() > 1e-3                    # EEM does act: this is not a no-op


@pytest.mark.parametrize("mode", ["edtalk-a", "edtalk-v", "reta"])
def test_bench_times_ours_against_the_per_frame_loop_on_the_same_frames(mode):
    from talkinglib.eval.bench import bench
    r = bench("tiny", mode, frames=8, batch_sizes=(1, 4))
    assert r["frames"] == 8 and r["size"] == 64 and set(r["ours"]) == {"1", "4"}
    assert r["per_frame"]["fps"] > 0 and r["speedup_vs_per_frame"] > 0 and r["latency_ms"] > 0
    assert r["max_abs_diff"] < 1e-4 and r["output_abs_max"] > 0.1   # the same frames, and not all zero
    if mode == "edtalk-a":          # batch 1 in the official form runs the very same operations
        assert r["ours"]["1"]["max_abs_diff"] == 0.0


def test_bench_cli_writes_json_and_rejects_bad_options(tmp_path):
    from talkinglib.cli import main
    out = tmp_path / "b.json"
    assert main(["bench", "--preset", "tiny", "--mode", "edtalk-a", "--frames", "6", "--batch-size", "3",
                 "--form", "shared", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["config"]["form"] == "shared" and r["max_abs_diff"] < 1e-4 and r["best_batch_size"] == 3
    from talkinglib.eval.bench import BenchConfig
    with pytest.raises(ValueError, match="compile=True is implemented for mode='edtalk-a'"):
        BenchConfig(mode="reta", compile=True)
    with pytest.raises(ValueError, match="frames must be >= 5"):
        BenchConfig(frames=2)


def test_compiled_pipeline_gives_the_eager_frames():
    """EDTalkA(compile=True): G through torch.compile with inductor's freezing; same frames."""
    from talkinglib.inference.edtalk_a import EDTalkA
    from talkinglib.models.audio2lip import PRESETS as A2L, Audio2Lip
    from talkinglib.eval.bench import stand_in_weights
    torch.manual_seed(0)
    m = EDTalk(PRESETS["tiny"]).eval()
    stand_in_weights(m.dec)
    a2l = Audio2Lip(A2L["tiny"]).eval()
    src = torch.rand(1, 3, 64, 64) * 2 - 1
    wav = 0.1 * torch.randn(6 * 640)
    eager = EDTalkA(m, a2l, batch_size=3)(src, wav)
    fast = EDTalkA(m, a2l, batch_size=3, form="shared", compile=True)(src, wav)
    set_modconv_form(m, "fused")
    assert fast.shape == eager.shape == (6, 3, 64, 64)
    assert (fast - eager).abs().max() < 1e-4
