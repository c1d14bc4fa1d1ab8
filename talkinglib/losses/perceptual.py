"""VGG19 perceptual loss: the L_per term of EDTalk Eq. 5 (also in EDTalk's expression stage and RETA Eq. 3's L_rec).

Implements: EDTalk Eq. 5, L_per = Σ_l ‖Φ_l(I) − Φ_l(Î)‖²₂ with Φ the VGG19 feature extractor
(Johnson et al. 2016, the paper's ref. [26]).

Choices, and where they come from:
- Layers relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 (torchvision `features` indices 1, 6, 11,
  20, 29). This is what LIA's `vgg19.py` (wyhsirius/LIA) slices, and EDTalk's training code
  (train/trainer_E_G.py, train/trainer_Mouth_Pose_decouple.py, `from vgg19 import VGGLoss`) uses
  LIA's loss unchanged. relu1_2 ... relu5_4 can be chosen by name instead.
- An image pyramid at scales (1, 0.5, 0.25, 0.125), Gaussian-blurred before subsampling, as in
  LIA's `VGGLoss` (FOMM's `ImagePyramide`). The loss is summed over scales, as LIA does.
- Distance: the paper writes a squared L2 norm, LIA's code takes the mean absolute difference
  (L1) with weight 10 per layer. We follow the paper by default: `criterion="l2"` is the mean of
  squared differences per layer (a mean, not a sum, so the value does not grow with resolution);
  `criterion="l1"` with `layer_weights=(10,) * 5` reproduces LIA/EDTalk's code.
- Inputs are images in [-1, 1] (the project convention); ImageNet normalisation happens inside.
  No clamping (LIA clamps to [-1, 1], which zeroes gradients of out-of-range pixels).

Weights: `weights="imagenet"` loads torchvision's VGG19 ImageNet state dict through the offline
registry (`talkinglib.weights.resolve("vgg19")`; missing file -> an error that says how to fetch
it). `weights="random"` is a fixed-seed random init: no download, for tests and tiny notebooks.
Random VGG features still form a useful multi-scale, multi-receptive-field feature loss (random
conv features preserve a lot of image structure), but they are not the paper's loss.
"""
import math
import warnings
from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

VGG19_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class PerceptualConfig:
    layers: tuple = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")   # LIA / EDTalk code
    layer_weights: tuple = (1.0, 1.0, 1.0, 1.0, 1.0)
    scales: tuple = (1.0, 0.5, 0.25, 0.125)    # LIA's image pyramid; (1.0,) = single scale
    criterion: str = "l2"                      # "l2": mean squared (EDTalk Eq. 5); "l1": LIA's code
    weights: str = "random"                    # "imagenet" (registry file) | "random" (offline)
    resize: int = 0                            # >0: resize inputs to resize² first (e.g. 224); 0: keep
    seed: int = 0                              # for weights="random"


PRESETS = {
    # 64² images, one scale, relu1_1..relu3_1: loss + backward for 8 images takes 0.38 s on 2 CPU
    # cores, against 1.07 s with relu4_1 and relu5_1 (whose 512-channel convs dominate at 8²/4²)
    "tiny": PerceptualConfig(layers=("relu1_1", "relu2_1", "relu3_1"), layer_weights=(1.0, 1.0, 1.0),
                             scales=(1.0,), weights="random"),
    "full": PerceptualConfig(weights="imagenet"),
}


def vgg19_layer_names():
    """{torchvision features index: name} for every conv/relu/pool of VGG19, e.g. 1 -> 'relu1_1'."""
    names, block, conv, i = {}, 1, 0, 0
    for v in VGG19_CFG:
        if v == "M":
            names[i] = f"pool{block}"
            block, conv, i = block + 1, 0, i + 1
        else:
            conv += 1
            names[i], names[i + 1] = f"conv{block}_{conv}", f"relu{block}_{conv}"
            i += 2
    return names


