"""EDTalk: one-shot talking heads with mouth, pose and expression in orthogonal latent banks.

Implements: EDTalk §3.1 (Fig. 2a, EDTalk Eqs. 1–2) and the inference paths EDTalk-V (every component
from a driving image) and EDTalk-A (mouth weights from audio, expression weights given):
    f^{i→r}, f^{id} = E(I^i)                                        encode()
    W^* = MLP^*(fc(E(I^*)))                                         navigate()          (EDTalk Eq. 1)
    f^{i→d} = f^{i→r} + Σ_{* ∈ m,p,e} Σ_i w^*_i b^*_i               compose()           (EDTalk Eqs. 1–2)
    Î = G(f^{i→d}, f^{id}, EEM(f^{r→e}))                             generate()          (EDTalk Eq. 2)

A missing driver means no navigation along that bank: W^* = 0, so the output keeps the source's
own motion for that component (f^{i→r} already carries it; G(f^{i→r}, f^{id}) reconstructs the
source). Without an expression driver EEM is skipped, as "EEM is exclusively utilized during
emotional talking face generation" (EDTalk Eq. 2) and as the official code does when its expression
feature is None. Zero expression *weights* are not the same thing: they run EEM with f^{r→e} = 0.

`full` is the official Generator(size=256, style_dim=512, lip_dim=20, pose_dim=6, exp_dim=10,
channel_multiplier=1): the same state-dict names and shapes, 64,228,397 parameters.
"""
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn as nn

from talkinglib.models.banks import METHODS, Bank, NavigationMLP, orthonormal_bases
from talkinglib.models.eem import BLOCKS
from talkinglib.models.encoder import ENCODER_NORMS, Encoder
from talkinglib.models.generator import FLOW_INITS, Generator
from talkinglib.models.layers.stylegan2 import EqualLinear
from talkinglib.models.layers.warp import GRIDS

COMPONENTS = ("mouth", "pose", "expression")
HEADS = {"mouth": "lip_fc", "pose": "pose_fc", "expression": "exp_fc"}     # official names of MLP^m, MLP^p, MLP^e
BANK_MODES = ("bases", "direct")


