"""RETA's modules: 3DMM bridge, emotion teacher/student, audio encoder, hierarchical generator, losses."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from talkinglib import checkpoints
from talkinglib.losses import reta as L
from talkinglib.models.audio_encoder import PRESETS as AUDIO_PRESETS, AudioEncoder
from talkinglib.models.bridge_3dmm import (BridgeConfig, GeometricPrior, Morphable3DMM, ThreeDMMFileError,
                                           lip_vertex_error)
from talkinglib.models.edtalk import PRESETS as EDTALK_PRESETS, EDTalk
from talkinglib.models.emotion import PRESETS as TEACHER_PRESETS, EmotionStudent, EmotionTeacher
from talkinglib.models.generator import Generator
from talkinglib.models.reta import PRESETS, RETA, RETAConfig
from talkinglib.synth.morphable import build_morphable_model


@pytest.fixture(scope="module")
def mm():
    return Morphable3DMM.synthtalk()


# -- 3DMM bridge ----------------------------------------------------------------------------------
def test_meshes_are_synthtalks_3dmm_on_the_mean_face(mm):
    ref = build_morphable_model()
    p = np.random.default_rng(0).normal(size=(4, ref.U_exp.shape[1])).astype(np.float32)
    ours = mm.shapes(torch.from_numpy(p)).numpy()
    assert np.allclose(ours, ref.shape(np.zeros(ref.U_id.shape[1], np.float32), p), atol=1e-5)
    assert mm.lip.sum() > 10 and mm.lip.sum() < mm.num_vertices // 4


def test_the_bridge_is_differentiable_and_starts_silent(mm):
    torch.manual_seed(0)
    gp = GeometricPrior(16, BridgeConfig(hidden=32, encoder_hidden=32, motion_dim=24), mm)
    out = gp(torch.randn(2, 9, 16))
    assert out["p_exp"].shape == (2, 9, mm.exp_dim) and out["meshes"].shape == (2, 9, mm.num_vertices, 3)
    assert out["f_M"].shape == (2, 9, 24) and out["f_M"].abs().max() == 0      # E_M's last layer starts at 0
    torch.nn.init.normal_(gp.encoder.out.weight)
    gp(torch.randn(2, 9, 16))["f_M"].pow(2).sum().backward()
    assert gp.decoder.inp.weight.grad.abs().sum() > 0                          # f_M -> meshes -> p_exp -> D
    direct = GeometricPrior(16, BridgeConfig(bridge="direct", hidden=32, motion_dim=24))
    assert set(direct(torch.randn(1, 5, 16))) == {"f_M"}


def test_offset_norm_gives_e_m_unit_scale_offsets(mm):
    """BridgeConfig.offset_norm (ours): E_M's input is the vertex offsets over their RMS under p^exp ~ N(0, I),
    so it has about unit RMS there, the same E_M weights see the offsets scaled and nothing else changes."""
    seen = []
    p = torch.randn(4000, mm.exp_dim, generator=torch.Generator().manual_seed(0))
    off = mm.shapes(p) - mm.mean
    for norm in (False, True):
        torch.manual_seed(0)
        gp = GeometricPrior(16, BridgeConfig(hidden=32, encoder_hidden=32, motion_dim=24, offset_norm=norm), mm)
        gp.encoder.register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
        gp(torch.randn(1, 5, 16))
    raw, normed = seen
    scale = raw.norm() / normed.norm()
    assert torch.allclose(raw, normed * scale, atol=1e-7), "one constant scale"
    assert abs((off / scale).pow(2).mean().sqrt().item() - 1) < 0.05
    assert off.pow(2).mean().sqrt() < 0.1, "SynthTalk's 3DMM-lite: raw offsets are small"


def test_a_bfm_style_file_loads_and_a_broken_one_says_what_is_missing(tmp_path, mm):
    V = mm.num_vertices
    tri = mm.triangles.numpy() + 1                                             # MATLAB's 1-based indices
    np.savez(tmp_path / "bfm.npz", meanshape=mm.mean.numpy().reshape(1, -1), idBase=mm.U_id.numpy(),
             exBase=mm.U_exp.numpy(), tri=tri, lip_vertices=np.flatnonzero(mm.lip.numpy()) + 1)
    loaded = Morphable3DMM.from_file(tmp_path / "bfm.npz")
    assert loaded.num_vertices == V and torch.equal(loaded.triangles, mm.triangles)
    assert torch.equal(loaded.lip, mm.lip)
    p = torch.randn(3, mm.exp_dim)
    assert torch.allclose(loaded.shapes(p), mm.shapes(p))
    np.savez(tmp_path / "broken.npz", meanshape=mm.mean.numpy(), tri=tri)
    with pytest.raises(ThreeDMMFileError, match=r"id \(any of id_basis, idBase.*exp \(any of"):
        Morphable3DMM.from_file(tmp_path / "broken.npz")
    np.savez(tmp_path / "bad_tri.npz", meanshape=mm.mean.numpy(), idBase=mm.U_id.numpy(), exBase=mm.U_exp.numpy(),
             tri=tri + 5)
    with pytest.raises(ThreeDMMFileError, match="triangle indices"):
        Morphable3DMM.from_file(tmp_path / "bad_tri.npz")
    with pytest.raises(ThreeDMMFileError, match="inconsistent"):
        Morphable3DMM(mm.mean.numpy(), mm.U_id.numpy()[:-3], mm.U_exp.numpy())


def test_lip_vertex_error(mm):
    p = torch.randn(10, mm.exp_dim) * 0.1
    assert lip_vertex_error(mm, p, p) == 0
    q = p.clone()
    q[:, 0] += 0.5                                                             # coefficient 0 moves the jaw
    assert lip_vertex_error(mm, q, p) > 0.01


# -- emotion and audio ----------------------------------------------------------------------------
def test_teacher_head_reads_its_own_embedding_and_the_student_lives_in_that_space():
    torch.manual_seed(0)
    t = EmotionTeacher(TEACHER_PRESETS["tiny"]).eval()
    up = lambda x, s: torch.nn.functional.interpolate(x, size=s, mode="bilinear", align_corners=False)  # noqa: E731
    x = up(torch.rand(3, 3, 8, 8) * 2 - 1, 64)                                 # a smooth image
    f, z = t(x)
    assert torch.allclose(t.head(f), z) and f.shape == (3, t.hidden) and z.shape == (3, 8)
    f2 = t(up(x, 128))[0]                                                      # a larger frame is resized to 64²
    assert torch.nn.functional.cosine_similarity(f2, f).min() > 0.95
    s = EmotionStudent(20, t.hidden)
    assert t.head(s(torch.randn(2, 7, 20))).shape == (2, 7, 8)


def test_audio_encoder_gives_one_row_per_video_frame():
    torch.manual_seed(0)
    enc = AudioEncoder(AUDIO_PRESETS["tiny"])
    assert enc(torch.randn(2, 16000)).shape == (2, 25, enc.dim)               # 1 s at 25 fps
    assert enc(torch.randn(1, 16000), 30).shape == (1, 30, enc.dim)
    with pytest.raises(ValueError, match="400 samples"):
        enc(torch.randn(1, 100))
    with pytest.raises(ValueError, match="B, N"):
        enc(torch.randn(16000))


# -- generator ------------------------------------------------------------------------------------
def test_per_level_styles_equal_one_style_when_repeated():
    torch.manual_seed(0)
    G = Generator(32, 16, 256, 32, eem_hidden=8)
    feats = [torch.randn(2, min(32, 256 // r), r, r) for r in (8, 16, 32)]      # E's widths
    w = torch.randn(2, 16)
    assert torch.allclose(G(w, feats), G(w[:, None].expand(-1, G.num_levels, -1), feats))
    w2 = w[:, None].repeat(1, G.num_levels, 1)
    w2[:, -1] += 1                                                             # only the finest level differs
    assert not torch.allclose(G(w, feats), G(w2, feats))
    with pytest.raises(ValueError, match="per-level styles"):
        G(torch.randn(2, 3, 16), feats)
    with pytest.raises(ValueError, match="without EEM"):
        Generator(32, 16, 256, 32, eem=False)(w, feats, f_exp=torch.randn(2, 16))


def _tiny_reta(**kw):
    return RETA(replace(PRESETS["tiny"], **kw))


def test_reta_starts_as_edtalks_reconstruction_of_the_source():
    torch.manual_seed(0)
    edtalk = EDTalk(EDTALK_PRESETS["tiny"]).eval()
    model = _tiny_reta().init_from_edtalk(edtalk).eval()
    src = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        out = model(src, torch.randn(2, 8000))                                 # 0.5 s -> 12 frames
        code = edtalk.encode(src)
        ref = edtalk.generate(code.latent, code.feats)
    assert out.shape == (2, 12, 3, 64, 64)
    assert torch.allclose(out, ref[:, None].expand_as(out), atol=1e-3)        # float32 rounding (outputs ~2)
    with pytest.raises(ValueError, match="does not fit"):
        _tiny_reta().init_from_edtalk(EDTalk(replace(EDTALK_PRESETS["tiny"], latent_dim=64)))


def test_hierarchical_injection_routes_motion_early_and_emotion_late():
    torch.manual_seed(0)
    model = _tiny_reta(fine_motion=False)                                      # RETA's routing
    torch.nn.init.normal_(model.emotion_proj.weight)
    sty, f_m, f_e = torch.randn(3, 128), torch.randn(3, 128), torch.randn(3, 96)
    w = model.control_styles(sty, f_m, f_e)                                    # (3, 5, 128)
    k = model.cfg.motion_levels
    assert w.shape == (3, model.dec.num_levels, 128)
    assert torch.allclose(w[:, :k], (sty + f_m)[:, None].expand(-1, k, -1))
    assert torch.allclose(w[:, k:], (sty + model.emotion_proj(f_e))[:, None].expand(-1, w.shape[1] - k, -1))
    concat = _tiny_reta(injection="concat")
    torch.nn.init.normal_(concat.emotion_proj.weight)
    concat.emotion_proj.load_state_dict(model.emotion_proj.state_dict())
    wc = concat.control_styles(sty, f_m, f_e)                                  # every level: the (initial) sum
    assert torch.allclose(wc, (sty + f_m + model.emotion_proj(f_e))[:, None].expand_as(wc), atol=1e-5)
    no_style = _tiny_reta(style=False, geometric=False, emotion=False).control_styles(sty, f_m, f_e)
    assert no_style.abs().max() == 0
    fine = _tiny_reta(fine_motion=True)                                        # ours: f_M at every level
    fine.emotion_proj.load_state_dict(model.emotion_proj.state_dict())
    wf = fine.control_styles(sty, f_m, f_e)
    assert torch.allclose(wf[:, :k], w[:, :k]), "early levels: f_STY + f_M, as RETA"
    assert torch.allclose(wf[:, k:], w[:, k:] + f_m[:, None]), "later levels: f_M joins f_E"


def test_reta_config_round_trips_through_a_checkpoint_dict():
    cfg = replace(PRESETS["tiny"], injection="concat", bridge=replace(PRESETS["tiny"].bridge, bridge="direct"))
    back = checkpoints.config_from_dict(RETAConfig, checkpoints.config_to_dict(cfg))
    assert back == cfg
    with pytest.raises(ValueError, match="motion_dim"):
        replace(PRESETS["tiny"], latent_dim=64)


# -- losses ---------------------------------------------------------------------------------------
def test_reta_losses():
    x = torch.randn(4, 8, requires_grad=True)
    with torch.no_grad():
        assert L.sync_cosine_loss(x, x).abs() < 1e-6 and abs(float(L.sync_cosine_loss(x, -x)) - 2) < 1e-6
        assert L.emotion_kl_loss(x, x).abs() < 1e-6
    # KL(P(z_gt) ‖ P(z_gen)) by hand for P = (0.5, 0.5), Q = (0.9, 0.1): asymmetric, so the order shows
    z_gt = torch.zeros(1, 2, requires_grad=True)
    z_gen = torch.log(torch.tensor([[0.9, 0.1]])).requires_grad_(True)
    kl = L.emotion_kl_loss(z_gt, z_gen)
    assert float(kl) == pytest.approx(0.5 * np.log(0.5 / 0.9) + 0.5 * np.log(0.5 / 0.1), rel=1e-5)
    kl.backward()
    assert z_gt.grad is None and z_gen.grad.abs().sum() > 0                   # sg(z_gt)
    y = torch.randn(4, 8, requires_grad=True)
    L.distillation_loss(x, y).backward()
    assert x.grad is not None and y.grad is None                               # sg(f_V)
    real, fake = torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)
    mask = torch.zeros(2, 1, 4, 4)
    mask[..., :2, :] = 1
    assert float(L.masked_l1_loss(real, fake, mask)) == pytest.approx(0.5)
    d_real, d_fake = torch.tensor([[2.0]]), torch.tensor([[0.0]])
    assert float(L.relativistic_g_loss(d_real, d_fake)) == pytest.approx(float(torch.nn.functional.softplus(
        torch.tensor(2.0))))
    assert float(L.relativistic_d_loss(d_real, d_fake)) < float(L.relativistic_g_loss(d_real, d_fake))


def test_the_pipeline_renders_what_the_model_does_in_batches():
    from talkinglib.inference.reta import RETAPipeline
    torch.manual_seed(0)
    model = _tiny_reta().eval()
    torch.nn.init.normal_(model.geometry.encoder.out.weight, std=0.01)   # let audio move the frames
    torch.nn.init.normal_(model.emotion_proj.weight, std=0.01)
    img, wav = torch.rand(3, 64, 64) * 2 - 1, torch.randn(8000)
    frames = RETAPipeline(model, batch_size=5)(img, wav)
    with torch.no_grad():
        ref = model(img[None], wav[None])[0]
    assert frames.shape == (12, 3, 64, 64) and (frames - ref).abs().max() < 1e-3
    assert (frames[0] - frames[-1]).abs().max() > 0
    with pytest.raises(ValueError, match="16 kHz"):
        RETAPipeline(model)(img, wav, sample_rate=8000)
    with pytest.raises(ValueError, match="one identity image"):
        RETAPipeline(model)(img[None].repeat(2, 1, 1, 1), wav)
