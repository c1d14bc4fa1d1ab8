"""The adversarial side shared by EDTalk's video stages and RETA: the D step (EDTalk Eq. 6, RETA Eq. 4) and
the discriminator a run trains, rebuilt from the config it saved.
"""
from dataclasses import replace

from talkinglib import checkpoints
from talkinglib.losses.edtalk import d_logistic_loss, r1_penalty
from talkinglib.train.common import average_gradients


def discriminator_step(D, d_opt, real, fake, cfg, d_step, params_d, world, loss_fn=d_logistic_loss):
    """One D update on (real, fake.detach()), with the lazy R1 penalty. Returns the loss.
    loss_fn(real_logits, fake_logits): EDTalk Eq. 6 by default; RETA passes RETA Eq. 4."""
    D.requires_grad_(True)
    loss = loss_fn(D(real), D(fake.detach()))
    if cfg.r1 > 0 and d_step % cfg.r1_every == 0:
        real = real.detach().requires_grad_(True)
        loss = loss + cfg.r1 * cfg.r1_every * r1_penalty(D(real), real)
    d_opt.zero_grad(set_to_none=True)
    loss.backward()
    average_gradients(params_d, world)
    d_opt.step()
    D.requires_grad_(False)          # the G step must not accumulate into D
    return loss.detach()


def build_discriminator(cfg, size, state=None):
    """The adversarial D of a run: resuming (`state`, the run's checkpoint), built from the config the run saved,
    so that a later change of the preset cannot rebuild another D under its weights; else `cfg` (the preset's
    DiscriminatorConfig) at the model's size. Checkpoints from before the config was saved are read with cfg."""
    from talkinglib.models.discriminator import Discriminator, DiscriminatorConfig
    saved = (state or {}).get("extra", {}).get("discriminator_config")
    if saved is not None:
        return Discriminator(checkpoints.config_from_dict(DiscriminatorConfig, saved))
    return Discriminator(replace(cfg, size=size))
