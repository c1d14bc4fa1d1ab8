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
    r = bench("tiny", mode, frames=8, batch_sizes=(1, 4))            # the defaults: G's fast path
    assert r["frames"] == 8 and r["size"] == 64 and set(r["ours"]) == {"1", "4"}
    assert r["config"]["form"] == "shared" and r["config"]["compile"] == "auto"
    assert not r["ours"]["4"]["compiled"] and "compile" not in r     # 8 frames: far too short to pay for compiling
    assert r["per_frame"]["fps"] > 0 and r["speedup_vs_per_frame"] > 0 and r["latency_ms"] > 0
    assert r["max_abs_diff"] < 1e-4 and r["output_abs_max"] > 0.1   # the same frames, and not all zero
    assert r["max_abs_diff"] > 0                                       # ... by another summation order
    if mode == "edtalk-a":          # batch 1 in the official form runs the very same operations
        fused = bench("tiny", mode, frames=6, batch_sizes=(1,), form="fused", compile="never")
        assert fused["ours"]["1"]["max_abs_diff"] == 0.0


def test_bench_reports_bfloat16_as_its_own_row_with_its_psnr():
    from talkinglib.eval.bench import PSNR_CAP, bench
    r = bench("tiny", "edtalk-a", frames=6, batch_sizes=(3,), dtypes=("float32", "bfloat16"))
    row = r["dtypes"]["bfloat16"]
    assert set(r["dtypes"]) == {"bfloat16"} and row["batch_size"] == 3 and row["fps"] > 0
    assert 30 < row["psnr_db"] < PSNR_CAP and row["psnr_min_db"] <= row["psnr_db"]   # close, and not float32
    assert 1e-4 < row["max_abs_diff"] < 0.2
    assert "bfloat16" in format_bench_lines(r)
    from talkinglib.inference.render import native_bf16
    assert r["cpu_native_bf16"] == native_bf16()                      # whether that row ran on bf16 hardware


def format_bench_lines(r):
    from talkinglib.eval.bench import format_bench
    return format_bench(r)


def test_bench_cli_writes_json_and_rejects_bad_options(tmp_path):
    from talkinglib.cli import main
    out = tmp_path / "b.json"
    assert main(["bench", "--preset", "tiny", "--mode", "edtalk-a", "--frames", "6", "--batch-size", "3",
                 "--form", "fused", "--compile", "never", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["config"]["form"] == "fused" and r["max_abs_diff"] < 1e-4 and r["best_batch_size"] == 3
    from talkinglib.eval.bench import BenchConfig
    with pytest.raises(ValueError, match="compile needs form='shared'"):
        BenchConfig(form="fused", compile="always")
    with pytest.raises(ValueError, match="compile must be one of"):
        BenchConfig(compile="sometimes")
    with pytest.raises(ValueError, match="frames must be >= 5"):
        BenchConfig(frames=2)
    with pytest.raises(ValueError, match="dtypes must be among"):
        BenchConfig(dtypes=("int8",))
    with pytest.raises(SystemExit):                                                 # argparse refuses it
        main(["bench", "--preset", "tiny", "--compile", "sometimes"])


def test_bench_suite_runs_every_mode_and_dtype_on_cpu_at_tiny(tmp_path, capsys):
    """The GPU suite (`talkinglib bench --suite`), at tiny on CPU so it cannot rot."""
    from talkinglib.cli import main
    out = tmp_path / "suite.json"
    assert main(["bench", "--suite", "--preset", "tiny", "--frames", "5", "--batch-size", "2", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    rows = {(x["mode"], x["dtype"]): x for x in r["results"]}
    assert set(rows) == {(m, d) for m in ("edtalk-a", "edtalk-v", "reta") for d in ("float32", "bfloat16")}
    for (mode, dtype), x in rows.items():
        assert x["fps"] > 0 and x["latency_ms"] > 0 and x["frames"] == 5 and x["size"] == 64 and x["batch_size"] == 2
        assert ("psnr_db" in x) == (dtype != "float32")
    assert "reta      bfloat16" in capsys.readouterr().out


def test_compiled_pipeline_gives_the_eager_frames():
    """EDTalkA(compile="always"): G through torch.compile; the same frames as the official (fused, eager)
    order. 7 frames at batch 3: the last batch (1 frame) is padded to the compiled 3. The compiled G reads
    the weights prepared for each clip, so a clip after a change of the weights shows the change, without
    compiling again."""
    from torch._dynamo.utils import counters
    from talkinglib.inference.edtalk_a import EDTalkA
    from talkinglib.models.audio2lip import PRESETS as A2L, Audio2Lip
    from talkinglib.models.stand_in import stand_in_weights
    torch.manual_seed(0)
    m = EDTalk(PRESETS["tiny"]).eval()
    stand_in_weights(m.dec)
    a2l = Audio2Lip(A2L["tiny"]).eval()
    src = torch.rand(1, 3, 64, 64) * 2 - 1
    wav = 0.1 * torch.randn(7 * 640)
    eager = EDTalkA(m, a2l, batch_size=3, form="fused", compile="never")(src, wav)
    pipe = EDTalkA(m, a2l, batch_size=3, compile="always")
    graphs_before = counters["stats"]["unique_graphs"]                            # dynamo's compiled graphs so far
    fast = pipe(src, wav)
    assert fast.shape == eager.shape == (7, 3, 64, 64)
    assert (fast - eager).abs().max() < 1e-4
    assert pipe.render.compiled_batch == 3 and pipe.render.compile_seconds > 0    # compiled once, at batch 3
    graphs = counters["stats"]["unique_graphs"]
    with torch.no_grad():
        w = m.dec.image_mask.weight               # a modulated conv's (1, O, I, k, k); here it moves pixels most
        w[:, :, : w.shape[2] // 2] *= 0.5         # half its inputs: a change demodulation does not undo
    changed = pipe(src, wav)
    eager = EDTalkA(m, a2l, batch_size=3, form="fused", compile="never")(src, wav)
    assert (changed - fast).abs().max() > 1e-3 and (changed - eager).abs().max() < 1e-4
    assert counters["stats"]["unique_graphs"] == graphs == graphs_before + 1     # one compile: the padded batch too
    assert all(mod.form == "fused" for mod in m.modules() if isinstance(mod, ModulatedConv2d))   # left as found