@dataclass(frozen=True)
class EDTalkConfig:
    size: int = 256                 # S: images are (B, 3, S, S), S a power of two >= 8
    latent_dim: int = 512           # D: f^{i→r}, every base b_i, the style of every G layer
    mouth_dim: int = 20             # bank sizes (EDTalk: 20 / 6 / 10)
    pose_dim: int = 6
    exp_dim: int = 10
    channel_base: int = 16384       # E and G channels at resolution r: min(channel_max, channel_base // r)
    channel_max: int = 512
    eem_hidden: int = 128           # hidden width of EEM's AdaIN MLPs
    eem_block: str = "official"     # "official" | "two_conv"   (eem.py)
    bank: str = "bases"             # "bases" | "direct" (w/o Bank ablation: MLPs output f^{r→*} directly)
    orthogonalize: str = "qr"       # "qr" | "gram_schmidt" | "none" (w/o Orthogonal ablation)
    warp_grid: str = "lia"          # "lia" | "aligned"   (layers/warp.py)
    flow_init: str = "lia"          # "lia" | "identity": G's flow heads start at zero offset, mask open
                                    # (generator.py). Not in LIA/EDTalk. Measured on a tiny stage 1 from
                                    # scratch, 400 steps, with warp_grid="aligned" and 30 % source = driver
                                    # pairs: at 64² the mask stayed at 0.29 (LIA init: 0.07) and offsets 2.6 px
                                    # (11), L1 0.054 (0.075); the images stayed blurred (issue 3's notes)
    encoder_norm: str = "none"      # "none" (LIA's normalisation-free E, official) | "batch" | "group": E in
                                    # plain convs with a norm after each, same widths (encoder.py). Not in
                                    # LIA/EDTalk. E + a linear head on SynthTalk's truth, test-identity jaw R²:
                                    # "none" −0.05 at 400 steps, "batch" 0.81 at 300 (eval/encoder_readout.py)
    warp_image: bool = False        # G also warps the source image at S² and blends it with its own drawing
                                    # through a mask (generator.py), so zero motion copies the source exactly.
                                    # Not in LIA/EDTalk. f^{id} then ends with the image (encoder.py)
    image_draw: bool = False        # with warp_image: where the image mask closes, G's own S² features add to its
                                    # warped-feature drawing, so it can show what the source lacks (generator.py)

    def __post_init__(self):
        for name, allowed in (("eem_block", BLOCKS), ("bank", BANK_MODES), ("orthogonalize", METHODS),
                              ("warp_grid", GRIDS), ("flow_init", FLOW_INITS),
                              ("encoder_norm", ENCODER_NORMS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"EDTalkConfig.{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.size < 8 or self.size & (self.size - 1):
            raise ValueError(f"EDTalkConfig.size must be a power of two >= 8, got {self.size}")
        if self.image_draw and not self.warp_image:
            raise ValueError("EDTalkConfig.image_draw=True needs warp_image=True (it draws what the warped source "
                             "image leaves out)")

    @property
    def bank_sizes(self):
        return {"mouth": self.mouth_dim, "pose": self.pose_dim, "expression": self.exp_dim}


PRESETS = {
    # 64² images, D = 128, channels 128 at 4²..16², 64 at 32², 32 at 64². Choices of ours (not in
    # EDTalk or LIA), each measured where it is defined: a BatchNorm E that learns the few-pixel
    # mouth (encoder.py); G's flow heads started at the identity on an aligned grid, so that its
    # 32² and 64² levels draw the image; and G warping the source image itself at 64², so that the
    # face stays sharp (generator.py)
    "tiny": EDTalkConfig(size=64, latent_dim=128, channel_base=2048, channel_max=128, eem_hidden=32,
                         encoder_norm="batch", flow_init="identity", warp_grid="aligned", warp_image=True,
                         image_draw=True),
    "full": EDTalkConfig(),         # the official EDTalk.pt generator
}


class SourceCode(NamedTuple):
    """What the source image contributes, computed once per clip: latent f^{i→r} (B, D) and f^{id}."""
    latent: torch.Tensor
    feats: list


class EDTalk(nn.Module):
    """E, G, the shared trunk `fc`, the navigation MLPs and the banks (official attribute names)."""

    def __init__(self, cfg: EDTalkConfig = EDTalkConfig()):
        super().__init__()
        self.cfg = cfg
        D, n = cfg.latent_dim, cfg.bank_sizes
        self.enc = Encoder(cfg.size, D, cfg.channel_base, cfg.channel_max, cfg.encoder_norm, cfg.warp_image)
        self.dec = Generator(cfg.size, D, cfg.channel_base, cfg.channel_max, cfg.eem_hidden, cfg.eem_block,
                             cfg.warp_grid, flow_init=cfg.flow_init, warp_image=cfg.warp_image,
                             image_draw=cfg.image_draw)
        if cfg.bank == "bases":
            self.direction_lipnonlip = Bank(D, n["mouth"] + n["pose"])     # [B^m | B^p]   (D, 26)
            self.direction_exp = Bank(D, n["expression"])                  # B^e           (D, 10)
        out = lambda k: k if cfg.bank == "bases" else D                    # noqa: E731
        self.fc = nn.Sequential(*[EqualLinear(D, D) for _ in range(4)])  # shared trunk: A.1's "four MLPs" of E
        self.lip_fc = NavigationMLP(D, out(n["mouth"]))                    # MLP^m (MLN)
        self.pose_fc = NavigationMLP(D, out(n["pose"]))                    # MLP^p (PLN)
        self.exp_fc = NavigationMLP(D, out(n["expression"]))               # MLP^e (ELN)
        ends = [sum(n[c] for c in COMPONENTS[:i + 1]) for i in range(len(COMPONENTS))]
        self._cols = {c: slice(e - n[c], e) for c, e in zip(COMPONENTS, ends)}   # columns of Q per bank

    # -- E ------------------------------------------------------------------------------------
    def encode(self, img):
        """img (B, 3, S, S) in [-1, 1] -> SourceCode(latent f^{*→r} (B, D), f^{id} [8² ... S²])."""
        self._check_images(img, "img")
        return SourceCode(*self.enc(img))

    # -- banks (EDTalk Eq. 1) ------------------------------------------------------------------------
    def bank_matrix(self):
        """The raw learnable bank [B^m | B^p | B^e] (D, 36), before orthogonalisation."""
        if self.cfg.bank != "bases":
            raise ValueError("this model has bank='direct' (the w/o Bank ablation): there is no bank matrix")
        return torch.cat([self.direction_lipnonlip.weight, self.direction_exp.weight], dim=1)

    def bases(self):
        """Q (D, 36): orthonormal bases [mouth | pose | expression] (one QR of the whole bank)."""
        W = self.bank_matrix()
        return orthonormal_bases(W, self.cfg.orthogonalize).to(W.dtype)

    def navigate(self, latent, components=COMPONENTS):
        """W^* = MLP^*(fc(f^{*→r})) for each component: {name: (B, K_*)} ((B, D) if bank='direct')."""
        self._check_latent(latent)
        h = self.fc(latent)                                                # (B, D) shared trunk
        return {c: getattr(self, HEADS[c])(h) for c in components}

    def feature(self, component, w, Q=None):
        """f^{r→*} = Σ_i w_i b^*_i (B, D) for one bank (EDTalk Eq. 1); with bank='direct', w is f^{r→*} itself."""
        self._check_weights(w, component)
        if self.cfg.bank == "direct":
            return w
        Q = self.bases() if Q is None else Q
        return (w[:, :, None] * Q[:, self._cols[component]].T).sum(1)      # (B, K, D) summed over K

    def compose(self, latent, mouth=None, pose=None, expression=None, Q=None):
        """f^{i→d} = f^{i→r} + f^{r→m} + f^{r→p} + f^{r→e} (EDTalk Eqs. 1–2); latent None gives f^{r→d} alone.
        A component left None adds nothing (its weights are zero)."""
        weights = {"mouth": mouth, "pose": pose, "expression": expression}
        given = {c: w for c, w in weights.items() if w is not None}
        for c, w in given.items():
            self._check_weights(w, c)
        if not given:
            return latent
        if self.cfg.bank == "direct":                                      # w/o Bank: MLPs output f^{r→*}
            offset = sum(given.values())
        else:
            Q = self.bases() if Q is None else Q                           # (D, 36)
            B = max(w.shape[0] for w in given.values())
            w = torch.cat([given[c].expand(B, -1) if c in given else Q.new_zeros(B, self.cfg.bank_sizes[c])
                           for c in COMPONENTS], dim=1)                    # (B, 36), zeros where not driven
            offset = (w[:, :, None] * Q.T).sum(1)                          # Σ_i w_i b_i  (B, D)
        return offset if latent is None else latent + offset

    # -- G (EDTalk Eq. 2) ----------------------------------------------------------------------------
    def generate(self, latent, feats, expression=None, return_warp=False):
        """Î = G(f^{i→d}, f^{id}, EEM(f^{r→e})) (B, 3, S, S). expression: W^e (B, K_e), or None to skip EEM.
        A batch-1 f^{id} is broadcast to the latent's batch (one source, many frames).
        return_warp=True gives (Î, {"offset", "image_mask"}) of the S² level (Generator.forward)."""
        self._check_latent(latent)
        B = latent.shape[0]
        feats = [f.expand(B, *f.shape[1:]) if f.shape[0] == 1 and B > 1 else f for f in feats]
        f_exp = None if expression is None else self.feature("expression", expression)   # f^{r→e} (B, D)
        return self.dec(latent, feats, f_exp, return_warp=return_warp)

    def express(self, feats, expression):
        """The identity pyramid with an expression applied, f^{id}_e = EEM(f^{id}, f^{r→e}) (EDTalk Eq. 8), for
        expression weights W^e (B, K_e). generate(latent, express(feats, W^e)) equals
        generate(latent, feats, expression=W^e): a clip with one expression computes it once."""
        return self.dec.express(feats, self.feature("expression", expression))

    # -- inference ----------------------------------------------------------------------------
    def expression_weights(self, frames):
        """W^e from one frame (B, 3, S, S) or the mean over a window (B, K, 3, S, S): the ELN's
        clean expression of §3.2 ("average K extracted expression features"; f^{r→e} is linear in W^e)."""
        if frames.dim() == 5:
            B, K = frames.shape[:2]
            w = self.navigate(self.encode(frames.flatten(0, 1)).latent, ("expression",))["expression"]
            return w.view(B, K, -1).mean(1)                                # (B, K_e)
        return self.navigate(self.encode(frames).latent, ("expression",))["expression"]

    def animate(self, source, *, mouth=None, pose=None, expression=None,
                mouth_weights=None, pose_weights=None, expression_weights=None):
        """Drive `source`: an image (B, 3, S, S), or encode(image) (a SourceCode, or the pair
        (latent, feats)) computed once and reused for every frame of a clip: the same result.

        Each component comes from a driving image (expression also from a window (B, K, 3, S, S))
        or from weights (B, K_*), or neither: then the source's own motion is kept (module
        docstring). Batches broadcast: a batch-1 source with T driving frames gives T images.
        """
        code = SourceCode(*source) if isinstance(source, (tuple, list)) else self.encode(source)
        given = {"mouth": (mouth, mouth_weights), "pose": (pose, pose_weights),
                 "expression": (expression, expression_weights)}
        weights = {}
        for c, (img, w) in given.items():
            if img is not None and w is not None:
                raise ValueError(f"give either {c}= (an image) or {c}_weights=, not both")
            weights[c] = w
        images = {c: img for c, (img, _) in given.items() if img is not None}
        weights.update(self._weights_from_images(images))
        self._check_batches(code.latent.shape[0], weights)
        latent = self.compose(code.latent, **weights)                      # f^{i→d} (B, D)
        return self.generate(latent, code.feats, expression=weights["expression"])

    forward = animate

    def _weights_from_images(self, images):
        """One encoder pass for all driving images (the same tensor given twice is encoded once)."""
        if torch.is_tensor(images.get("expression")) and images["expression"].dim() == 5:   # a window of K frames
            out = {"expression": self.expression_weights(images.pop("expression"))}
        else:
            out = {}
        unique = list({id(x): x for x in images.values()}.values())
        if not unique:
            return out
        for x in unique:
            self._check_images(x, next(c for c, y in images.items() if y is x))
        latents = self.encode(torch.cat(unique)).latent.split([len(x) for x in unique])
        for x, lat in zip(unique, latents):
            wanted = tuple(c for c, y in images.items() if y is x)
            out.update(self.navigate(lat, wanted))
        return out

    # -- parameter groups (training stages, EDTalk A.3) ---------------------------------------
    def named_param_groups(self):
        """{group: [(name, parameter)]} over every parameter, each in exactly one group:
        encoder     E (enc.*) and the shared trunk fc.* (A.1 counts fc as part of E)
        generator   G (dec.*) without EEM and without the unused parameters
        mouth_pose  MLN (lip_fc), PLN (pose_fc), [B^m | B^p] (direction_lipnonlip)
        expression  ELN (exp_fc), B^e (direction_exp), EEM (dec.fineadainresblock.*)
        unused      parameters that never reach the output (to_rgb1, noise strengths, the dead
                    half of the official EEM block): never trained, kept for loading
        """
        unused = {f"dec.{n}" for n in self.dec.unused_parameter_names()}
        prefixes = [("encoder", ("enc.", "fc.")),
                    ("expression", ("dec.fineadainresblock.", "exp_fc.", "direction_exp.")),   # before "dec."
                    ("generator", ("dec.",)),
                    ("mouth_pose", ("lip_fc.", "pose_fc.", "direction_lipnonlip."))]
        groups = {g: [] for g in ("encoder", "generator", "mouth_pose", "expression", "unused")}
        for name, p in self.named_parameters():
            g = "unused" if name in unused else next(g for g, pre in prefixes if name.startswith(pre))
            groups[g].append((name, p))
        return groups

    def param_groups(self):
        """{group: [parameter]}; see named_param_groups()."""
        return {g: [p for _, p in named] for g, named in self.named_param_groups().items()}

    def reset_navigation(self, components=COMPONENTS):
        """Re-initialise MLP^* and the bank columns of each named component (global torch RNG)."""
        for c in components:
            getattr(self, HEADS[c]).reset_parameters()
            if self.cfg.bank == "bases":
                bank = self.direction_exp if c == "expression" else self.direction_lipnonlip
                cols = self._cols[c] if c != "expression" else slice(None)
                bank.reset_columns(cols)

    # -- input checks -------------------------------------------------------------------------
    def _check_images(self, x, name):
        S = self.cfg.size
        if not torch.is_tensor(x) or x.dim() != 4 or tuple(x.shape[1:]) != (3, S, S):
            got = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise ValueError(f"{name} must be images (B, 3, {S}, {S}) in [-1, 1] (this model's config.size "
                             f"is {S}); got {got}. Resize the frames to {S}x{S}.")

    def _check_latent(self, latent):
        D = self.cfg.latent_dim
        if not torch.is_tensor(latent) or latent.dim() != 2 or latent.shape[1] != D:
            got = tuple(latent.shape) if torch.is_tensor(latent) else type(latent).__name__
            raise ValueError(f"latent must be (B, {D}) (f^{{*→r}} from encode(img).latent); got {got}")

    def _check_weights(self, w, component):
        k = self.cfg.latent_dim if self.cfg.bank == "direct" else self.cfg.bank_sizes[component]
        if not torch.is_tensor(w) or w.dim() != 2 or w.shape[1] != k:
            got = tuple(w.shape) if torch.is_tensor(w) else type(w).__name__
            raise ValueError(f"{component} weights must be (B, {k}): one weight per {component} base; got {got}")

    def _check_batches(self, b_src, weights):
        sizes = {"source": b_src, **{c: w.shape[0] for c, w in weights.items() if w is not None}}
        B = max(sizes.values())
        bad = {k: b for k, b in sizes.items() if b not in (1, B)}
        if bad:
            raise ValueError(f"batch sizes must match or be 1 (broadcast); got {sizes}")


def generate_window(edtalk, source, w_mouth, w_pose, w_exp):
    """Î for each frame of a window: source (B, 3, H, W), weights (B, F, K_*) -> (B, F, 3, H, W)."""
    B, F = w_mouth.shape[:2]
    code = edtalk.encode(source)
    lat = code.latent.repeat_interleave(F, 0)                             # (B*F, D)
    feats = [f.repeat_interleave(F, 0) for f in code.feats]
    w = {"mouth": w_mouth.flatten(0, 1), "pose": w_pose.flatten(0, 1), "expression": w_exp.flatten(0, 1)}
    img = edtalk.generate(edtalk.compose(lat, **w), feats, expression=w["expression"])
    return img.view(B, F, *img.shape[1:])