def _vgg19_features(n_layers):
    """The first n_layers modules of torchvision's vgg19().features (same indices, so torchvision
    state-dict keys `features.{i}.*` load directly). Built without the 120M-parameter classifier."""
    layers, c_in = [], 3
    for v in VGG19_CFG:
        if len(layers) >= n_layers:
            break
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(c_in, v, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            c_in = v
    return nn.Sequential(*layers[:n_layers])


def antialias_downsample(x, scale):
    """Gaussian blur (σ = (1/scale − 1)/2, as in FOMM/LIA's pyramid) then keep every (1/scale)-th
    pixel. x: (B, C, H, W) -> (B, C, ⌈H·scale⌉, ⌈W·scale⌉). scale must be 1/integer."""
    if scale == 1:
        return x
    step = round(1 / scale)
    if not math.isclose(step * scale, 1.0):
        raise ValueError(f"pyramid scale {scale} must be 1/n for an integer n (0.5, 0.25, ...)")
    sigma = (step - 1) / 2
    half = round(4 * sigma)
    t = torch.arange(-half, half + 1, dtype=x.dtype, device=x.device)
    g = torch.exp(-t ** 2 / (2 * sigma ** 2))
    g = g / g.sum()                                                   # (K,) separable kernel
    C = x.shape[1]
    x = F.pad(x, (half, half, half, half))
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(C, 1, 1, -1), groups=C)   # blur along W
    x = F.conv2d(x, g.view(1, 1, -1, 1).expand(C, 1, -1, 1), groups=C)   # blur along H
    return x[:, :, ::step, ::step]


def perceptual_loss(feats_real, feats_fake, weights, criterion="l2"):
    """L_per = Σ_l w_l · mean((Φ_l(I) − Φ_l(Î))²)  (EDTalk Eq. 5; "l1": mean |·|, LIA's code).

    feats_real, feats_fake: lists of feature maps, one (B, C_l, H_l, W_l) per layer;
    weights: one float per layer. Returns a scalar. The mean runs over all elements of a layer.
    """
    if not (len(feats_real) == len(feats_fake) == len(weights)):
        raise ValueError(f"need one weight per layer: {len(feats_real)} real, {len(feats_fake)} fake "
                         f"feature maps, {len(weights)} weights")
    if criterion not in ("l1", "l2"):
        raise ValueError(f"criterion must be 'l1' or 'l2', got {criterion!r}")
    total = feats_fake[0].new_zeros(())
    for w, fr, ff in zip(weights, feats_real, feats_fake):
        d = fr - ff
        total = total + w * (d.pow(2).mean() if criterion == "l2" else d.abs().mean())
    return total


