"""PSNR and SSIM against hand-computed values."""
import math

import torch

from talkinglib.eval.image_metrics import psnr, ssim, to_8bit


def test_psnr_of_a_known_mse():
    real = torch.zeros(2, 3, 16, 16)                       # 8-bit value 127.5 -> rounds to 128
    fake = real.clone()
    fake[:, :, :8] += 10 / 127.5                           # half the pixels off by 10 levels: MSE = 50
    assert torch.allclose(to_8bit(fake) - to_8bit(real), torch.where(torch.arange(16)[:, None] < 8, 10.0, 0.0)
                          .expand(2, 3, 16, 16))
    assert torch.allclose(psnr(real, fake), torch.full((2,), 10 * math.log10(255 ** 2 / 50)))
    assert torch.isinf(psnr(real, real)).all()


def test_ssim_is_one_for_identical_images_and_drops_with_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    assert torch.allclose(ssim(x, x), torch.ones(2))
    noisy = (x + 0.3 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    s = ssim(x, noisy)
    assert (s < 0.9).all() and (s > 0).all()
    assert (ssim(x, -x) < 0.1).all()                       # an inverted image is structurally opposite
