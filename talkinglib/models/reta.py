"""RETA: one image + audio -> talking frames, with a 3DMM geometric prior and a distilled emotion,
injected hierarchically into EDTalk's warping generator.

Implements: RETA §3.1-3.2, Fig. 1 and 4, Appendix C.2 and C.4:
    f_A              = E_A(A_{1:T})                    wav2vec 2.0 per video frame     (B, T, C_A)
    f_M              = E_M(s̄ + U^exp D(f_A))           geometric prior                 (B, T, D)   bridge_3dmm.py
    f_E              = S(f_A)                          emotion, in the teacher's space (B, T, H_T) emotion.py
    f_STY, f_TEX     = E_I(I^i)                        EDTalk's E: latent and pyramid  (B, D), [8² ... S²]
    f_CTRL^j         = f_STY + f_M        for the first `motion_levels` levels of G (coarse: structure, lips)
                     = f_STY + P_E(f_E)   for the later levels (fine: expression detail)           (RETA Eq. 1)
    Î_t              = G(f_CTRL, f_TEX)                EDTalk's flow-warping G
AdaIN (RETA Eq. 1) is G's style modulation: each StyledConv's affine AF (`modulation`, an EqualLinear)
maps f_CTRL^j to per-channel scales α that modulate the conv, and weight demodulation takes the
place of the division by σ (StyleGAN2 §2.2, which replaced AdaIN by exactly this). G is
initialised from EDTalk, whose layers already take their style through these affines, so the
only change is which control each level reads. P_E is a linear map from the teacher's embedding
space to G's latent space (RETA's f_E is 512-d while its ViT teacher's embedding is 768-d, so some
projection exists; the paper does not show it). E_M's last layer and P_E start at zero: before
training, f_CTRL = f_STY everywhere and G reproduces EDTalk's reconstruction of the source.

Ablations of RETA Tab. 4 are config fields (presets stay presets):
    geometric=False   w/o GPL   f_M = 0                    bridge.bridge="direct"  w/o 3DMM
    emotion=False     w/o ERL   f_E = 0 (train/reta.py then drops L_emo^{v-a} and cross-synthesis)
    style=False       w/o f_STY                            injection="concat"     w/o HI
    (w/o EDS and w/o TVM are training settings: train/reta.py)
"concat" feeds Linear([f_STY, f_M, P_E(f_E)]) to every level ("concatenating all features at the
input layer"), the linear initialised to the sum, so that only the routing differs from "hierarchical".

    model = RETA(PRESETS["tiny"]); model.init_from_edtalk(edtalk)
    frames = model(source, wav)                  # (B, 3, S, S), (B, N) 16 kHz -> (B, T, 3, S, S)
"""
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from talkinglib.models.audio_encoder import PRESETS as AUDIO_PRESETS, AudioEncoder, AudioEncoderConfig
from talkinglib.models.bridge_3dmm import BridgeConfig, GeometricPrior, Morphable3DMM
from talkinglib.models.edtalk import SourceCode
from talkinglib.models.emotion import STUDENT_PRESETS, EmotionStudent, StudentConfig
from talkinglib.models.encoder import Encoder
from talkinglib.models.generator import Generator

INJECTIONS = ("hierarchical", "concat")


@dataclass(frozen=True)
class RETAConfig:
    size: int = 256                      # E_I and G: EDTalk's architecture (models/edtalk.py)
    latent_dim: int = 512                # D: f_STY, f_M, f_CTRL
    channel_base: int = 16384
    channel_max: int = 512
    warp_grid: str = "lia"               # E_I and G as EDTalk's; training takes both from the EDTalk checkpoint
    encoder_norm: str = "none"           # it starts from (train/reta.py), so they always match its weights
    warp_image: bool = False             # likewise (EDTalkConfig.warp_image, image_draw)
    image_draw: bool = False
    teacher_dim: int = 768               # H_T: the teacher's embedding (ViT-B: 768)
    motion_levels: int = 4               # G levels (4², 8², ...) driven by f_STY + f_M; the rest by f_STY + f_E.
                                         # Ours: RETA says "early" and "later" layers, without a split
    fine_motion: bool = False            # ours, not in RETA: f_M also drives the later levels (f_STY + f_M + f_E),
                                         # for a G that draws the open mouth at its finest level (the tiny G's 64²
                                         # image draw: EDTalk's mouth code at levels 1-3 only gave jaw R² −0.24,
                                         # at all 5 levels 0.60). f_E still stays out of the early levels
    injection: str = "hierarchical"      # "hierarchical" | "concat" (w/o HI)
    style: bool = True                   # f_STY in the control (False: w/o f_STY)
    geometric: bool = True               # the GPL branch (False: w/o GPL)
    emotion: bool = True                 # the ERL branch (False: w/o ERL)
    audio: AudioEncoderConfig = field(default_factory=AudioEncoderConfig)
    bridge: BridgeConfig = field(default_factory=BridgeConfig)
    student: StudentConfig = field(default_factory=StudentConfig)

    def __post_init__(self):
        if self.injection not in INJECTIONS:
            raise ValueError(f"RETAConfig.injection must be one of {INJECTIONS}, got {self.injection!r}")
        if self.bridge.motion_dim != self.latent_dim:
            raise ValueError(f"bridge.motion_dim ({self.bridge.motion_dim}) must equal latent_dim ({self.latent_dim}):"
                             " f_M is added to f_STY")


