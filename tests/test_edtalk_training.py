"""EDTalk's three video-driven stages: two steps each change exactly the trainable parameters,
frozen modules stay bit-identical, and a stage resumes from its checkpoint as if never stopped."""
from dataclasses import replace

import numpy as np
import pytest
import torch


# the stages drive the EDTalk model (talkinglib/models/edtalk.py, issue 3); until it lands there is
# nothing to train, and these tests say so rather than fail on an import
pytest.importorskip("talkinglib.models.edtalk", reason="the EDTalk model has not landed yet")
from talkinglib import checkpoints
from talkinglib.errors import InputError  # noqa: E402
from talkinglib.train.edtalk_config import TRAIN_PRESETS, TRAINABLE  # noqa: E402

# every loss term on (adversarial from step 0, R1 at step 0), tiny batches
FAST = dict(batch_size=2, adv_start=0, r1_every=1, log_every=1, ckpt_every=1000, extra_identities=0, window=3)


def fast_cfg(stage, steps=2):
    return replace(TRAIN_PRESETS[stage]["tiny"], steps=steps, **FAST)


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def changed(before, after):
    return {k for k in before if not torch.equal(before[k], after[k])}


def buffer_names(model):
    """State-dict entries that are not parameters: BatchNorm statistics of the tiny E."""
    return set(model.state_dict()) - {n for n, _ in model.named_parameters()}


def trainable_names(model, stage):
    ids = {id(p) for g in TRAINABLE[stage] for p in model.param_groups()[g]}
    return {n for n, p in model.named_parameters() if id(p) in ids}


@pytest.fixture(scope="module")
def expert_ckpt(tiny_dataset, tmp_path_factory):
    """A 2-step L_mot expert (the loop is the probe's; quality does not matter here)."""
    from talkinglib.models.experts import EXPERT_PRESETS
    from talkinglib.train.probe import EXPERT_TRAIN_PRESETS, train_probe
    out = tmp_path_factory.mktemp("expert")
    cfg = replace(EXPERT_TRAIN_PRESETS["tiny"], steps=2, extra_identities=0, batch_size=4)
    train_probe(tiny_dataset, out, model_cfg=EXPERT_PRESETS["tiny"], cfg=cfg, progress=False, ckpt_name="expert.pt")
    return out / "expert.pt"


@pytest.fixture(scope="module")
def stage_runs(tiny_dataset, expert_ckpt, tmp_path_factory):
    """Two steps of each stage, chained through checkpoints, with the model before and after."""
    from talkinglib.models.edtalk import PRESETS, EDTalk
    from talkinglib.train.edtalk_autoencoder import train_autoencoder
    from talkinglib.train.edtalk_expression import train_expression
    from talkinglib.train.edtalk_mouth_pose import train_mouth_pose
    root = tmp_path_factory.mktemp("edtalk")
    torch.manual_seed(0)
    runs = {}
    init_sd = snapshot(EDTalk(PRESETS["tiny"]))     # train_autoencoder seeds with cfg.seed before building
    ae = train_autoencoder(tiny_dataset, root / "ae", cfg=fast_cfg("edtalk.autoencoder"), progress=False)
    runs["edtalk.autoencoder"] = (ae, init_sd)
    before = snapshot(checkpoints.load(root / "ae" / "edtalk.pt", "edtalk."))
    mp = train_mouth_pose(tiny_dataset, root / "mp", init=root / "ae" / "edtalk.pt",
                          cfg=fast_cfg("edtalk.mouth_pose"), progress=False)
    runs["edtalk.mouth_pose"] = (mp, before)
    before = snapshot(checkpoints.load(root / "mp" / "edtalk.pt", "edtalk."))
    ex = train_expression(tiny_dataset, root / "ex", init=root / "mp" / "edtalk.pt", expert=expert_ckpt,
                          cfg=fast_cfg("edtalk.expression"), progress=False)
    runs["edtalk.expression"] = (ex, before)
    return runs, root


