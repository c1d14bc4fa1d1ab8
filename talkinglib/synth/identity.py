"""Identities of SynthTalk: 3DMM-lite identity factors and appearance (SYNTHTALK.md "Identity").

An identity is fixed per clip: face shape (the identity factors of morphable.py), skin tone,
eye, lip and hair colour, hairline, and a background.
"""
from dataclasses import dataclass, asdict

import numpy as np

from talkinglib.synth import morphable as mm


@dataclass(frozen=True)
class Identity:
    factors: tuple        # (K_id,) named identity factors, see morphable.IDENTITY
    skin: tuple           # RGB in [0, 1]
    hair: tuple
    iris: tuple
    lips: tuple
    background: tuple     # (top RGB, bottom RGB)
    hairline: float       # elevation (degrees) where the hair starts

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        return cls(tuple(d["factors"]), tuple(d["skin"]), tuple(d["hair"]), tuple(d["iris"]),
                   tuple(d["lips"]), tuple(tuple(c) for c in d["background"]), float(d["hairline"]))


def _r(x):
    return tuple(round(float(v), 4) for v in x)


def sample_identity(rng: np.random.Generator) -> Identity:
    """Draw one identity. Everything comes from `rng`, so a seed fixes the person."""
    factors = np.clip(rng.normal(0, 1, len(mm.IDENTITY)), -2, 2)
    tone = rng.uniform(0, 1)                                  # light .. dark skin
    skin = np.array([0.93, 0.76, 0.64]) * (1 - tone) + np.array([0.42, 0.27, 0.18]) * tone
    skin = np.clip(skin * rng.uniform(0.95, 1.05, 3), 0, 1)
    hair_palette = np.array([[0.08, 0.06, 0.05], [0.30, 0.18, 0.10], [0.55, 0.38, 0.20],
                             [0.80, 0.66, 0.40], [0.45, 0.15, 0.07], [0.60, 0.60, 0.62]])
    hair = np.clip(hair_palette[rng.integers(len(hair_palette))] * rng.uniform(0.85, 1.15, 3), 0, 1)
    iris_palette = np.array([[0.30, 0.18, 0.08], [0.20, 0.40, 0.65], [0.30, 0.50, 0.30], [0.45, 0.35, 0.20]])
    iris = iris_palette[rng.integers(len(iris_palette))]
    lips = np.clip(skin * np.array([0.95, 0.62, 0.62]) + np.array([0.08, 0.0, 0.02]), 0, 1)
    hue = rng.uniform(0, 1, 3)
    top = 0.25 + 0.6 * hue
    bottom = np.clip(top * rng.uniform(0.6, 0.9), 0, 1)
    return Identity(_r(factors), _r(skin), _r(hair), _r(iris), _r(lips), (_r(top), _r(bottom)),
                    round(float(rng.uniform(34, 46)), 3))


def palette(identity: Identity) -> np.ndarray:
    """Albedo per material of morphable.MATERIALS, (n_materials, 3)."""
    skin, hair = np.array(identity.skin), np.array(identity.hair)
    colours = {
        "skin": skin, "lips": np.array(identity.lips), "hair": hair, "brow": hair * 0.7,
        "lash": hair * 0.35 + 0.03, "nostril": skin * 0.35, "sclera": np.array([0.95, 0.94, 0.92]),
        "iris": np.array(identity.iris), "pupil": np.array([0.03, 0.03, 0.04]),
        "cavity": np.array([0.25, 0.05, 0.06]), "teeth": np.array([0.94, 0.92, 0.86]),
        "tongue": np.array([0.65, 0.25, 0.28]), "neck": skin * 0.88,
    }
    return np.stack([colours[m] for m in mm.MATERIALS]).astype(np.float32)
