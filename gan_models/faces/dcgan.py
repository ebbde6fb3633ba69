"""DCGAN (Radford, Metz & Chintala 2016) for 64x64 RGB images: generator and discriminator.

The generator is the paper's: a latent vector, projected to a 4x4 map, doubled in size
four times by strided transposed convolutions with BatchNorm + ReLU, tanh at the end.
The discriminator mirrors it with strided convolutions and LeakyReLU(0.2). Two changes
the field learned since are options of the discriminator: spectral normalisation
(Miyato et al. 2018) in place of BatchNorm, which keeps D Lipschitz and training stable
with EMA, hinge or non-saturating losses and R1 (see training/train_dcgan.py).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..core.modeling import GANModel, init_dcgan_weights, register_to_config


class DCGANGenerator(GANModel):
    @register_to_config
    def __init__(self, latent_dim: int = 128, base_channels: int = 64, image_size: int = 64,
                 out_channels: int = 3):
        super().__init__()
        if image_size not in (32, 64, 128):
            raise ValueError(f"image_size must be 32, 64 or 128, got {image_size}")
        self.latent_dim, self.image_size = latent_dim, image_size
        num_up = {32: 3, 64: 4, 128: 5}[image_size]  # 4x4 -> image_size
        ch = base_channels * 2 ** (num_up - 1)        # 512 for 64x64 with base 64
        layers = [  # latent_dim x 1 x 1 -> ch x 4 x 4
            nn.ConvTranspose2d(latent_dim, ch, 4, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(num_up - 1):  # ch x s x s -> ch/2 x 2s x 2s: 512x4x4 -> 256x8x8 -> 128x16x16 -> 64x32x32
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, out_channels, 4, 2, 1), nn.Tanh()]  # 64x32x32 -> 3x64x64 in [-1, 1]
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        # noise: N x latent_dim -> images: N x 3 x 64 x 64 in [-1, 1]
        return self.net(noise[:, :, None, None])


class DCGANDiscriminator(GANModel):
    @register_to_config
    def __init__(self, base_channels: int = 64, image_size: int = 64, in_channels: int = 3,
                 spectral: bool = True):
        super().__init__()
        norm = spectral_norm if spectral else (lambda conv: conv)
        num_down = {32: 3, 64: 4, 128: 5}[image_size]
        ch = base_channels
        layers = [norm(nn.Conv2d(in_channels, ch, 4, 2, 1)), nn.LeakyReLU(0.2, True)]  # 3x64x64 -> 64x32x32
        for _ in range(num_down - 1):  # 64x32x32 -> 128x16x16 -> 256x8x8 -> 512x4x4
            layers += [norm(nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=spectral))]
            if not spectral:  # the paper's BatchNorm; with spectral norm D needs none
                layers += [nn.BatchNorm2d(ch * 2)]
            layers += [nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers += [norm(nn.Conv2d(ch, 1, 4, 1, 0))]  # 512x4x4 -> 1x1x1: one logit per image
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # images: N x 3 x 64 x 64 in [-1, 1] -> logits: N (real > 0 > fake)
        return self.net(images).flatten()
