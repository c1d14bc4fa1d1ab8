"""Cross-reconstruction (EDTalk §3.2, EDTalk Eqs. 3–4): swap mouths between two frames, then reconstruct
each frame from the other's pose and its own mouth. Stage edtalk.mouth_pose trains on it; notebook 02
shows it.
"""
import torch

from talkinglib.data.mouth_swap import superimpose_mouth


def bank_feature(model, latent_like, **weights):
    """f^{r→*} = Σ_i w_i b_i for one bank (the D-dim feature of EDTalk Eq. 1), via compose from a zero latent."""
    return model.compose(torch.zeros_like(latent_like), **weights)


def cross_reconstruct(m, batch, expression=False):
    """EDTalk Eqs. 3–4 and the generator calls. Returns the images and features the losses need.
    expression=True (EDTalkTrainConfig.all_clips, ours): every image also takes the W^e of the frame it
    reconstructs, read from that frame (the swaps: the mouth frame's)."""
    a, b, lm_a, lm_b = batch["a"], batch["b"], batch["lm_a"], batch["lm_b"]
    x_ab, _ = superimpose_mouth(a, lm_a, b, lm_b)                     # I^{m_a}_{p_b}: b wearing a's mouth
    x_ba, _ = superimpose_mouth(b, lm_b, a, lm_a)                     # I^{m_b}_{p_a}
    B = a.shape[0]
    with torch.no_grad():                                             # E is frozen: no graph through it
        lat_s, feats_s = m.encode(batch["source"])                    # f^{s→r}, f^{id}
        lat_ab, lat_ba, lat_a, lat_b = m.encode(torch.cat([x_ab, x_ba, a, b]))[0].split(B)
    w_ab, w_ba = m.navigate(lat_ab), m.navigate(lat_ba)               # EDTalk Eqs. 3, 4
    w_a, w_b = m.navigate(lat_a), m.navigate(lat_b)                   # PLN(E(I^#)), MLN(E(I^#))
    lat_s2, feats_s2 = torch.cat([lat_s, lat_s]), [f.repeat(2, *[1] * (f.dim() - 1)) for f in feats_s]

    exp_ab = torch.cat([w_a["expression"], w_b["expression"]]).detach() if expression else None   # (2B, K_e): a, b

    def gen(mouth, pose, expression=exp_ab):                          # G(f^{s→r} + f^{r→m} + f^{r→p}, f^{id})
        return m.generate(m.compose(lat_s2, mouth=mouth, pose=pose, expression=expression), feats_s2).split(B)

    fake_a, fake_b = gen(torch.cat([w_ab["mouth"], w_ba["mouth"]]), torch.cat([w_ba["pose"], w_ab["pose"]]))
    self_a, self_b = gen(torch.cat([w_a["mouth"], w_b["mouth"]]), torch.cat([w_a["pose"], w_b["pose"]]))
    feat = lambda **w: bank_feature(m, lat_s, **w)                    # f^{r→*} (B, D)
    fea = {"pose_a": (feat(pose=w_ba["pose"]), feat(pose=w_a["pose"])),
           "pose_b": (feat(pose=w_ab["pose"]), feat(pose=w_b["pose"])),
           "mouth_a": (feat(mouth=w_ab["mouth"]), feat(mouth=w_a["mouth"])),
           "mouth_b": (feat(mouth=w_ba["mouth"]), feat(mouth=w_b["mouth"]))}
    return {"x_ab": x_ab, "x_ba": x_ba, "fake_a": fake_a, "fake_b": fake_b, "self_a": self_a, "self_b": self_b,
            "fea": fea, "w": {"ab": w_ab, "ba": w_ba, "a": w_a, "b": w_b}, "gen": gen}
