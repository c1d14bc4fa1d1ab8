"""Shared fixtures. The default SynthTalk dataset is generated once (and cached under
data/synthtalk/, where the notebooks find it too). Its generation time is the demo's to report
(`./run.sh`: outputs/demo/fitness.json), never a test's: no test asserts on wall-clock time."""
import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TALKINGLIB_SHARED", REPO.parent / "shared"))
PROBE_CKPT = REPO / "data" / "checkpoints" / "probe_tiny.pt"


@pytest.fixture(scope="session")
def tiny_dataset():
    """The notebooks' default dataset: tiny preset, seed 0."""
    from talkinglib.synth.generate import default_root, ensure_dataset, is_complete, preset
    root = default_root("tiny", 0)
    if not is_complete(root, preset("tiny"), 0):
        ensure_dataset("tiny", 0, root=root, progress=False)
    return root


# The `slow` marker: the tests over 3 s on one thread (`pytest --durations`, 2026-12-06: 45 tests, 627 of the unit
# suite's 722 s). `pytest -m "not slow"` is the fast subset; the README's test command runs everything.
# tests/test_cli_errors.py checks that every name here is a test that exists.
SLOW = {
    "test_audio2lip.py::test_stage_resumes_to_the_same_bytes_and_the_cli_runs_it",
    "test_audio2pose_training.py::test_mle_falls_on_synthtalk",
    "test_audio2pose_training.py::test_two_steps_train_the_whole_flow_and_resume_exactly",
    "test_bench.py::test_compiled_pipeline_gives_the_eager_frames",
    "test_checkpoint_commands.py::test_audio_commands_run_and_export_loadable_checkpoints",
    "test_checkpoint_commands.py::test_committed_stage1_checkpoints_transfer_motion_on_test_identities",
    "test_checkpoint_commands.py::test_edtalk_commands_run_and_export_the_designs_they_name",
    "test_checkpoint_commands.py::test_reta_commands_run_and_export_loadable_checkpoints",
    "test_cli_errors.py::test_errors_are_typed_and_debug_shows_the_traceback",
    "test_edtalk_a.py::test_motion_sources",
    "test_edtalk_losses.py::test_edtalk_batches_are_seeded_and_respect_the_stage_rules",
    "test_edtalk_models.py::test_parity_with_official_generator",
    "test_edtalk_models.py::test_tiny_encoder_learns_the_jaw_of_unseen_identities",
    "test_edtalk_training.py::test_autoencoder_aids_are_trained_and_logged",
    "test_edtalk_training.py::test_autoencoder_swap_reading_starts_at_its_step_and_reads_each_factor_from_its_frame",
    "test_edtalk_training.py::test_lr_decay_is_a_function_of_the_step_and_survives_a_resume",
    "test_edtalk_training.py::test_mouth_pose_all_clips_draws_every_emotion_and_renders_each_frames_expression",
    "test_edtalk_training.py::test_mouth_pose_factor_anchors_read_each_factor_from_the_frame_it_came_from",
    "test_edtalk_training.py::test_stage_resumes_from_its_checkpoint",
    "test_edtalk_training.py::test_two_steps_change_exactly_the_trainable_parameters",
    "test_evaluate.py::test_evaluate_scores_disentanglement_with_a_crosstalk_matrix",
    "test_evaluate.py::test_evaluate_writes_the_table_and_per_clip_scores",
    "test_fid.py::test_fid_of_identical_sets_is_zero_and_of_different_sets_is_not",
    "test_generate.py::test_long_audio_streams_in_bounded_memory_without_seams",
    "test_prepare.py::test_prepare_cli_resumes_and_the_result_loads_for_training",
    "test_probe_training.py::test_expert_command_trains_the_l_mot_experts",
    "test_probe_training.py::test_probe_trains_deterministically_and_resumes",
    "test_readme.py::test_a_readme_python_block_runs",
    "test_reta_training.py::test_cli_runs_the_stage_and_refuses_without_its_inputs",
    "test_reta_training.py::test_code_distill_teaches_the_branches_edtalks_codes_before_any_rendering",
    "test_reta_training.py::test_edtalk_codes_supervise_f_m_and_the_branches_take_their_own_lr",
    "test_reta_training.py::test_every_table_4_ablation_trains",
    "test_reta_training.py::test_further_voices_join_the_distillation_phase_only",
    "test_reta_training.py::test_grad_clip_is_logged_and_changes_phase_two",
    "test_reta_training.py::test_phase2_frozen_keeps_what_phase_one_taught_and_resumes",
    "test_reta_training.py::test_training_never_reads_an_emotion_label",
    "test_reta_training.py::test_two_phases_train_their_parameters_and_resume_exactly",
    "test_robustness.py::test_a_run_killed_with_sigkill_resumes_from_its_last_checkpoint",
    "test_robustness.py::test_the_probe_trains_under_torchrun_with_identical_ranks",
    "test_robustness.py::test_torchrun_with_two_cpu_processes_keeps_ranks_identical_and_resumes",
    "test_scorecard.py::test_edtalk_a_with_the_pose_still_changes_only_the_generated_row",
    "test_scorecard.py::test_the_scorecard_measures_reta_and_says_which_checkpoints_are_missing",
    "test_semantic_expression.py::test_stage_freezes_the_cnn_resumes_exactly_and_runs_from_the_cli",
    "test_syncnet.py::test_training_resumes_exactly",
    "test_synth_cli.py::test_same_seed_same_bytes_any_worker_count",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if f"{Path(item.fspath).name}::{item.originalname}" in SLOW:
            item.add_marker(pytest.mark.slow)
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def face_and_audio(tiny_dataset, tmp_path_factory):
    """A test identity's first frame (upscaled to 256², as a photo would be) and its clip's audio."""
    import json
    from PIL import Image
    from talkinglib import audio as tl_audio
    from talkinglib.data.clips import read_frames
    d = tmp_path_factory.mktemp("gen")
    clip = json.loads((Path(tiny_dataset) / "splits.json").read_text())["test"][0]
    frame = read_frames(Path(tiny_dataset) / clip)[0]
    Image.fromarray(frame).resize((256, 256), Image.BICUBIC).save(d / "face.png")
    wav = tl_audio.read_wav(Path(tiny_dataset) / clip / "audio.wav")
    tl_audio.write_wav(d / "talk.wav", wav)
    return d / "face.png", d / "talk.wav", wav