@pytest.mark.parametrize("stage", ["edtalk.autoencoder", "edtalk.mouth_pose", "edtalk.expression"])
def test_two_steps_change_exactly_the_trainable_parameters(stage_runs, stage):
    runs, _ = stage_runs
    run, before = runs[stage]
    after = snapshot(run.model)
    buffers = buffer_names(run.model)
    diff = changed(before, after) - buffers
    expected = trainable_names(run.model, stage)
    assert expected, "the stage trains nothing"
    assert diff == expected, (f"changed but frozen: {sorted(diff - expected)[:5]}; "
                              f"trainable but unchanged: {sorted(expected - diff)[:5]}")
    stats = {n for n in changed(before, after) & buffers}
    if stage == "edtalk.autoencoder":          # E trains: its BatchNorm statistics follow the data
        assert stats and all(n.startswith("enc.") for n in stats)
    else:                                      # E frozen: it runs in eval mode, its statistics stay put
        assert not stats, f"a frozen E changed its BatchNorm statistics: {sorted(stats)[:3]}"
    for name, values in run.logger.history.items():
        assert all(torch.isfinite(torch.tensor(v)) for _, v in values), f"{name} is not finite"
    assert {"rec", "per", "adv", "d"} <= set(run.logger.history)


def test_mouth_pose_keeps_encoder_and_generator_bit_identical(stage_runs):
    runs, _ = stage_runs
    run, before = runs["edtalk.mouth_pose"]
    groups = run.model.param_groups()
    ids = {id(p) for g in ("encoder", "generator") for p in groups[g]}
    frozen = [n for n, p in run.model.named_parameters() if id(p) in ids]
    assert frozen
    after = run.model.state_dict()
    assert all(torch.equal(before[n], after[n]) for n in frozen)
    assert {"self", "fea"} <= set(run.logger.history)


def test_expression_stage_logs_its_losses(stage_runs):
    runs, _ = stage_runs
    run, _ = runs["edtalk.expression"]
    assert {"mot", "mc"} <= set(run.logger.history)


def test_stage_three_can_start_a_wider_eem_and_nothing_else(tiny_dataset, stage_runs, expert_ckpt, tmp_path):
    """model.eem_hidden, model.eem_block (ours): stage 3 builds EEM at another width or block, starting as the identity, so the
    stage-2 reconstruction is kept at step 0; every other tensor comes from --init; other model fields,
    or a kept (eem_init=keep) EEM, are refused with the fix."""
    from talkinglib.train.edtalk_expression import train_expression
    _, root = stage_runs
    init = root / "mp" / "edtalk.pt"
    before = checkpoints.load(init, "edtalk.").eval()
    cfg = fast_cfg("edtalk.expression", steps=0)
    run = train_expression(tiny_dataset, tmp_path / "w", init=init, expert=expert_ckpt, cfg=cfg, progress=False,
                           model_overrides={"eem_hidden": 2 * before.cfg.eem_hidden})
    wide = run.model.eval()
    assert wide.cfg.eem_hidden == 2 * before.cfg.eem_hidden
    old, new = before.state_dict(), wide.state_dict()
    resized = {k for k in new if new[k].shape != old[k].shape}
    assert resized and all(k.startswith("dec.fineadainresblock") for k in resized)
    assert all(torch.equal(new[k], old[k]) for k in new if not k.startswith("dec.fineadainresblock"))
    g = torch.Generator().manual_seed(0)
    src = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    with torch.no_grad():                    # EEM starts as the identity: the image is the one without EEM
        lat, feats = wide.encode(src)
        w = wide.navigate(lat)
        f = wide.compose(lat, **w)
        assert torch.allclose(wide.generate(f, feats, expression=w["expression"]), wide.generate(f, feats),
                              atol=1e-5)
    two = train_expression(tiny_dataset, tmp_path / "2c", init=init, expert=expert_ckpt, cfg=cfg, progress=False,
                           model_overrides={"eem_block": "two_conv"}).model.eval()   # the intended chain, eem.py
    with torch.no_grad():
        lat, feats = two.encode(src)
        f = two.compose(lat, **two.navigate(lat))
        assert two.cfg.eem_block == "two_conv"
        assert torch.allclose(two.generate(f, feats, expression=two.navigate(lat)["expression"]),
                              two.generate(f, feats), atol=1e-5)
    with pytest.raises(InputError, match="eem_init=identity"):
        train_expression(tiny_dataset, tmp_path / "k", init=init, expert=expert_ckpt, progress=False,
                         cfg=replace(cfg, eem_init="keep"), model_overrides={"eem_hidden": 64})
    with pytest.raises(InputError, match="cannot change in edtalk.expression"):
        train_expression(tiny_dataset, tmp_path / "b", init=init, expert=expert_ckpt, cfg=cfg, progress=False,
                         model_overrides={"bank": "direct"})


