"""A conditional GAN (Mirza & Osindero 2014) for small grayscale digits: ask for a 7, get a 7.

Both networks are told the label. The generator gets it twice: as an embedding
concatenated to the noise, and as conditional BatchNorm (a per-class scale and shift
after each normalisation; de Vries et al. 2017, as in SNGAN/BigGAN). The discriminator
takes it through a projection (Miyato & Koyama 2018): its logit is an unconditional score
plus the inner product of a class embedding with its image features,

    D(x, y) = w . phi(x) + embed(y) . phi(x)

which says "real digit, and of class y" in one number, more stably than feeding the label
in as an input channel. An optional class head on the same features (AC-GAN, Odena et al.
2017; ``classify``) lets the training script add a classification loss on top.
The layout is DCGAN's: two strided (transposed) convolutions, 7x7 -> 14x14 -> 28x28.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..core.modeling import GANModel, init_dcgan_weights, register_to_config


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm without its own affine; the scale and shift are looked up per class."""

    def __init__(self, num_features: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        self.gain = nn.Embedding(num_classes, num_features)
        self.shift = nn.Embedding(num_classes, num_features)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.shift.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # x: N x C x H x W, labels: N -> N x C x H x W
        return self.bn(x) * self.gain(labels)[:, :, None, None] + self.shift(labels)[:, :, None, None]


class CGANGenerator(GANModel):
    @register_to_config
    def __init__(self, latent_dim: int = 64, num_classes: int = 10, base_channels: int = 32, image_size: int = 28,
                 out_channels: int = 1, embed_dim: int = 32):
        super().__init__()
        if image_size not in (28, 32):
            raise ValueError(f"image_size must be 28 or 32, got {image_size}")
        self.latent_dim, self.num_classes, self.image_size = latent_dim, num_classes, image_size
        c, s = base_channels, image_size // 4
        self.start = (4 * c, s, s)
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.project = nn.Linear(latent_dim + embed_dim, 4 * c * s * s, bias=False)  # -> 128 x 7 x 7
        self.bn0 = ConditionalBatchNorm2d(4 * c, num_classes)
        self.up1 = nn.ConvTranspose2d(4 * c, 2 * c, 4, 2, 1, bias=False)              # -> 64 x 14 x 14
        self.bn1 = ConditionalBatchNorm2d(2 * c, num_classes)
        self.up2 = nn.ConvTranspose2d(2 * c, c, 4, 2, 1, bias=False)                  # -> 32 x 28 x 28
        self.bn2 = ConditionalBatchNorm2d(c, num_classes)
        self.to_image = nn.Conv2d(c, out_channels, 3, 1, 1)                           # -> 1 x 28 x 28
        init_dcgan_weights(self)
        nn.init.normal_(self.embed.weight, 0.0, 1.0)

    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # noise: N x latent_dim, labels: N (int64) -> images: N x 1 x 28 x 28 in [-1, 1]
        h = self.project(torch.cat([noise, self.embed(labels)], dim=1)).view(-1, *self.start)
        h = torch.relu(self.bn0(h, labels))
        h = torch.relu(self.bn1(self.up1(h), labels))
        h = torch.relu(self.bn2(self.up2(h), labels))
        return torch.tanh(self.to_image(h))


class CGANDiscriminator(GANModel):
    @register_to_config
    def __init__(self, num_classes: int = 10, base_channels: int = 32, image_size: int = 28, in_channels: int = 1):
        super().__init__()
        c, s = base_channels, image_size // 4
        self.net = nn.Sequential(
            spectral_norm(nn.Conv2d(in_channels, c, 4, 2, 1)), nn.LeakyReLU(0.2, True),  # 1x28x28 -> 32x14x14
            spectral_norm(nn.Conv2d(c, 2 * c, 4, 2, 1)), nn.LeakyReLU(0.2, True),        # -> 64x7x7
            spectral_norm(nn.Conv2d(2 * c, 4 * c, 3, 1, 1)), nn.LeakyReLU(0.2, True),    # -> 128x7x7
            nn.Flatten(),                                                                # -> phi(x): 6272
        )
        features = 4 * c * s * s
        self.score = spectral_norm(nn.Linear(features, 1))                  # w . phi(x) + b
        self.embed = spectral_norm(nn.Embedding(num_classes, features))     # projection: embed(y) . phi(x)
        self.classify = nn.Linear(features, num_classes)                     # optional AC-GAN head
        init_dcgan_weights(self)

    def forward(self, images: torch.Tensor, labels: torch.Tensor, return_class_logits: bool = False):
        # images: N x 1 x 28 x 28, labels: N -> logits: N (real and of class y > 0 > fake)
        h = self.net(images)                                                 # N x 6272
        logits = self.score(h).flatten() + (self.embed(labels) * h).sum(1)
        return (logits, self.classify(h)) if return_class_logits else logits