PRESETS = {
    # E_I and G as EDTalk's tiny preset (64², D = 128), so RETA starts from edtalk_tiny.pt; the tiny
    # teacher's 96-d embedding; 5 G levels (4² ... 64²): f_M drives 4², 8², 16², f_E drives 32², 64². Ours, for
    # the tiny G (issue 18): fine_motion (f_M reaches the 64² image draw too) and offset_norm (E_M reads unit-scale
    # offsets); with them and train/reta.py's code terms, jaw R² 0.69 (TRAIN_PRESETS["tiny"])
    "tiny": RETAConfig(size=64, latent_dim=128, channel_base=2048, channel_max=128, teacher_dim=96,
                       warp_grid="aligned", encoder_norm="batch", warp_image=True, image_draw=True, motion_levels=3,
                       fine_motion=True, audio=AUDIO_PRESETS["tiny"],
                       bridge=BridgeConfig(encoder_hidden=128, motion_dim=128, offset_norm=True),
                       student=STUDENT_PRESETS["tiny"]),
    # official EDTalk G (256², D = 512, 7 levels: f_M drives 4² ... 32²), wav2vec 2.0 base, ViT-B teacher
    "full": RETAConfig(bridge=BridgeConfig(hidden=256, encoder_hidden=512, motion_dim=512),
                       student=STUDENT_PRESETS["full"]),
}