def test_stage_resumes_from_its_checkpoint(tiny_dataset, stage_runs, tmp_path, monkeypatch):
    """Stopping after step 1 and resuming gives the bytes of an uninterrupted 2-step run, with the discriminator
    the run saved even if the preset's has changed since."""
    from talkinglib.models import discriminator as disc
    from talkinglib.train.edtalk_mouth_pose import train_mouth_pose
    _, root = stage_runs
    cfg = fast_cfg("edtalk.mouth_pose")
    init = root / "ae" / "edtalk.pt"
    train_mouth_pose(tiny_dataset, tmp_path / "cut", init=init, cfg=cfg, progress=False, stop_at=1)
    cut = checkpoints.load_checkpoint(tmp_path / "cut" / "edtalk.pt")
    assert cut["step"] == 1 and cut["extra"]["discriminator_config"]["channel_max"] == 128
    monkeypatch.setitem(disc.PRESETS, "tiny", replace(disc.PRESETS["tiny"], channel_max=64))   # the preset moved on
    resumed = train_mouth_pose(tiny_dataset, tmp_path / "cut", init=init, cfg=cfg, progress=False)
    whole = checkpoints.load_checkpoint(root / "mp" / "edtalk.pt")
    assert resumed.step == 2
    for k, v in whole["model"].items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    for k, v in whole["extra"]["discriminator"].items():
        assert torch.equal(v, resumed.D.state_dict()[k]), k


def test_later_stages_need_an_init_checkpoint(tiny_dataset, tmp_path):
    from talkinglib.train.edtalk_mouth_pose import train_mouth_pose
    with pytest.raises(InputError, match="--init"):
        train_mouth_pose(tiny_dataset, tmp_path, init=None, cfg=fast_cfg("edtalk.mouth_pose"), progress=False)


def test_resuming_with_another_trained_parameter_set_names_the_fix(tiny_dataset, stage_runs, tmp_path):
    """drive_expression adds ELN and the expression bank to stage 1's optimizer: a resume of a run
    trained with another setting cannot restore its optimizer, and the error says how to start from it."""
    import shutil
    from talkinglib.train.edtalk_autoencoder import train_autoencoder
    _, root = stage_runs
    shutil.copytree(root / "ae", tmp_path / "ae")
    trained = checkpoints.load_checkpoint(root / "ae" / "edtalk.pt")["config"]["train"]["drive_expression"]
    cfg = replace(fast_cfg("edtalk.autoencoder", steps=4), drive_expression=not trained)
    with pytest.raises(checkpoints.CheckpointError, match="--init .*edtalk.pt --out NEW_DIR"):
        train_autoencoder(tiny_dataset, tmp_path / "ae", cfg=cfg, progress=False)


def test_resuming_another_stages_checkpoint_is_refused(tiny_dataset, stage_runs, tmp_path):
    from talkinglib.train.edtalk_expression import train_expression
    _, root = stage_runs
    with pytest.raises(checkpoints.CheckpointError, match="belongs to stage"):
        train_expression(tiny_dataset, root / "mp", init=root / "mp" / "edtalk.pt", cfg=fast_cfg("edtalk.expression"),
                         progress=False)


