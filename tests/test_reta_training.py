"""Stage `reta` on SynthTalk: both phases train what they should, a run resumes to the same bytes,
no training path reads an emotion label (further distillation voices included), every Tab. 4
ablation trains, and the CLI runs it."""
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from talkinglib import cli
from talkinglib import checkpoints
from talkinglib.data import datasets
from talkinglib.errors import InputError
from talkinglib.models.reta import PRESETS as RETA_PRESETS
from talkinglib.train import common
from talkinglib.train import reta as R

CKPT = Path(__file__).resolve().parents[1] / "data" / "checkpoints"
EXPERTS = dict(init=CKPT / "edtalk_tiny.pt", teacher=CKPT / "teacher_tiny.pt", syncnet=CKPT / "syncnet_tiny.pt")
# RETA's own training (the tiny preset's aids off: code terms, frozen phase-2 modules; their tests turn them on)
FAST = replace(R.TRAIN_PRESETS["tiny"], steps=4, distill_steps=2, distill_batch=2, batch_size=2, log_every=1,
               ckpt_every=1000, w_mouth_code=0.0, w_emotion_code=0.0, code_distill=False, lr_branches=0.0,
               phase2_frozen="", emotion_code_gain=1.0)


def _train(root, out, cfg, **kw):
    return R.train_reta(root, out, cfg=cfg, progress=False, **{**EXPERTS, **kw})


def test_two_phases_train_their_parameters_and_resume_exactly(tiny_dataset, tmp_path):
    cfg = replace(FAST, adv_start=3, r1_every=1)                 # the GAN and R1 run in the last step
    a, log = _train(tiny_dataset, tmp_path / "a", cfg)
    assert {"emo_va", "l1", "per", "motion", "sync", "emo_vv", "emo_cross", "adv", "d"} <= set(log.history)
    _train(tiny_dataset, tmp_path / "b", cfg, stop_at=1)
    one = checkpoints.load_checkpoint(tmp_path / "b" / "reta.pt")["model"]
    _train(tiny_dataset, tmp_path / "b", cfg, stop_at=2)
    two = checkpoints.load_checkpoint(tmp_path / "b" / "reta.pt")["model"]
    b, _ = _train(tiny_dataset, tmp_path / "b", cfg)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    common.seed_everything(cfg.seed)                              # as train_reta does before building
    init = R.initial_reta(RETA_PRESETS["tiny"], EXPERTS["init"]).state_dict()
    changed = lambda s, t, prefix: any(not torch.equal(s[k], t[k]) for k in s if k.startswith(prefix))  # noqa: E731
    # phase 1 (steps 1-2) moves E_A and S only; phase 2 moves the generator side too
    assert changed(init, two, "audio.") and changed(init, two, "student.")
    assert not changed(init, two, "dec.") and not changed(init, two, "enc.") and not changed(init, two, "geometry.")
    assert changed(one, two, "student.")
    final = b.state_dict()
    for prefix in ("dec.convs", "enc.", "geometry.encoder", "emotion_proj"):
        assert changed(two, final, prefix), prefix


class _NoLabels(dict):
    LABELS = ("emotion", "emotion_index", "intensity", "text_emotion", "transcript")

    def __getitem__(self, k):
        if k in self.LABELS:
            raise AssertionError(f"a training path read the label field {k!r}")
        return super().__getitem__(k)

    def get(self, k, default=None):
        if k in self.LABELS:
            raise AssertionError(f"a training path read the label field {k!r}")
        return super().get(k, default)


@pytest.fixture(scope="module")
def voices(tmp_path_factory):
    """Further voices for the distillation phase: SynthTalk of another seed, 2 identities x 8 clips."""
    from talkinglib.synth.generate import generate_dataset, preset
    return generate_dataset(tmp_path_factory.mktemp("voices"), seed=1, workers=1, progress=False,
                            cfg=preset("tiny", identities=2, test_identities=0))


def test_training_never_reads_an_emotion_label(tiny_dataset, voices, tmp_path, monkeypatch):
    init = datasets.ClipStore.__init__

    def unlabelled(self, *a, **kw):
        init(self, *a, **kw)
        self.metas = [_NoLabels(m) for m in self.metas]
    monkeypatch.setattr(datasets.ClipStore, "__init__", unlabelled)
    with pytest.raises(AssertionError, match="label field"):        # the guard itself works
        datasets.ClipStore(tiny_dataset, "train").metas[0]["emotion"]
    _, log = _train(tiny_dataset, tmp_path, replace(FAST, steps=3, distill_steps=1))
    assert len(log.history["emo_va"]) == 3 and len(log.history["emo_cross"]) == 2
    _, log = _train(tiny_dataset, tmp_path / "v", replace(FAST, steps=2, distill_steps=2, distill_data=str(voices)))
    assert len(log.history["emo_va"]) == 2


