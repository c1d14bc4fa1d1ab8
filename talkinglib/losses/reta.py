"""RETA's training losses (§3.3, RETA Eqs. 2–6), one small pure function each: tensors in, a scalar out.

    L = L_rec + λ_adv L_adv + λ_syn L_syn + λ_emo (L_emo^{v-v} + L_emo^{v-a})           (RETA Eq. 2)
with λ_L1 = λ_emo = 2 and the other weights 1 (D.2; train/reta_config.py holds the weights).
The VGG term of RETA Eq. 3 uses losses/perceptual.py with criterion="l1" (RETA writes ‖φ(ŷ) − φ(y)‖₁).
Batch convention: means over the batch, as losses/edtalk.py.
"""
import torch.nn.functional as F


def masked_l1_loss(real, fake, mask):
    """‖(ŷ − y) ⊙ M_motion‖₁ (RETA Eq. 3's motion term): the mean over all pixels of the masked error,
    so the term weighs the moving region by its area (an empty mask gives 0).
    real, fake: (B, 3, H, W); mask (B, 1, H, W) in {0, 1} from TVM (models/tvm.py)."""
    return ((real - fake).abs() * mask).mean()


def relativistic_g_loss(real_logits, fake_logits):
    """RETA Eq. 4, generator side: E[softplus(D(y) − D(ŷ))], real_logits and fake_logits paired (B, 1).
    As RETA Eq. 4 is written: each real against its own fake (the text says "relativistic average", whose
    form would subtract the batch mean of the other side; we follow the equation)."""
    return F.softplus(real_logits - fake_logits).mean()


def relativistic_d_loss(real_logits, fake_logits):
    """RETA Eq. 4's "symmetric" discriminator side: E[softplus(D(ŷ) − D(y))]."""
    return F.softplus(fake_logits - real_logits).mean()


def sync_cosine_loss(v, s, eps=1e-8):
    """RETA Eq. 5: L_sync = 1 − v·s / max(‖v‖‖s‖, ε), SyncNet's face (v) and audio (s) embeddings (B, K)."""
    cos = (v * s).sum(-1) / (v.norm(dim=-1) * s.norm(dim=-1)).clamp_min(eps)
    return (1 - cos).mean()


def emotion_kl_loss(logits_gt, logits_gen):
    """RETA Eq. 6: L_emo^{v-v} = D_KL(P(sg(z_gt)) ‖ P(z_gen)), teacher logits (B, n) of the ground truth
    (a fixed target: detached here) and of the generated frame."""
    p = F.softmax(logits_gt.detach(), -1)
    return (p * (F.log_softmax(logits_gt.detach(), -1) - F.log_softmax(logits_gen, -1))).sum(-1).mean()


def distillation_loss(f_e, f_v):
    """L_emo^{v-a} = 1 − cos(f_E, sg(f_V)) (§3.1): the audio student's embedding against the
    teacher's, per frame. f_e, f_v: (..., H_T); the teacher side is detached."""
    return (1 - F.cosine_similarity(f_e, f_v.detach(), dim=-1)).mean()