def test_autoencoder_aids_are_trained_and_logged(tiny_dataset, tmp_path):
    """The tiny teaching aids (EDTalkTrainConfig.w_factors, w_mouth, same_fraction, w_per=0) run
    together: their losses are logged and finite, and L_per is skipped, not computed, at weight 0."""
    from talkinglib.models.edtalk import PRESETS
    from talkinglib.train.edtalk_autoencoder import train_autoencoder
    cfg = replace(fast_cfg("edtalk.autoencoder"), w_factors=1.0, w_mouth=1.0, same_fraction=0.5, w_per=0.0,
                  w_flow_landmarks=0.1, w_mouth_inside=0.05, mouth_inside_start=0, w_draw=1.0, adv_start=10**9,
                  w_copy_warp=0.3, copy_warp_start=0)
    run = train_autoencoder(tiny_dataset, tmp_path, cfg=cfg, progress=False,
                            model_cfg=replace(PRESETS["tiny"], warp_image=True, image_draw=True))
    h = run.logger.history
    assert {"factors", "mouth", "flow_lm", "mouth_inside", "draw", "copy_warp"} <= set(h)
    assert all(torch.isfinite(torch.tensor(v)) for k in ("factors", "flow_lm", "mouth_inside", "draw", "copy_warp")
               for _, v in h[k])
    assert all(v == 0 for _, v in h["per"]), "w_per=0: no VGG19 pass"
    assert [s for s, _ in h["mouth_inside"]] == [1, 2]
    inside = train_autoencoder(tiny_dataset, tmp_path / "inside", cfg=replace(cfg, draw_region="inside",
                                                                              mouth_inside_start=1),
                               progress=False, model_cfg=replace(PRESETS["tiny"], warp_image=True, image_draw=True))
    draws = [v for _, v in inside.logger.history["draw"]]              # the inner-lip polygon: another region
    assert all(torch.isfinite(torch.tensor(draws))) and draws != [v for _, v in h["draw"]]
    assert [s for s, _ in inside.logger.history["mouth_inside"]] == [2], "the curriculum: off for step 1, on from 2"
    with pytest.raises(ValueError, match="draw_region"):
        train_autoencoder(tiny_dataset, tmp_path / "lips", cfg=replace(cfg, draw_region="lips"), progress=False,
                          model_cfg=replace(PRESETS["tiny"], warp_image=True, image_draw=True))
    with pytest.raises(ValueError, match="same_fraction"):
        train_autoencoder(tiny_dataset, tmp_path / "nosame", cfg=replace(cfg, same_fraction=0.0), progress=False,
                          model_cfg=replace(PRESETS["tiny"], warp_image=True, image_draw=True))
    with pytest.raises(ValueError, match="warp_image"):
        train_autoencoder(tiny_dataset, tmp_path / "plain", cfg=replace(cfg, w_draw=0), progress=False,
                          model_cfg=replace(PRESETS["tiny"], warp_image=False, image_draw=False))
    with pytest.raises(ValueError, match="image_draw"):
        train_autoencoder(tiny_dataset, tmp_path / "nodraw", cfg=cfg, progress=False,
                          model_cfg=replace(PRESETS["tiny"], warp_image=True, image_draw=False))


def test_autoencoder_swap_reading_starts_at_its_step_and_reads_each_factor_from_its_frame(tiny_dataset, expert_ckpt,
                                                                                          tmp_path):
    """Stage 1's w_swap_expert (ours): from swap_start on, G renders the driver's mouth on the source's pose and
    the reverse, and the loss is the expert's squared error against the two frames' own reads."""
    from talkinglib.losses.edtalk import swap_reading_loss
    from talkinglib.models.edtalk import PRESETS, EDTalk
    from talkinglib.train.edtalk_autoencoder import swap_reading, train_autoencoder
    from talkinglib.train.edtalk_common import expert_probe
    from talkinglib.train.presets import resolve
    cfg = replace(fast_cfg("edtalk.autoencoder", steps=3), w_swap_expert=1.0, swap_start=1, adv_start=10**9)
    run = train_autoencoder(tiny_dataset, tmp_path, cfg=cfg, progress=False, expert=expert_ckpt)
    assert [s for s, _ in run.logger.history["swap_expert"]] == [2, 3], "off for step 1, on from 2"
    plain = train_autoencoder(tiny_dataset, tmp_path / "plain", cfg=replace(cfg, w_swap_expert=0.0), progress=False)
    a, b = run.model.state_dict(), plain.model.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("dec."))
    # the loss itself: with d = s every "swap" is a reconstruction, and reading it back scores it
    torch.manual_seed(0)
    m, reader = EDTalk(PRESETS["tiny"]).eval(), expert_probe(resolve("edtalk.autoencoder", "tiny"), expert_ckpt).standardised
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        lat, feats = m.encode(x)
        w = m.navigate(lat)
        got = swap_reading(m, reader, x, x, lat, feats, w, w, expression=False)
        out = m.generate(m.compose(lat, mouth=w["mouth"], pose=w["pose"]), feats)
        want = 2 * swap_reading_loss(reader(out), reader(x), reader(x))
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-6)