def test_further_voices_join_the_distillation_phase_only(tiny_dataset, voices, tmp_path):
    train = R.RETAClips(tiny_dataset, "train")
    extra = R.RETAClips(voices, "train")
    both = R.distillation_clips(train, tiny_dataset, str(voices))
    assert len(both) == len(train) + len(extra) == 96 + 16
    assert torch.equal(both.audio(0), train.audio(0)) and torch.equal(both.audio(96 + 5), extra.audio(5))
    assert torch.equal(both.frames(97, slice(3, 5)), extra.frames(1, slice(3, 5)))
    drawn = torch.cat([both.audio_batch(torch.Generator().manual_seed(s), 16)["clip"] for s in range(4)])
    assert (drawn < 96).any() and (drawn >= 96).any()             # both folders feed phase 1
    assert R.distillation_clips(train, tiny_dataset, None) is train
    cfg = replace(FAST, steps=2, distill_steps=2, distill_batch=8)
    a, _ = _train(tiny_dataset, tmp_path / "a", cfg)
    b, _ = _train(tiny_dataset, tmp_path / "b", replace(cfg, distill_data=str(voices)))
    sa, sb = a.state_dict(), b.state_dict()
    assert not torch.equal(sa["student.tcn.out.weight"], sb["student.tcn.out.weight"])   # other audio, other student
    assert all(torch.equal(sa[k], sb[k]) for k in sa if k.startswith(("dec.", "enc.")))  # nothing else moved yet


def test_distillation_voices_must_be_other_people(tiny_dataset, tmp_path):
    train = R.RETAClips(tiny_dataset, "train")
    with pytest.raises(InputError, match="another --seed"):           # the same seed: the same people, test speakers too
        R.distillation_clips(train, tiny_dataset, str(tiny_dataset))
    with pytest.raises(InputError, match="not a clip folder"):
        R.distillation_clips(train, tiny_dataset, str(tmp_path))


@pytest.mark.parametrize("model_kw, train_kw", [
    ({"geometric": False}, {}), ({"emotion": False}, {}), ({"bridge": "direct"}, {}),
    ({"injection": "concat"}, {}), ({"style": False}, {}), ({}, {"eds": False}), ({}, {"w_motion": 0.0})])
def test_every_table_4_ablation_trains(tiny_dataset, tmp_path, model_kw, train_kw):
    from talkinglib.models.reta import PRESETS
    mcfg = PRESETS["tiny"]
    if "bridge" in model_kw:
        mcfg = replace(mcfg, bridge=replace(mcfg.bridge, bridge=model_kw.pop("bridge")))
    mcfg = replace(mcfg, **model_kw)
    cfg = replace(FAST, steps=3, distill_steps=1, **train_kw)
    common.seed_everything(cfg.seed)
    init = R.initial_reta(mcfg, EXPERTS["init"]).state_dict()
    model, log = _train(tiny_dataset, tmp_path, cfg, model_cfg=mcfg)
    after = model.state_dict()
    moved = lambda prefix: any(not torch.equal(init[k], after[k]) for k in init if k.startswith(prefix))  # noqa: E731
    # E_I and G are EDTalk's: their architecture options come from the checkpoint RETA starts from
    edtalk_cfg = checkpoints.load_checkpoint(EXPERTS["init"])["config"]["model"]
    inherited = {k: edtalk_cfg.get(k, "none") for k in ("warp_grid", "encoder_norm")}
    inherited.update({k: edtalk_cfg.get(k, False) for k in ("warp_image", "image_draw")})   # absent: LIA's G
    assert model.cfg == replace(mcfg, **inherited) and torch.isfinite(torch.tensor(log.history["loss"][-1][1]))
    assert moved("dec.convs") and moved("enc.")
    assert moved("geometry.") == mcfg.geometric                 # w/o GPL: the branch gets no gradient
    assert moved("student.") == moved("emotion_proj") == mcfg.emotion
    if not mcfg.emotion:                                        # w/o ERL: no distillation, no cross-synthesis
        assert [s for s, _ in log.history["l1"]] == [2, 3]                  # phase 1 skipped
        assert all(v == 0 for _, v in log.history["emo_va"]) and all(v == 0 for _, v in log.history["emo_cross"])
    if not cfg.eds:
        assert all(v == 0 for _, v in log.history["emo_cross"])
    if cfg.w_motion == 0:
        assert log.history["motion"][-1][1] > 0                 # computed, logged, not in the sum


