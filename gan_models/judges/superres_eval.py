"""Super-resolution scores: PSNR and SSIM on the Y channel (BasicSR's convention), and a sharpness measure.

BasicSR (and the SR papers' tables): both pictures are rounded to 8-bit, converted to the
luma Y of ITU-R BT.601 (16-235), a border of ``crop`` pixels (the scale) is left out, then
PSNR = 10 log10(255^2 / MSE) per picture, and SSIM (Wang et al. 2004) with an 11x11 Gaussian
window (sigma 1.5) over the valid region; both averaged over the pictures.

``high_frequency_energy``: the mean squared response of a Laplacian on Y, the share of the
picture's energy in its finest detail. Blur lowers it; texture (real or invented) raises it;
a real HR picture's value is the target. It is not a quality score on its own: noise raises
it too, so it is read beside PSNR and a distribution distance (KID).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def luma(images: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W in [-1, 1] -> N x 1 x H x W, BT.601 Y of the 8-bit picture (16-235), float64."""
    rgb = ((images.double().clamp(-1, 1) + 1) * 127.5).round()  # what a saved PNG holds
    weights = torch.tensor([65.481, 128.553, 24.966], dtype=torch.float64) / 255
    return (rgb * weights.view(1, 3, 1, 1)).sum(1, keepdim=True) + 16.0


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def psnr_ssim_y(sr: torch.Tensor, hr: torch.Tensor, crop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-picture (PSNR dB, SSIM) of ``sr`` against ``hr`` (both N x 3 x H x W in [-1, 1]) on Y, border cropped."""
    if sr.shape != hr.shape:
        raise ValueError(f"sr {tuple(sr.shape)} and hr {tuple(hr.shape)} differ in shape")
    a, b = luma(sr), luma(hr)
    if crop:
        a, b = a[..., crop:-crop, crop:-crop], b[..., crop:-crop, crop:-crop]
    mse = (a - b).pow(2).flatten(1).mean(1)
    psnr = 10 * torch.log10(255.0 ** 2 / mse.clamp_min(1e-10))
    w = _gaussian_window()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = F.conv2d(a, w), F.conv2d(b, w)
    var_a = F.conv2d(a * a, w) - mu_a ** 2
    var_b = F.conv2d(b * b, w) - mu_b ** 2
    cov = F.conv2d(a * b, w) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return psnr.float(), ssim_map.flatten(1).mean(1).float()


def high_frequency_energy(images: torch.Tensor, crop: int = 0) -> torch.Tensor:
    """Per-picture mean squared Laplacian of Y (8-bit units squared): the energy of the finest detail."""
    y = luma(images)
    if crop:
        y = y[..., crop:-crop, crop:-crop]
    kernel = torch.tensor([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=torch.float64)[None, None]
    return F.conv2d(y, kernel).pow(2).flatten(1).mean(1).float()
