"""RETA's emotion branch: a visual teacher T (a ViT) and an audio student S (a TCN).

Implements: RETA §3.1 "Emotion Representation Learning" and §3.3, RETA Eq. 6:
    f_V = T(I^GT)                          the teacher's embedding of a ground-truth frame   (B, H_T)
    z   = head_T(f_V)                      the teacher's emotion logits                      (B, n_classes)
    f_E = S(f_A)                           the student's embedding, per frame, from audio    (B, T, H_T)
    L_emo^{v-a} = 1 − cos(f_E, sg(f_V))                                   losses/reta.py
The student lives in the teacher's embedding space, so head_T(f_E) reads an emotion off audio
alone: the measure of what distillation transferred (`student_emotion_accuracy`). The
generator reads f_E through its own projection (models/reta.py).

Teacher, by preset:
- `full`: a facial-expression ViT from the local cache through the registry ("vit_expression",
  trpakov/vit-face-expression: ViT-B/16, 224², FER2013's 7 classes), loaded as
  transformers' ViTForImageClassification. Frames are resized to its size; [-1, 1] pixels are
  its normalisation (mean = std = 0.5).
- `tiny`: a small ViT with a convolutional stem (`ConvStemViT`), trained on labelled SynthTalk
  frames (`talkinglib train teacher`): like RETA's teacher, it saw labels elsewhere; the student
  never does.
f_V is the [CLS] token after the final layer norm, exactly what the classifier reads:
head_T(f_V) = classifier(f_V) reproduces the model's own logits.
"""
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from talkinglib.constants import EMOTIONS
from talkinglib.models.layers.tcn import TCN


@dataclass(frozen=True)
class TeacherConfig:
    weights: str | None = "vit_expression"   # registry entry; None: build the conv-stem ViT below (tiny)
    image_size: int = 64
    stem: tuple = (24, 48)                    # built: stride-2 conv widths before the token projection
    hidden: int = 96                          # built: token width H_T
    layers: int = 4
    heads: int = 4
    classes: tuple = EMOTIONS                 # built configs only; a checkpoint brings its own labels
    pixel_mean: float = 0.5                   # the input normalisation on [0, 1] pixels
    pixel_std: float = 0.5


PRESETS = {
    "tiny": TeacherConfig(weights=None),
    "full": TeacherConfig(),
}