class RETA(nn.Module):
    def __init__(self, cfg: RETAConfig = RETAConfig(), mm: Morphable3DMM | None = None):
        super().__init__()
        self.cfg = cfg
        D = cfg.latent_dim
        self.audio = AudioEncoder(cfg.audio)                                                     # E_A
        self.geometry = GeometricPrior(self.audio.dim, cfg.bridge, mm)                           # D, 3DMM, E_M
        self.student = EmotionStudent(self.audio.dim, cfg.teacher_dim, cfg.student)              # S
        self.emotion_proj = nn.Linear(cfg.teacher_dim, D)                                        # P_E
        nn.init.zeros_(self.emotion_proj.weight)
        nn.init.zeros_(self.emotion_proj.bias)
        self.enc = Encoder(cfg.size, D, cfg.channel_base, cfg.channel_max, cfg.encoder_norm, cfg.warp_image)  # E_I
        self.dec = Generator(cfg.size, D, cfg.channel_base, cfg.channel_max, grid=cfg.warp_grid, eem=False,
                             warp_image=cfg.warp_image, image_draw=cfg.image_draw)                          # G
        if not 1 <= cfg.motion_levels < self.dec.num_levels:
            raise ValueError(f"motion_levels must be in 1..{self.dec.num_levels - 1} (G has {self.dec.num_levels} "
                             f"levels, 4² ... {cfg.size}²); got {cfg.motion_levels}")
        if cfg.injection == "concat":
            self.fuse = nn.Linear(3 * D, D)                                                      # w/o HI
            with torch.no_grad():
                self.fuse.weight.copy_(torch.eye(D).repeat(1, 3))                               # = the sum at start
                self.fuse.bias.zero_()

    # -- E_I ----------------------------------------------------------------------------------
    def encode_source(self, img):
        """img (B, 3, S, S) in [-1, 1] -> SourceCode(f_STY (B, D), f_TEX [8² ... S²])."""
        S = self.cfg.size
        if img.dim() != 4 or tuple(img.shape[1:]) != (3, S, S):
            raise ValueError(f"the identity image must be (B, 3, {S}, {S}) in [-1, 1]; got {tuple(img.shape)}")
        return SourceCode(*self.enc(img))

    # -- audio branches (§3.1) ----------------------------------------------------------------
    def controls(self, wav, num_frames=None):
        """wav (B, N) 16 kHz -> {"f_A", "f_M", "f_E", and with the 3DMM bridge "p_exp", "meshes"}, per frame."""
        f_a = self.audio(wav, num_frames)                                  # (B, T, C_A)
        out = {"f_A": f_a, **self.geometry(f_a), "f_E": self.student(f_a)}
        return out

    # -- hierarchical injection (§3.2, RETA Eq. 1) ---------------------------------------------------
    def control_styles(self, f_sty, f_m, f_e):
        """f_STY, f_M (N, D), f_E (N, H_T) -> per-level styles (N, L, D) for G."""
        zero = torch.zeros_like(f_sty)
        sty = f_sty if self.cfg.style else zero
        m = f_m if self.cfg.geometric else zero
        e = self.emotion_proj(f_e) if self.cfg.emotion else zero
        L, k = self.dec.num_levels, self.cfg.motion_levels
        if self.cfg.injection == "concat":
            c = self.fuse(torch.cat([sty, m, e], -1))
            return c[:, None].expand(-1, L, -1)
        early, late = sty + m, sty + e + (m if self.cfg.fine_motion else zero)
        return torch.stack([early] * k + [late] * (L - k), dim=1)

    def render(self, source: SourceCode, f_m, f_e):
        """Frames for N (f_M, f_E) rows: f_m (N, D), f_e (N, H_T); a batch-1 source is broadcast."""
        N = f_m.shape[0]
        sty = source.latent.expand(N, -1) if source.latent.shape[0] == 1 else source.latent
        feats = [f.expand(N, *f.shape[1:]) if f.shape[0] == 1 and N > 1 else f for f in source.feats]
        return self.dec(self.control_styles(sty, f_m, f_e), feats)        # (N, 3, S, S)

    def forward(self, source, wav, num_frames=None):
        """source (B, 3, S, S), wav (B, N) -> frames (B, T, 3, S, S)."""
        code = self.encode_source(source)
        c = self.controls(wav, num_frames)
        B, T = c["f_M"].shape[:2]
        rep = lambda x: x.repeat_interleave(T, 0)                           # noqa: E731  one row per frame
        src = SourceCode(rep(code.latent), [rep(f) for f in code.feats])
        out = self.render(src, c["f_M"].flatten(0, 1), c["f_E"].flatten(0, 1))
        return out.view(B, T, *out.shape[1:])

    # -- initialisation and training groups --------------------------------------------------------
    @torch.no_grad()
    def init_from_edtalk(self, edtalk):
        """E_I <- EDTalk's E, G <- EDTalk's G (RETA §3.2: "We initialize G and its encoder E_I with
        EDTalk's pretrained weights"). Shapes must match: build RETA with EDTalk's size and widths.
        RETA's G has no EEM blocks (its emotion enters through f_CTRL), so EDTalk's are left behind."""
        for mine, theirs, name in ((self.enc, edtalk.enc, "E"), (self.dec, edtalk.dec, "G")):
            own, other = mine.state_dict(), theirs.state_dict()
            bad = [k for k in own if k not in other or other[k].shape != own[k].shape]
            if bad:
                raise ValueError(f"EDTalk's {name} does not fit this RETA ({len(bad)} tensors differ, e.g. {bad[:3]}); "
                                 f"use the RETA preset with EDTalk's size, widths, encoder_norm and warp_image (EDTalk "
                                 f"{edtalk.cfg.size}², D = {edtalk.cfg.latent_dim}, encoder_norm={edtalk.cfg.encoder_norm!r}, "
                                 f"warp_image={edtalk.cfg.warp_image}, image_draw={edtalk.cfg.image_draw})")
            mine.load_state_dict({k: other[k].to(own[k].dtype) for k in own})
        return self

    def trained_parameters(self):
        """Everything RETA trains end to end: E_A (but a frozen CNN encoder), D, E_M, S, P_E, E_I and G
        (without G's unused tensors, which never reach the output)."""
        unused = {f"dec.{n}" for n in self.dec.unused_parameter_names()}
        return [p for n, p in self.named_parameters() if p.requires_grad and n not in unused]

    def branch_parameters(self):
        """The branches phase 2 starts from scratch: D, E_M (or the direct TCN) and P_E (they may take their
        own lr; E_A and the student S arrive distilled)."""
        mods = (self.geometry, self.emotion_proj)
        return [p for m in mods for p in m.parameters() if p.requires_grad]

    def audio_parameters(self):
        """E_A and the student S: what distillation alone trains (train/reta.py's first phase)."""
        return [p for p in list(self.audio.parameters()) + list(self.student.parameters()) if p.requires_grad]
