"""animate_speed: encoding the source once per clip gives the per-frame loop's frames."""
import torch

from talkinglib.eval.speed import animate_speed
from talkinglib.models.edtalk import PRESETS, EDTalk


def test_encode_once_matches_the_per_frame_loop():
    torch.manual_seed(0)
    m = EDTalk(PRESETS["tiny"])
    g = torch.Generator().manual_seed(0)
    src = torch.rand(1, 3, 64, 64, generator=g) * 2 - 1
    drv = torch.rand(5, 3, 64, 64, generator=g) * 2 - 1
    r = animate_speed(m, src, drv, batch_sizes=(1, 2))
    assert r["frames"] == 5 and r["per_frame"]["fps"] > 0
    # the same maths; only float rounding differs (animate() batches the source with the drivers,
    # and a randomly initialised EEM amplifies rounding), while a wrong source code moves pixels by ~1
    assert r["encode_once"][1]["max_abs_diff"] < 0.05
    assert r["encode_once"][2]["max_abs_diff"] < 0.05
    assert set(r["speedup"]) == {1, 2}


def test_audio_pipelines_are_timed_in_one_run():
    from talkinglib.eval.speed import audio_pipeline_speed
    r = audio_pipeline_speed("tiny", seconds=0.4, batch_size=4)
    assert r["frames"] == 10 and r["edtalk_a"]["fps"] > 0 and r["reta"]["fps"] > 0


def test_the_full_reta_audio_encoder_has_wav2vec2_bases_architecture():
    from transformers import Wav2Vec2Config
    from talkinglib.models.audio_encoder import BASE_ARCHITECTURE, _tiny_wav2vec2
    ours, base = _tiny_wav2vec2(BASE_ARCHITECTURE).config, Wav2Vec2Config()    # transformers' default is Base
    for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "conv_dim",
              "conv_kernel", "conv_stride", "num_conv_pos_embeddings", "num_conv_pos_embedding_groups"):
        assert getattr(ours, k) == getattr(base, k), k