def test_mouth_pose_factor_anchors_read_each_factor_from_the_frame_it_came_from(tiny_dataset, tmp_path):
    """Stage 2's w_factors (a tiny aid): the swapped image I^{m_a}_{p_b} must read a's mouth and b's
    pose. The batch carries both frames' truth without changing its draws, the loss is logged, and
    it is zero exactly when every read matches its source frame; w_mouth adds its logged mouth-region L1,
    w_leak its logged cross-correlation, w_swap_expert the expert's reading of the true swaps."""
    from talkinglib.data.edtalk_batches import EDTalkBatches
    from talkinglib.train.edtalk_autoencoder import train_autoencoder
    from talkinglib.train.edtalk_mouth_pose import factor_anchors, train_mouth_pose
    b = EDTalkBatches(tiny_dataset, "train")
    plain, rich = (b.mouth_pose(torch.Generator().manual_seed(2), 4, factors=f) for f in (False, True))
    assert torch.equal(plain["a"], rich["a"]) and torch.equal(plain["source"], rich["source"])
    assert rich["mouth_a"].shape == (4, 4) and rich["pose_b"].shape == (4, 5)
    pad = lambda x, k: torch.cat([x, torch.zeros(len(x), k - x.shape[1])], 1)       # noqa: E731
    w = {img: {"mouth": pad(rich[f"mouth_{m}"], 20), "pose": pad(rich[f"pose_{p}"], 6)}
         for img, m, p in (("ab", "a", "b"), ("ba", "b", "a"), ("a", "a", "a"), ("b", "b", "b"))}
    assert factor_anchors(w, rich) == 0
    w["ab"]["mouth"] = pad(rich["mouth_b"], 20)                       # the pose frame's mouth: wrong
    assert factor_anchors(w, rich) > 0
    train_autoencoder(tiny_dataset, tmp_path / "ae", cfg=fast_cfg("edtalk.autoencoder"), progress=False)
    run = train_mouth_pose(tiny_dataset, tmp_path / "mp", init=tmp_path / "ae" / "edtalk.pt",
                           cfg=replace(fast_cfg("edtalk.mouth_pose"), w_factors=1.0, w_mouth=1.0, w_leak=1.0,
                                       w_swap_expert=1.0), progress=False)
    assert "factors" in run.logger.history
    assert all(0 < v < 1 for _, v in run.logger.history["leak"]), "a mean squared correlation"
    assert all(v > 0 and torch.isfinite(torch.tensor(v)) for _, v in run.logger.history["swap_expert"])
    with pytest.raises(FileNotFoundError, match="--expert"):
        train_mouth_pose(tiny_dataset, tmp_path / "mp2", init=tmp_path / "ae" / "edtalk.pt", progress=False,
                         cfg=replace(fast_cfg("edtalk.mouth_pose"), w_swap_expert=1.0), expert=tmp_path / "none.pt")
    assert all(v > 0 and torch.isfinite(torch.tensor(v)) for _, v in run.logger.history["mouth"])


