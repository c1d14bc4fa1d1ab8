"""PSNR and SSIM against hand-computed values."""
import math

import numpy as np
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


def test_ssim_equals_the_definition_with_the_2d_gaussian_window():
    """Wang et al.'s SSIM at every valid position, the local statistics weighted by the 11 × 11 Gaussian
    (σ = 1.5) written out in numpy: the separable passes of ssim() give the same mean."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 14, 13, generator=g) * 2 - 1
    y = (x + 0.4 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    a, b = [((t.clamp(-1, 1) + 1) * 127.5).round().double().numpy() for t in (x, y)]
    r = np.arange(11) - 5.0
    w = np.exp(-0.5 * (r[:, None] ** 2 + r[None, :] ** 2) / 1.5 ** 2)
    w /= w.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    want = np.zeros(2)
    for n in range(2):
        vals = []
        for c in range(3):
            for i in range(14 - 10):
                for j in range(13 - 10):
                    p, q = a[n, c, i:i + 11, j:j + 11], b[n, c, i:i + 11, j:j + 11]
                    mp, mq = (w * p).sum(), (w * q).sum()
                    vp, vq, cpq = (w * p * p).sum() - mp ** 2, (w * q * q).sum() - mq ** 2, (w * p * q).sum() - mp * mq
                    vals.append((2 * mp * mq + c1) * (2 * cpq + c2) / ((mp ** 2 + mq ** 2 + c1) * (vp + vq + c2)))
        want[n] = np.mean(vals)
    assert np.allclose(ssim(x, y).numpy(), want, atol=1e-6)
