"""Per-frame motion of a SynthTalk clip: head pose, expression and blinks (SYNTHTALK.md "Factors").

- Pose: a smooth random walk (an Ornstein-Uhlenbeck process) around a per-clip base pose,
  whose step size is paced by the audio's loudness, so pose follows the rhythm of speech
  without being determined by it (one audio, many poses).
- Expression: the emotion's prototype x intensity, with per-clip jitter and a slow drift.
- Blinks: random (Poisson) and independent of the audio.
"""
import numpy as np

from talkinglib.synth.factors import EMOTIONS, EXPRESSION, INTENSITY_SCALE, POSE

# Expression prototypes at full intensity, one row per emotion, columns in EXPRESSION order:
# brow_inner_up brow_outer_up brow_lower lid_raise lid_squint corner_up_l corner_up_r corner_down lip_stretch cheek_raise
PROTOTYPES = {
    "angry":     [0.0, 0.0, 1.0, 0.6, 0.0, 0.0, 0.0, 0.3, -0.6, 0.0],
    "contempt":  [0.0, 0.4, 0.0, 0.0, 0.3, 1.0, -0.2, 0.0, 0.0, 0.0],
    "disgusted": [0.0, 0.0, 0.6, 0.0, 0.9, 0.0, 0.0, 0.8, 0.0, 1.0],
    "fear":      [1.0, 0.3, 0.5, 1.0, 0.0, 0.0, 0.0, 0.2, 1.0, 0.0],
    "happy":     [0.0, 0.0, 0.0, 0.0, 0.4, 1.0, 1.0, 0.0, 0.3, 0.9],
    "neutral":   [0.0] * 10,
    "sad":       [1.0, -0.3, 0.0, -0.8, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
    "surprised": [0.7, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, -0.4, 0.0],
}
assert list(PROTOTYPES) == list(EMOTIONS) and all(len(v) == len(EXPRESSION) for v in PROTOTYPES.values())

POSE_STD = np.array([9.0, 6.0, 4.0, 0.025, 0.02])        # spread of the per-clip base pose
WALK_STD = np.array([7.0, 4.5, 3.5, 0.02, 0.015])        # stationary std of the walk around it
POSE_LIMIT = np.array([28.0, 18.0, 12.0, 0.07, 0.06])


def expression_track(rng, emotion, intensity, num_frames):
    """(T, 10) expression coefficients: prototype * intensity scale, jittered per clip, drifting."""
    proto = np.array(PROTOTYPES[emotion]) * INTENSITY_SCALE[intensity]
    clip = proto * rng.uniform(0.85, 1.15, proto.shape) + rng.normal(0, 0.04, proto.shape)
    t = np.arange(num_frames) / 25.0
    phase, rate = rng.uniform(0, 2 * np.pi), rng.uniform(0.15, 0.4)
    drift = 1 + 0.1 * np.sin(2 * np.pi * rate * t + phase)                # slow breathing of intensity
    return (clip[None] * drift[:, None]).astype(np.float32)


def blink_track(rng, num_frames, rate_hz=0.35, fps=25):
    """(T,) eyelid closure in [0, 1]: Poisson blinks, each ~200 ms (close, hold, open)."""
    b = np.zeros(num_frames, np.float32)
    t = rng.exponential(1 / rate_hz) * fps * 0.5
    profile = np.array([0.4, 0.9, 1.0, 0.7, 0.3], np.float32)
    while t < num_frames:
        s = int(t)
        n = min(len(profile), num_frames - s)
        b[s:s + n] = np.maximum(b[s:s + n], profile[:n])
        t += max(rng.exponential(1 / rate_hz) * fps, 8)
    return b


def pose_track(rng, energy, fps=25, tau_s=0.8):
    """(T, 5) [yaw, pitch, roll, tx, ty]: OU walk, dx = -x/tau dt + sigma * (0.35 + energy) dW."""
    T = len(energy)
    base = np.clip(rng.normal(0, POSE_STD), -POSE_LIMIT * 0.6, POSE_LIMIT * 0.6)
    dt = 1.0 / fps
    sigma = WALK_STD * np.sqrt(2 / tau_s)                               # stationary std = WALK_STD
    x = rng.normal(0, WALK_STD * 0.5)
    out = np.empty((T, len(POSE)))
    noise = rng.normal(0, 1, (T, len(POSE)))
    pace = 0.35 + 1.3 * np.asarray(energy, np.float64)                   # louder speech, livelier head
    for i in range(T):
        x = x - x / tau_s * dt + sigma * pace[i] * np.sqrt(dt) * noise[i]
        out[i] = x
    # smooth the walk a little (heads do not jitter) and add the base pose
    k = np.array([1, 4, 6, 4, 1], np.float64) / 16
    out = np.stack([np.convolve(np.pad(c, 2, mode="edge"), k, mode="valid") for c in out.T], 1)
    return np.clip(out + base, -POSE_LIMIT, POSE_LIMIT).astype(np.float32)