def test_expression_factor_anchor_reads_the_windows_mean_expression(tiny_dataset, stage_runs, expert_ckpt, tmp_path):
    """Stage 3's w_factors (a tiny aid): the batch carries the K-frame window's mean standardised true
    expression without changing its draws; the anchor is logged, positive and finite."""
    from talkinglib.data.edtalk_batches import EDTalkBatches
    from talkinglib.train.edtalk_expression import train_expression
    b = EDTalkBatches(tiny_dataset, "train")
    plain, rich = (b.expression(torch.Generator().manual_seed(3), 4, 5, factors=f) for f in (False, True))
    assert all(torch.equal(plain[k], rich[k]) for k in plain) and rich["expression_factors"].shape == (4, 10)
    per_clip, stats = b.factors()
    g = torch.Generator().manual_seed(3)                              # redraw the first sample's clip and start
    ident = b._pick(g, b.identities)
    c = b._pick(g, b.clips_of[ident])
    cs = b._pick(g, [o for o in b.clips_of[ident] if o != c] or [c])
    b._randint(g, b.num_frames[cs])                                    # the source frame
    start = b._randint(g, b.num_frames[c] - 5 + 1)
    want = (per_clip[c]["expression"][start:start + 5].mean(0) - stats["expression"][0]) / stats["expression"][1]
    assert torch.allclose(rich["expression_factors"][0], torch.from_numpy(want.astype(np.float32)), atol=1e-5)
    root = stage_runs[1]
    run = train_expression(tiny_dataset, tmp_path / "ex", init=root / "mp" / "edtalk.pt", expert=expert_ckpt,
                           cfg=replace(fast_cfg("edtalk.expression"), w_factors=1.0), progress=False)
    assert all(v > 0 and np.isfinite(v) for _, v in run.logger.history["factors"])


def test_lr_decay_is_a_function_of_the_step_and_survives_a_resume(tiny_dataset, stage_runs, tmp_path):
    """EDTalkTrainConfig.lr_decay (ours): constant lr, then a half cosine to 5 % over the last
    fraction of the steps; a run cut at step 3 and resumed gives the bytes of an uninterrupted one, and the decay
    changes what is learnt."""
    from talkinglib.train.edtalk_common import stage_lr
    from talkinglib.train.edtalk_mouth_pose import train_mouth_pose
    cfg = replace(fast_cfg("edtalk.mouth_pose", steps=4), lr=1e-2, lr_decay=0.5)
    assert [stage_lr(cfg, s) for s in (0, 1, 2)] == [1e-2, 1e-2, 1e-2]
    assert stage_lr(cfg, 3) == pytest.approx(0.525e-2) and stage_lr(cfg, 4) == pytest.approx(0.05e-2)
    assert stage_lr(replace(cfg, lr_decay=0), 4) == 1e-2
    with pytest.raises(ValueError, match="fraction"):
        stage_lr(replace(cfg, lr_decay=2000), 0)
    # lr_hold (ours): a run made longer at the floor repeats the shorter one's schedule up to its end
    held = replace(cfg, steps=6, lr_hold=1 / 3)
    assert [stage_lr(held, s) for s in range(5)] == [stage_lr(cfg, s) for s in range(5)]
    assert stage_lr(held, 5) == stage_lr(held, 6) == pytest.approx(0.05e-2)
    with pytest.raises(ValueError, match="lr_hold"):
        stage_lr(replace(cfg, lr_hold=1.0), 0)
    init = stage_runs[1] / "ae" / "edtalk.pt"
    whole = train_mouth_pose(tiny_dataset, tmp_path / "whole", init=init, cfg=cfg, progress=False)
    train_mouth_pose(tiny_dataset, tmp_path / "cut", init=init, cfg=cfg, progress=False, stop_at=3)
    resumed = train_mouth_pose(tiny_dataset, tmp_path / "cut", init=init, cfg=cfg, progress=False)
    flat = train_mouth_pose(tiny_dataset, tmp_path / "flat", init=init, cfg=replace(cfg, lr_decay=0),
                            progress=False)
    a, b, c = (r.model.state_dict() for r in (whole, resumed, flat))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_mouth_pose_lr_generator_trains_g_at_its_own_lr_and_leaves_e_alone(tiny_dataset, stage_runs, tmp_path):
    """EDTalkTrainConfig.lr_generator (ours): stage 2 then trains G as well, in its own optimizer group whose lr
    follows the stage's schedule scaled by lr_generator / lr; E stays bit-identical, and a run of the default
    (frozen G) cannot resume as one that trains G."""
    from talkinglib.train.edtalk_mouth_pose import train_mouth_pose
    init = stage_runs[1] / "ae" / "edtalk.pt"
    before = snapshot(checkpoints.load(init, "edtalk."))
    cfg = replace(fast_cfg("edtalk.mouth_pose", steps=2), lr=1e-2, lr_generator=1e-3, lr_decay=0.5)
    run = train_mouth_pose(tiny_dataset, tmp_path / "g", init=init, cfg=cfg, progress=False)
    groups = run.model.param_groups()
    name = {id(p): n for n, p in run.model.named_parameters()}
    diff = changed(before, snapshot(run.model)) - buffer_names(run.model)
    assert {name[id(p)] for p in groups["encoder"]}.isdisjoint(diff)
    assert {name[id(p)] for p in groups["generator"]} & diff, "G did not train"
    lrs = [g["lr"] for g in run.opt.param_groups]
    assert lrs == pytest.approx([0.05e-2, 0.005e-2])                  # the end of the decay, ×1 and ×0.1
    with pytest.raises(checkpoints.CheckpointError, match="parameter groups"):
        train_mouth_pose(tiny_dataset, tmp_path / "g", init=init, cfg=replace(cfg, lr_generator=0.0, steps=3),
                         progress=False)