def test_cli_runs_the_stage_and_refuses_without_its_inputs(tiny_dataset, tmp_path):
    base = ["train", "reta", "--data", str(tiny_dataset), "--preset", "tiny", "--no-resume"]
    with pytest.raises(InputError, match="--init"):
        cli.main(["--debug", *base, "--out", str(tmp_path / "x"), "--teacher", str(EXPERTS["teacher"]),
                         "--syncnet", str(EXPERTS["syncnet"])])
    with pytest.raises(InputError, match="--teacher"):
        cli.main(["--debug", *base, "--out", str(tmp_path / "y"), "--init", str(EXPERTS["init"]),
                         "--syncnet", str(EXPERTS["syncnet"])])
    assert cli.main(base + ["--out", str(tmp_path / "z"), "--init", str(EXPERTS["init"]), "--teacher",
                            str(EXPERTS["teacher"]), "--syncnet", str(EXPERTS["syncnet"]), "--steps", "2",
                            "--set", "distill_steps=1", "--set", "batch_size=2", "--set", "distill_batch=2",
                            "--set", "model.motion_levels=2"]) == 0
    model, state = checkpoints.load_with_state(tmp_path / "z" / "reta.pt", "reta")
    assert state["step"] == 2 and model.cfg.motion_levels == 2


def test_edtalk_codes_supervise_f_m_and_the_branches_take_their_own_lr(tiny_dataset, tmp_path):
    """Ours, not RETA: w_mouth_code / w_emotion_code regress f_M and P_E(f_E) on the frozen EDTalk's
    f^{r→m}, f^{r→e} of the real frames (logged, and they move E_M); lr_branches is the audio
    branches' phase-2 lr, E_I and G keep lr; the codes need the --init EDTalk."""
    cfg = replace(FAST, w_mouth_code=1.0, w_emotion_code=1.0, lr_branches=1e-2)
    model, log = _train(tiny_dataset, tmp_path / "codes", cfg)
    assert all(v > 0 for _, v in log.history["mouth_code"]) and "emotion_code" in log.history
    state = checkpoints.load_checkpoint(tmp_path / "codes" / "reta.pt")
    assert [g["lr"] for g in state["optimizer"]["param_groups"]] == [cfg.lr, 1e-2]
    plain, plain_log = _train(tiny_dataset, tmp_path / "plain", FAST)
    assert "mouth_code" not in plain_log.history
    common.seed_everything(cfg.seed)                              # as train_reta does before building
    init = R.initial_reta(RETA_PRESETS["tiny"], EXPERTS["init"])
    moved = lambda m: sum((p.detach() - q).abs().sum() for p, q in zip(m.geometry.parameters(),   # noqa: E731
                                                                        init.geometry.parameters()))
    assert moved(model) > 2 * moved(plain), "the codes and the branch lr move the bridge"
    with pytest.raises(ValueError, match="--init"):
        R.train_reta(tiny_dataset, tmp_path / "codes", cfg=replace(cfg, steps=5), progress=False,   # a resume
                     teacher=EXPERTS["teacher"], syncnet=EXPERTS["syncnet"], init=None)


