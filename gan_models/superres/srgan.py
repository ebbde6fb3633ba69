"""SRGAN (Ledig et al. 2017): 4x single-image super-resolution. Generator and discriminator side by side.

The generator is SRResNet: a 9x9 convolution lifts the low-resolution picture to ``channels``
feature maps, ``num_blocks`` residual blocks (conv 3x3, PReLU, conv 3x3, plus the block's
input) refine them at the low resolution, where convolutions are cheap, and two sub-pixel
convolutions (Shi et al. 2016: a conv to 4x the channels, then ``PixelShuffle(2)`` rearranges
each group of 4 channels into a 2x2 block of pixels) double the size twice. A last 3x3 conv
makes RGB. Trained on the pixel loss alone it is "SRResNet"; fine-tuned against the
discriminator with a feature loss it is "SRGAN": the same network, other weights.

Two changes from the paper, both for this CPU and short training:
- no BatchNorm in the residual blocks (EDSR, Lim et al. 2017 and ESRGAN, Wang et al. 2018:
  BatchNorm costs time, and its batch statistics of small training patches do not fit big
  pictures at inference, which shows as colour shifts and artefacts);
- a global bicubic skip (``bicubic_skip``, as VDSR): the network adds its output to the
  bicubic upscale, so it learns only the missing detail and starts as good as bicubic.

The discriminator is the paper's: eight 3x3 convolutions with LeakyReLU(0.2), every second
one strided (the map halves four times), widths doubling every two; BatchNorm after every
conv but the first; then the paper's dense 1024 -> 1, here after a global average pool so
that D takes any patch size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..core.modeling import GANModel, register_to_config


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1), nn.PReLU(channels),
                                  nn.Conv2d(channels, channels, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)  # C x h x w -> C x h x w


class SRResNetGenerator(GANModel):
    """Low-resolution RGB in [-1, 1] -> ``scale`` x larger RGB in [-1, 1] (not clamped: callers clamp)."""

    @register_to_config
    def __init__(self, channels: int = 32, num_blocks: int = 8, scale: int = 4, bicubic_skip: bool = True):
        super().__init__()
        if scale not in (2, 4, 8):
            raise ValueError(f"scale must be 2, 4 or 8 (sub-pixel x2 steps), got {scale}")
        self.scale = scale
        c = channels
        self.head = nn.Sequential(nn.Conv2d(3, c, 9, 1, 4), nn.PReLU(c))        # 3 x h x w -> C x h x w
        self.body = nn.Sequential(*[ResidualBlock(c) for _ in range(num_blocks)], nn.Conv2d(c, c, 3, 1, 1))
        up = []
        for _ in range({2: 1, 4: 2, 8: 3}[scale]):                              # C x h x w -> C x 2h x 2w (x2 twice)
            up += [nn.Conv2d(c, 4 * c, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU(c)]
        self.upsample = nn.Sequential(*up)
        self.tail = nn.Conv2d(c, 3, 3, 1, 1)                                    # C x 4h x 4w -> 3 x 4h x 4w
        self.bicubic_skip = bicubic_skip
        if bicubic_skip:  # start at "output = bicubic": the learned part begins near zero
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    @property
    def receptive_radius(self) -> int:
        """How many low-resolution pixels around a pixel can change its output (tiles need this much margin)."""
        radius = 4 + 2 * (len(self.body) - 1) + 1 + 1  # head 9x9, 2 convs per block, body's last conv, first up conv
        return radius + 2 + 2                           # the later (upscaled) convs, and bicubic's 4x4 support

    def forward(self, low_res: torch.Tensor) -> torch.Tensor:
        # low_res: N x 3 x h x w in [-1, 1] -> N x 3 x (scale h) x (scale w)
        features = self.head(low_res)
        x = self.tail(self.upsample(features + self.body(features)))  # the long skip of SRResNet
        if self.bicubic_skip:
            x = x + F.interpolate(low_res, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return x


class SRGANDiscriminator(GANModel):
    """High-resolution RGB patch N x 3 x H x W in [-1, 1] -> one logit per patch (real > 0 > fake)."""

    @register_to_config
    def __init__(self, base_channels: int = 32, dense_features: int = 512):
        super().__init__()
        c = base_channels
        widths = [c, c, 2 * c, 2 * c, 4 * c, 4 * c, 8 * c, 8 * c]  # 32 32 64 64 128 128 256 256
        layers, c_in = [], 3
        for i, c_out in enumerate(widths):  # 3x64x64 -> 32x64x64 -> 32x32x32 -> 64x32x32 -> ... -> 256x4x4
            layers.append(nn.Conv2d(c_in, c_out, 3, 2 if i % 2 else 1, 1, bias=i == 0))
            if i:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2, True))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),          # 256x4x4 -> 256
                                  nn.Linear(c_in, dense_features), nn.LeakyReLU(0.2, True),
                                  nn.Linear(dense_features, 1))                   # -> 1

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))  # N x 1