class ConvStemViT(nn.Module):
    """A small ViT whose patch embedding is a stack of stride-2 3×3 convolutions (Xiao et al. 2021,
    "Early convolutions help transformers see better"): tokens at 1/8 of the image size, a [CLS]
    token, learned positions, pre-norm transformer blocks, a final layer norm, a linear classifier.
    Trained from scratch on SynthTalk it learns in a few thousand steps; a plain 8×8-patch ViT of the
    same size stayed at chance for 1,750 steps (the patch projection alone has no locality to start from).
    Attribute names follow transformers' ViTForImageClassification where they mean the same thing."""

    def __init__(self, cfg: TeacherConfig):
        super().__init__()
        if cfg.image_size % 2 ** (len(cfg.stem) + 1):
            raise ValueError(f"image_size {cfg.image_size} must be divisible by {2 ** (len(cfg.stem) + 1)}")
        chans = (3,) + tuple(cfg.stem)
        layers = []
        for a, b in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(a, b, 3, stride=2, padding=1), nn.BatchNorm2d(b), nn.GELU()]
        layers.append(nn.Conv2d(chans[-1], cfg.hidden, 3, stride=2, padding=1))
        self.embeddings = nn.Sequential(*layers)
        n_tokens = (cfg.image_size // 2 ** len(chans)) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.hidden))
        self.position_embeddings = nn.Parameter(0.02 * torch.randn(1, 1 + n_tokens, cfg.hidden))
        block = nn.TransformerEncoderLayer(cfg.hidden, cfg.heads, 2 * cfg.hidden, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(block, cfg.layers, enable_nested_tensor=False)
        self.layernorm = nn.LayerNorm(cfg.hidden)
        self.classifier = nn.Linear(cfg.hidden, len(cfg.classes))
        self.classes, self.image_size, self.hidden = tuple(cfg.classes), cfg.image_size, cfg.hidden

    def embed(self, x):
        """x (B, 3, S, S), normalised -> the [CLS] token after the final layer norm (B, H_T)."""
        h = self.embeddings(x).flatten(2).transpose(1, 2)                         # (B, P, H_T)
        h = torch.cat([self.cls_token.expand(len(h), -1, -1), h], 1) + self.position_embeddings
        return self.layernorm(self.encoder(h))[:, 0]


class PretrainedViT(nn.Module):
    """transformers' ViTForImageClassification from the registry, with the same embed/classifier view."""

    def __init__(self, name):
        super().__init__()
        from transformers import ViTForImageClassification
        from talkinglib import weights
        self.model = ViTForImageClassification.from_pretrained(weights.resolve(name))
        c = self.model.config
        self.classifier = self.model.classifier
        self.classes = tuple(c.id2label[i].lower() for i in range(c.num_labels))
        self.image_size, self.hidden = c.image_size, c.hidden_size

    def embed(self, x):
        """The [CLS] token of the last hidden state, after ViT's final layer norm: the classifier's input."""
        return self.model.vit(pixel_values=x).last_hidden_state[:, 0]


class EmotionTeacher(nn.Module):
    """T: frames (B, 3, S, S) in [-1, 1] -> f_V (B, H_T) and logits (B, n_classes)."""

    def __init__(self, cfg: TeacherConfig = TeacherConfig()):
        super().__init__()
        self.cfg = cfg
        self.net = PretrainedViT(cfg.weights) if cfg.weights else ConvStemViT(cfg)
        self.classes, self.image_size, self.hidden = self.net.classes, self.net.image_size, self.net.hidden

    def prepare(self, img):
        """[-1, 1] frames -> the network's input: resized to its size, normalised its way."""
        if img.dim() != 4 or img.shape[1] != 3:
            raise ValueError(f"the teacher expects frames (B, 3, H, W) in [-1, 1]; got {tuple(img.shape)}")
        if img.shape[-1] != self.image_size or img.shape[-2] != self.image_size:
            img = F.interpolate(img, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False,
                                antialias=True)
        return ((img + 1) / 2 - self.cfg.pixel_mean) / self.cfg.pixel_std

    def embed(self, img):
        """f_V (B, H_T)."""
        return self.net.embed(self.prepare(img))

    def head(self, f):
        """Logits from an embedding in the teacher's space (f_V, or a student's f_E): (..., n_classes)."""
        return self.net.classifier(f)

    def forward(self, img):
        """(f_V, logits)."""
        f = self.embed(img)
        return f, self.head(f)


@dataclass(frozen=True)
class StudentConfig:
    hidden: int = 128            # TCN width
    blocks: int = 3              # dilations 1, 2, 4: a receptive field of 29 frames (1.2 s at 25 fps)
    kernel: int = 3


STUDENT_PRESETS = {"tiny": StudentConfig(), "full": StudentConfig(hidden=512, blocks=4)}


class EmotionStudent(nn.Module):
    """S: audio features f_A (B, T, C_A) -> f_E (B, T, H_T), in the teacher's embedding space."""

    def __init__(self, audio_dim, teacher_dim, cfg: StudentConfig = StudentConfig()):
        super().__init__()
        self.cfg = cfg
        self.tcn = TCN(audio_dim, cfg.hidden, teacher_dim, cfg.blocks, cfg.kernel)

    def forward(self, f_a):
        return self.tcn(f_a)


# SynthTalk/MEAD emotion names -> the FER names a pretrained teacher may use instead
ALIASES = {"disgusted": "disgust", "surprised": "surprise", "angry": "anger", "happy": "happiness",
           "sad": "sadness"}


def class_index(teacher, name):
    """The teacher's class index for an emotion name (or its FER alias); a clear error when it has none."""
    for n in (name, ALIASES.get(name)):
        if n in teacher.classes:
            return teacher.classes.index(n)
    raise ValueError(f"the teacher has no class for '{name}' (its classes: {', '.join(teacher.classes)}); "
                     "score only the emotions it knows (FER2013 teachers have no 'contempt')")


@torch.no_grad()
def student_emotion_accuracy(teacher, f_e, labels):
    """How often head_T(f_E) names the clip's emotion: f_e (N, T, H_T) per clip, labels: N names.
    Returns {"frame": accuracy over every frame, "clip": accuracy of the clip's mean logits}.
    Used for evaluation only: no training path sees `labels`."""
    logits = teacher.head(f_e).cpu()                                  # (N, T, n)
    idx = torch.tensor([class_index(teacher, c) for c in labels])
    frame = (logits.argmax(-1) == idx[:, None]).float().mean()
    clip = (logits.mean(1).argmax(-1) == idx).float().mean()
    return {"frame": float(frame), "clip": float(clip)}