def test_mouth_pose_all_clips_draws_every_emotion_and_renders_each_frames_expression(tiny_dataset, stage_runs, tmp_path):
    """EDTalkTrainConfig.all_clips (ours): a and b come from any clip of the identity (the source stays neutral),
    and the images take the W^e of the frame they reconstruct, so the run differs from the neutral-only one."""
    import numpy as np
    from talkinglib.data.edtalk_batches import EDTalkBatches
    from talkinglib.train.edtalk_mouth_pose import train_mouth_pose
    data = EDTalkBatches(tiny_dataset, "train")
    emotional = {i for i, e in enumerate(data.emotion) if e not in ("neutral", None)}
    picked = []
    data._frame = lambda c, t: (picked.append(c), np.zeros((64, 64, 3), np.uint8))[1]   # record the clips drawn
    drawn = []
    for i in range(20):
        picked.clear()
        data.mouth_pose(torch.Generator().manual_seed(i), 1, all_clips=True)    # draws a, b, then the source
        assert picked[2] not in emotional, "the source stays neutral"
        drawn += picked[:2]
    assert emotional & set(drawn), "all_clips never drew an emotional frame"
    picked.clear()
    for i in range(20):
        data.mouth_pose(torch.Generator().manual_seed(i), 1)
    assert not emotional & set(picked), "the default draws neutral frames only (EDTalk A.3)"
    init = stage_runs[1] / "ae" / "edtalk.pt"
    cfg = replace(fast_cfg("edtalk.mouth_pose", steps=2), lr_generator=1e-3)
    a = train_mouth_pose(tiny_dataset, tmp_path / "all", init=init, cfg=replace(cfg, all_clips=True), progress=False)
    b = train_mouth_pose(tiny_dataset, tmp_path / "neu", init=init, cfg=cfg, progress=False)
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert any(not torch.equal(sa[k], sb[k]) for k in sa)
    assert np.isfinite([v for _, v in a.logger.history["rec"]]).all()


def test_expression_start_holds_expression_back_until_its_step(tiny_dataset, tmp_path):
    """expression_start (a curriculum, ours): before it, W^e does not drive, is not anchored, w_eyes is
    off and ELN and the expression bank stay exactly as they were; from it on, all three switch on."""
    from talkinglib.models.edtalk import PRESETS, EDTalk
    from talkinglib.train import edtalk_autoencoder as autoencoder
    from talkinglib.train.edtalk_autoencoder import train_autoencoder
    cfg = replace(fast_cfg("edtalk.autoencoder", steps=2), drive_expression=True, adv_start=10**9, w_eyes=1.0,
                  w_factors=1.0)
    torch.manual_seed(0)
    before = snapshot(EDTalk(PRESETS["tiny"]))
    late = train_autoencoder(tiny_dataset, tmp_path / "late", cfg=replace(cfg, expression_start=2), progress=False)
    groups = late.model.named_param_groups()
    expression = {n for n, _ in groups["expression"] if ".fineadainresblock." not in n}
    assert not expression & changed(before, snapshot(late.model)), "no gradient before expression_start"
    seen = []
    real_anchor = autoencoder.factor_anchor_loss
    spy = lambda w, y: seen.append(y.shape[1]) or real_anchor(w, y)                    # noqa: E731
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(autoencoder, "factor_anchor_loss", spy)
        torch.manual_seed(0)
        run = train_autoencoder(tiny_dataset, tmp_path / "on", cfg=replace(cfg, expression_start=1), progress=False)
    assert seen == [4, 5, 4, 5, 10], "W^e anchored from the start step on"
    assert [s for s, _ in run.logger.history["eyes"]] == [2], "w_eyes: off for step 1, on from 2"
    assert expression <= changed(before, snapshot(run.model))


