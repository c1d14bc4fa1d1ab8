"""Which of G's levels draw the image? Per level r = 8², 16², ..., S², measured on real frames.

G's image is a sum over levels (generator.py): rgb_S = Σ_r up(ToRGB_r(w_r)). A level whose own
term ToRGB_r(w_r) is flat draws nothing; issue 18 found LIA's flow start-up leaves a tiny G
drawing at 16² (std 0.07 / 0.30 / 0.02 / 0.03 for 8² ... 64²), hence the blur. Also per level:
the mean mask m_r (how much of the warped f^{id} passes) and the mean offset in pixels of that level.
"""
import torch


@torch.no_grad()
def level_contributions(model, images):
    """images (B, 3, S, S) in [-1, 1], each driving its own reconstruction (driver = source).
    Returns {"resolution": [8, ..., S], "rgb_std": [...], "mask": [...], "offset_px": [...]}."""
    rgb, raw = [], []
    hooks = [t.conv.register_forward_hook(lambda mod, i, o: rgb.append(o)) for t in model.dec.to_rgbs]
    hooks += [f.register_forward_hook(lambda mod, i, o: raw.append(o[2])) for f in model.dec.to_flows]
    try:
        code = model.encode(images)
        w = model.navigate(code.latent, ("mouth", "pose"))
        model.generate(model.compose(code.latent, mouth=w["mouth"], pose=w["pose"]), code.feats)
    finally:
        for h in hooks:
            h.remove()
    res = [o.shape[-1] for o in rgb]
    return {"resolution": res,
            "rgb_std": [float(o.std()) for o in rgb],
            "mask": [float(torch.sigmoid(o[:, 2]).mean()) for o in raw],
            "offset_px": [float(torch.tanh(o[:, :2]).abs().mean() * r / 2) for o, r in zip(raw, res)]}