def test_code_distill_teaches_the_branches_edtalks_codes_before_any_rendering(tiny_dataset, tmp_path):
    """Ours, not RETA: with code_distill, phase 1 (no G in the loop) also trains D, E_M and P_E on the code
    terms, against a cache of the frozen EDTalk's codes; E_I and G still wait for phase 2. Without a code
    weight it is refused, and a run cannot resume under the other setting."""
    from talkinglib.data.reta_clips import CodeTargets, RETAClips
    cfg = replace(FAST, steps=2, distill_steps=2, w_mouth_code=1.0, w_emotion_code=1.0, code_distill=True)
    model, log = _train(tiny_dataset, tmp_path / "cd", cfg)
    assert len(log.history["mouth_code"]) == 2 and len(log.history["emotion_code"]) == 2
    common.seed_everything(cfg.seed)
    init = R.initial_reta(RETA_PRESETS["tiny"], EXPERTS["init"]).state_dict()
    after = model.state_dict()
    moved = lambda prefix: any(not torch.equal(init[k], after[k]) for k in init if k.startswith(prefix))  # noqa: E731
    assert moved("geometry.") and moved("emotion_proj.") and moved("audio.")
    assert not moved("dec.") and not moved("enc.")
    # the cache holds the frozen EDTalk's f^{r→m} of the clip's frames
    edtalk = checkpoints.load(EXPERTS["init"], "edtalk.")
    data = RETAClips(tiny_dataset, "train", cfg.clip_frames, cfg.window)
    m, e = CodeTargets(edtalk.float(), data).frames(0, 3, 2)
    with torch.no_grad():
        w = edtalk.float().navigate(edtalk.float().encode(data.frames(0, slice(3, 5))).latent)
        want = edtalk.float().feature("mouth", w["mouth"])
    assert m.shape == (2, want.shape[1]) and torch.allclose(m, want, atol=2e-3 * want.abs().max())
    with pytest.raises(ValueError, match="w_mouth_code"):
        _train(tiny_dataset, tmp_path / "bad", replace(cfg, w_mouth_code=0.0, w_emotion_code=0.0))
    with pytest.raises(checkpoints.CheckpointError, match="code_distill"):
        _train(tiny_dataset, tmp_path / "cd", replace(cfg, steps=3, code_distill=False))


def test_grad_clip_is_logged_and_changes_phase_two(tiny_dataset, tmp_path):
    """Ours, not RETA: phase 2 logs its gradient norm, and grad_clip bounds it (Adam's first step is scale-free,
    so the second step is where a clip shows)."""
    plain, log = _train(tiny_dataset, tmp_path / "plain", FAST)
    norms = [v for _, v in log.history["grad_norm"]]
    assert len(norms) == FAST.steps - FAST.distill_steps and all(v > 0 for v in norms)
    clipped, _ = _train(tiny_dataset, tmp_path / "clip", replace(FAST, grad_clip=1e-4 * min(norms)))
    a, b = plain.state_dict(), clipped.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("dec."))


def test_phase2_frozen_keeps_what_phase_one_taught_and_resumes(tiny_dataset, tmp_path):
    """Ours, not RETA: phase2_frozen="audio,geometry" leaves E_A and the geometric prior (so f_M) as phase 1 made
    them, while S, P_E, E_I and G still learn; the freeze holds across a resume in phase 2, and an unknown module
    name is refused."""
    cfg = replace(FAST, w_mouth_code=1.0, w_emotion_code=1.0, code_distill=True, phase2_frozen="audio,geometry")
    _train(tiny_dataset, tmp_path / "f", cfg, stop_at=cfg.distill_steps)
    p1 = {k: v.clone() for k, v in checkpoints.load_checkpoint(tmp_path / "f" / "reta.pt")["model"].items()}
    _train(tiny_dataset, tmp_path / "f", cfg, stop_at=cfg.distill_steps + 1)           # resumes in phase 2
    model, _ = _train(tiny_dataset, tmp_path / "f", cfg)
    after = model.state_dict()
    same = lambda prefix: all(torch.equal(p1[k], after[k]) for k in p1 if k.startswith(prefix))  # noqa: E731
    assert same("audio.") and same("geometry.")                   # BatchNorm statistics included
    for prefix in ("student.", "emotion_proj.", "enc.", "dec.convs"):
        assert not same(prefix), prefix
    with pytest.raises(ValueError, match="phase2_frozen"):
        _train(tiny_dataset, tmp_path / "bad", replace(cfg, phase2_frozen="audio,mouth"))


def test_emotion_code_gain_scales_the_target_of_p_e():
    """Ours, not RETA: with emotion_code_gain a, the emotion code term is 0 exactly when P_E(f_E) = a · f^{r→e},
    and the mouth term does not see the gain."""
    from talkinglib.models.reta import PRESETS, RETA
    model = RETA(PRESETS["tiny"]).eval()
    torch.manual_seed(0)
    f_e = torch.randn(6, model.cfg.teacher_dim)
    f_m = torch.randn(6, model.cfg.latent_dim)
    with torch.no_grad():
        model.emotion_proj.weight.normal_()
        e = model.emotion_proj(f_e)
    mouth1, at_one = R.code_losses(model, f_m, f_e, f_m, e / 2)
    mouth2, at_two = R.code_losses(model, f_m, f_e, f_m, e / 2, gain=2.0)
    assert at_two == 0 and at_one > 0 and mouth1 == mouth2 == 0
