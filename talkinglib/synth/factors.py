"""Names and ranges of SynthTalk's generating factors (SYNTHTALK.md, "Factors").

Every other synth module imports these, so the layout of a factor vector is
defined exactly once.
"""
from talkinglib.constants import EMOTIONS, FPS, SAMPLE_RATE, SAMPLES_PER_FRAME  # noqa: F401 (defined there, once)

NEUTRAL = EMOTIONS.index("neutral")

# MEAD has 3 intensity levels; level k scales an emotion's deviation from neutral.
INTENSITIES = (1, 2, 3)
INTENSITY_SCALE = {1: 0.7, 2: 0.85, 3: 1.0}

# Per-frame mouth factors, each in [0, 1], driven by speech (phoneme -> viseme).
MOUTH = ("jaw", "spread", "round", "closure")

# Per-frame head pose: rotations in degrees, translation in fractions of the image size.
POSE = ("yaw", "pitch", "roll", "tx", "ty")

# Per-frame expression coefficients (the 3DMM-lite expression basis beyond the mouth).
EXPRESSION = (
    "brow_inner_up", "brow_outer_up", "brow_lower", "lid_raise", "lid_squint",
    "corner_up_left", "corner_up_right", "corner_down", "lip_stretch", "cheek_raise",
)