class VGGPerceptual(nn.Module):
    """Frozen, truncated VGG19 that scores L_per between a real and a generated image batch.

        vgg = VGGPerceptual.for_preset("tiny")              # random weights, one scale
        vgg = VGGPerceptual(PerceptualConfig(weights="imagenet"))   # needs `talkinglib weights fetch vgg19`
        loss = vgg.loss(real, fake)                          # (B, 3, H, W) each, in [-1, 1]

    Gradients flow to `fake` only: the real features are computed without a graph.
    `state_dict` (a torchvision vgg19 state dict) skips the registry and wins over cfg.weights.
    """

    def __init__(self, cfg: PerceptualConfig = PerceptualConfig(), state_dict=None):
        super().__init__()
        names = vgg19_layer_names()
        index = {v: k for k, v in names.items()}
        unknown = [n for n in cfg.layers if n not in index]
        if unknown:
            raise ValueError(f"unknown VGG19 layers {unknown}; choose from "
                             f"{[n for n in index if n.startswith('relu')]}")
        if len(cfg.layer_weights) != len(cfg.layers):
            raise ValueError(f"{len(cfg.layers)} layers but {len(cfg.layer_weights)} layer_weights")
        if cfg.weights not in ("imagenet", "random"):
            raise ValueError(f"weights must be 'imagenet' or 'random', got {cfg.weights!r}")
        self.cfg = cfg
        self.taps = sorted(index[n] for n in cfg.layers)             # features indices to read
        self.order = [self.taps.index(index[n]) for n in cfg.layers]  # back to cfg.layers order
        # max-pools in front of the deepest layer: the smallest input side must be ≥ 2**pools
        self.min_side = 2 ** sum(1 for i in range(self.taps[-1]) if names[i].startswith("pool"))
        if state_dict is None and cfg.weights == "imagenet":
            from talkinglib import weights as registry
            state_dict = torch.load(registry.resolve("vgg19"), map_location="cpu", weights_only=True)
        with torch.random.fork_rng(devices=[]):                      # leave the global RNG alone
            torch.manual_seed(cfg.seed)
            self.features = _vgg19_features(self.taps[-1] + 1)      # truncated after the deepest tap
            if state_dict is not None:
                self._load_torchvision(state_dict)
            else:
                self._random_init()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def for_preset(cls, preset, **overrides):
        """The named preset ('tiny' | 'full') with field overrides, e.g. weights='random'."""
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
        return cls(replace(PRESETS[preset], **overrides))

    @classmethod
    def from_registry(cls, cfg: PerceptualConfig = PerceptualConfig(), offline_ok=False):
        """ImageNet VGG19 from the weights registry. offline_ok=True falls back to the random init
        (with a warning) when the file is missing; offline_ok=False raises the not-found error."""
        from talkinglib import weights as registry
        try:
            return cls(replace(cfg, weights="imagenet"))
        except registry.WeightsNotFoundError as e:
            if not offline_ok:
                raise
            warnings.warn(f"VGG19 ImageNet weights not found; using random features instead.\n{e}")
            return cls(replace(cfg, weights="random"))

    def _load_torchvision(self, state_dict):
        """Keep the `features.{i}.*` entries of a torchvision vgg19 state dict that we use."""
        ours = {k: v for k, v in state_dict.items()
                if k.startswith("features.") and int(k.split(".")[1]) < len(self.features)}
        missing, _ = self.load_state_dict(ours, strict=False)
        missing = [k for k in missing if k.startswith("features.")]
        if missing:
            raise ValueError(f"not a torchvision VGG19 state dict: missing {missing[:4]}...")

    def _random_init(self):
        """torchvision's VGG init: Kaiming-normal (fan_out) weights, zero biases."""
        for m in self.features:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def train(self, mode=True):
        return super().train(False)          # a fixed feature extractor: always eval mode

    # -- features and loss ----------------------------------------------------------------
    def vgg_features(self, x):
        """x: (B, 3, H, W) in [-1, 1] -> [Φ_l(x)] in cfg.layers order, each (B, C_l, H_l, W_l)."""
        x = ((x + 1) / 2 - self.mean) / self.std                     # [-1, 1] -> ImageNet-normalised
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                out.append(x)
        return [out[j] for j in self.order]

    def _pyramid(self, x):
        if self.cfg.resize:
            x = F.interpolate(x, size=(self.cfg.resize, self.cfg.resize), mode="bilinear",
                              align_corners=False)
        side = min(x.shape[-2:])
        for s in self.cfg.scales:
            if side * s < self.min_side:
                raise ValueError(f"a {side}px image at pyramid scale {s} is {side * s:g}px, but "
                                 f"{self.cfg.layers[-1]} needs ≥ {self.min_side}px; drop the small "
                                 f"scales (e.g. scales=(1.0, 0.5)) or the deepest layer")
            yield antialias_downsample(x, s)

    def loss(self, real, fake):
        """Σ_scales L_per(real, fake). real, fake: (B, 3, H, W) in [-1, 1]. Returns a scalar."""
        if real.shape != fake.shape or real.dim() != 4 or real.shape[1] != 3:
            raise ValueError(f"real and fake must both be (B, 3, H, W); got {tuple(real.shape)} "
                             f"and {tuple(fake.shape)}")
        with torch.no_grad():
            feats_real = [self.vgg_features(r) for r in self._pyramid(real)]
        total = fake.new_zeros(())
        for fr, f in zip(feats_real, self._pyramid(fake)):
            total = total + perceptual_loss(fr, self.vgg_features(f), self.cfg.layer_weights,
                                            self.cfg.criterion)
        return total

    forward = loss