def test_drive_expression_trains_eln_and_the_expression_bank_in_stage_one(tiny_dataset, tmp_path):
    """EDTalkTrainConfig.drive_expression (LIA's setting): the driving frame's W^e joins f^{r→d}, so ELN
    and the expression bank learn with E and G; EEM, which stage 1 never calls, stays as it was. With
    w_factors, W^e regresses the true expression too, and w_eyes adds its logged L1 on brows and eyes."""
    from talkinglib.models.edtalk import PRESETS, EDTalk
    from talkinglib.train import edtalk_autoencoder as autoencoder
    from talkinglib.train.edtalk_autoencoder import train_autoencoder
    torch.manual_seed(0)
    before = snapshot(EDTalk(PRESETS["tiny"]))
    cfg = replace(fast_cfg("edtalk.autoencoder"), drive_expression=True, adv_start=10**9, w_eyes=1.0, expression_start=0)
    seen = []
    real_anchor = autoencoder.factor_anchor_loss
    spy = lambda w, y: seen.append(y.shape[1]) or real_anchor(w, y)                    # noqa: E731
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(autoencoder, "factor_anchor_loss", spy)
        run = train_autoencoder(tiny_dataset, tmp_path, cfg=cfg, progress=False)
    assert seen == [4, 5, 10] * cfg.steps, "mouth, pose and expression anchored each step"
    assert all(torch.isfinite(torch.tensor(v)) for _, v in run.logger.history["eyes"])
    diff = changed(before, snapshot(run.model)) - buffer_names(run.model)
    groups = run.model.named_param_groups()
    eem = {n for n, _ in groups["expression"] if ".fineadainresblock." in n}
    expression = {n for n, _ in groups["expression"]} - eem
    assert expression and expression <= diff, sorted(expression - diff)[:5]
    assert eem and not eem & diff
    assert diff - expression == trainable_names(run.model, "edtalk.autoencoder")


def test_expression_stage_region_terms_weigh_the_driving_frames_mouth_and_eyes(tiny_dataset, stage_runs, expert_ckpt,
                                                                             tmp_path):
    """Stage 3's w_mouth and w_eyes (tiny aids): the batch's masks sit on the driving frame's own mouth and
    brows, the draws are those of the plain batch, and both terms are logged, positive and finite."""
    from talkinglib.data.edtalk_batches import EDTalkBatches
    from talkinglib.train.edtalk_expression import train_expression
    b = EDTalkBatches(tiny_dataset, "train")
    e = b.expression(torch.Generator().manual_seed(3), 4, 5)
    assert e["mouth"].shape == e["eyes"].shape == (4, 1, 64, 64)
    for mask, rows in ((e["mouth"], (32, 60)), (e["eyes"], (12, 34))):
        for k in range(4):
            ys, _ = torch.nonzero(mask[k, 0] > 0.5, as_tuple=True)
            assert len(ys) and rows[0] < ys.float().mean() < rows[1], "mouth low, brows and eyes high on the face"
    assert not (e["mouth"] * e["eyes"] > 0.25).any(), "the two regions do not overlap"
    root = stage_runs[1]
    run = train_expression(tiny_dataset, tmp_path / "ex", init=root / "mp" / "edtalk.pt", expert=expert_ckpt,
                           cfg=replace(fast_cfg("edtalk.expression"), w_mouth=1.0, w_eyes=1.0), progress=False)
    for key in ("mouth", "eyes"):
        assert all(v > 0 and np.isfinite(v) for _, v in run.logger.history[key])
