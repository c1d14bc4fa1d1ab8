"""RETA's and EDTalk-A's inference speed in one run; the full RETA audio encoder's architecture."""


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
