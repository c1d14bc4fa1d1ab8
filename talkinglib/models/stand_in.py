"""Random models at a preset's architecture that stand in for trained ones, FOR SPEED CHECKS ONLY:
`talkinglib bench` (eval/bench.py) and `generate --random-weights` (inference/pipeline.py) time the same models.

    models = random_models("edtalk-a", "full", torch.device("cpu"))   # {"edtalk", "audio2lip", "pose_flow"}
"""
from dataclasses import replace

import torch

from talkinglib.constants import SAMPLES_PER_FRAME

# Random weights at a preset's architecture stand in for trained ones (speed does not depend on the
# values), with two heads brought to a trained model's scale, since max_abs_diff is meaningful only there:
# - the flow heads: a random head warps each level by offsets of up to half the image, which makes G
#   chaotic (a relative change of 1e-7 in the latent moved pixels by 2e-3 at full size), so no two
#   summation orders could agree. Offset weights × 0.01 give smooth offsets of a few pixels.
# - the ToRGB heads: a random G's images span about ±7.6 instead of ±1, and float32 rounding scales
#   with them. Weights × 0.15 bring them near ±1.
# The compute is unchanged: every warp and every layer still runs.
RANDOM_FLOW_SCALE = 0.01
RANDOM_RGB_SCALE = 0.15


@torch.no_grad()
def stand_in_weights(generator):
    """Scale a randomly initialised G's flow-offset and ToRGB weights as described above; returns G."""
    for head in generator.to_flows:
        head.conv.weight[:, :2] *= RANDOM_FLOW_SCALE
    for head in generator.to_rgbs:
        head.conv[0].weight *= RANDOM_RGB_SCALE                    # EqualConv2d; its leaky ReLU is 1-homogeneous
    return generator


@torch.no_grad()
def stand_in_statistics(encoder, images):
    """A random BatchNorm E (encoder_norm="batch") in eval mode has the initial statistics (mean 0,
    variance 1), which shrink its features layer by layer; a trained E has its data's. Set them from
    `images` (B, 3, S, S) in one pass, as training would. A normalisation-free E is left as it is."""
    norms = [m for m in encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if not norms:
        return encoder
    for m in norms:
        m.reset_running_stats()
        m.momentum = None                                          # cumulative: one pass sets them exactly
    encoder.train()(images)
    for m in norms:
        m.momentum = 0.1
    return encoder.eval()


def stand_in_inputs(seed, frames, size, device):
    """(generator, source (1, 3, S, S) in [-1, 1], wav (frames · 640,) of 16 kHz noise), seeded."""
    g = torch.Generator().manual_seed(seed)
    source = (torch.rand(1, 3, size, size, generator=g) * 2 - 1).to(device)
    wav = 0.1 * torch.randn(frames * SAMPLES_PER_FRAME, generator=g)       # N frames of 16 kHz audio at 25 fps
    return g, source, wav


def random_models(mode, preset, device, seed=0):
    """FOR SPEED CHECKS ONLY: {"edtalk", "audio2lip", "pose_flow"} (edtalk-a; edtalk-v: "edtalk") or {"reta"},
    random at the preset's architecture, G's heads at a trained model's scale and a BatchNorm E's
    statistics set (stand_in_weights, stand_in_statistics). Seeded: the same models every call."""
    torch.manual_seed(seed)
    if mode == "reta":
        from talkinglib.models.audio_encoder import BASE_ARCHITECTURE, PRESETS as AUDIO
        from talkinglib.models.reta import PRESETS, RETA
        audio = AUDIO[preset] if AUDIO[preset].weights is None else BASE_ARCHITECTURE   # wav2vec 2.0 Base, offline
        reta = RETA(replace(PRESETS[preset], audio=audio)).to(device).eval()
        stand_in_weights(reta.dec)
        stand_in_statistics(reta.enc, stand_in_inputs(seed, 5, reta.cfg.size, device)[1])
        return {"reta": reta}
    from talkinglib.models.edtalk import PRESETS, EDTalk
    m = EDTalk(PRESETS[preset]).to(device).eval()
    stand_in_weights(m.dec)
    stand_in_statistics(m.enc, stand_in_inputs(seed, 5, m.cfg.size, device)[1])
    if mode == "edtalk-v":
        return {"edtalk": m}
    from talkinglib.models.audio2lip import PRESETS as A2L, Audio2Lip
    from talkinglib.models.pose_flow import PRESETS as FLOW, PoseFlow
    return {"edtalk": m, "audio2lip": Audio2Lip(A2L[preset]).to(device).eval(),
            "pose_flow": PoseFlow(FLOW[preset]).to(device).eval()}
