"""CycleGAN (Zhu et al. 2017): unpaired translation, e.g. aerial photo <-> map learned without a single pair.

pix2pix (pix2pix.py) learns from pairs: it sees the photo and the true map of the same place and
is told, pixel by pixel, how far off it is (L1). CycleGAN never sees a pair. It trains two
generators, G: A -> B and F: B -> A, each against a discriminator that knows only what pictures
of its side look like (D_B: real maps vs G's maps; D_A: real photos vs F's photos). That alone
would let G draw any plausible map, so the **cycle-consistency** loss ties the two together:
F(G(a)) must give back a, and G(F(b)) must give back b (L1, weight lambda = 10). The
**identity** loss (weight lambda / 2) asks G to leave a picture that is already a map alone,
which keeps colours from drifting.

The generator is the paper's ResNet (after Johnson et al. 2016): a 7x7 convolution, two
stride-2 convolutions down to a quarter of the size, residual blocks there, two transposed
convolutions back up and a 7x7 convolution to RGB, with reflection padding and InstanceNorm
throughout. It is fully convolutional and has no skip connections past the bottleneck: unlike
the U-Net, the whole picture has to go through the quarter-size residual stack. The
discriminator is pix2pix's 70x70 PatchGAN with InstanceNorm, judging one picture (not a pair).

``CycleGANGenerator`` holds both directions, ``a2b`` and ``b2a`` (``Pix2PixGenerator``'s layout: the
same pipeline code serves both models); ``CycleGANDiscriminator`` holds D for each direction's
output (``a2b``: judges pictures of B, real ones and those G made).
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.modeling import GANModel, check_config, init_dcgan_weights, register_to_config


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """The paper's generator: c7s1-C, d2C, d4C, R4C x num_blocks, u2C, uC, c7s1-3 (C = base_channels).

    The paper uses C = 64 with 6 blocks for 128x128 pictures and 9 for 256x256; the gallery's CPU run uses fewer
    channels (README, *Maps: unpaired*). Any picture whose sides are multiples of 4 goes through (fully convolutional).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, base_channels: int = 32, num_blocks: int = 6):
        super().__init__()
        c = base_channels
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, c, 7), nn.InstanceNorm2d(c), nn.ReLU(True)]
        for mult in (1, 2):  # 3xHxW -> CxHxW -> 2C x H/2 x W/2 -> 4C x H/4 x W/4
            layers += [nn.Conv2d(c * mult, c * mult * 2, 3, 2, 1), nn.InstanceNorm2d(c * mult * 2), nn.ReLU(True)]
        layers += [ResidualBlock(4 * c) for _ in range(num_blocks)]  # 4C x H/4 x W/4, num_blocks times
        for mult in (4, 2):  # -> 2C x H/2 x W/2 -> C x H x W
            layers += [nn.ConvTranspose2d(c * mult, c * mult // 2, 3, 2, 1, output_padding=1),
                       nn.InstanceNorm2d(c * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c, out_channels, 7), nn.Tanh()]  # -> 3 x H x W in [-1, 1]
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)  # the reference code's init: N(0, 0.02)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # images: N x 3 x H x W in [-1, 1] (H, W multiples of 4) -> N x 3 x H x W in [-1, 1]
        return self.net(images)


class PatchGAN(nn.Module):
    """70x70 PatchGAN on one picture (CycleGAN's D): 3 x H x W -> one logit per overlapping 70x70 patch.

    pix2pix.PatchDiscriminator judges (input, output) pairs with BatchNorm; here there is no pair to judge, and the
    norm is InstanceNorm, as in the paper."""

    def __init__(self, in_channels: int = 3, base_channels: int = 64, num_layers: int = 3):
        super().__init__()
        c = base_channels
        layers = [nn.Conv2d(in_channels, c, 4, 2, 1), nn.LeakyReLU(0.2, True)]  # 3x128x128 -> 64x64x64
        for i in range(1, num_layers + 1):  # -> 128x32x32 -> 256x16x16 -> 512x15x15 (the last one stride 1)
            c_out = base_channels * min(2 ** i, 8)
            layers += [nn.Conv2d(c, c_out, 4, 2 if i < num_layers else 1, 1), nn.InstanceNorm2d(c_out),
                       nn.LeakyReLU(0.2, True)]
            c = c_out
        layers += [nn.Conv2d(c, 1, 4, 1, 1)]  # -> 1x14x14 for 128x128 (1x30x30 for 256x256)
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # images: N x 3 x H x W -> N x 1 x (H/8 - 2) x (W/8 - 2) logits (LSGAN: real -> 1, fake -> 0)
        return self.net(images)


class CycleGANGenerator(GANModel):
    """Both generators of a CycleGAN: ``a2b`` (G) and ``b2a`` (F), each a ResnetGenerator config.

    ``tile_size``: the square the pipeline translates at a time (the networks take any multiple of 4; the gallery's
    run trains on 128x128 crops of the 286x286 data and evaluates whole 256x256 pictures, pix2pix's tile and scale).
    """

    @register_to_config
    def __init__(self, a2b: dict | None = None, b2a: dict | None = None, a_name: str = "A", b_name: str = "B",
                 tile_size: int = 256):
        super().__init__()
        configs = {"a2b": a2b if a2b is not None else {}, "b2a": b2a if b2a is not None else {}}
        if tile_size % 4:
            raise ValueError(f"tile_size must be a multiple of 4 (two stride-2 levels), got {tile_size}")
        self.a_name, self.b_name, self.tile_size = a_name, b_name, tile_size
        for d, cfg in configs.items():  # nested settings get the same checks as a config.json's own
            check_config(ResnetGenerator, cfg, f"the {d} generator's settings")
        self.nets = nn.ModuleDict({d: ResnetGenerator(**cfg) for d, cfg in configs.items()})

    @property
    def directions(self) -> list[str]:
        return list(self.nets)

    def forward(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        return self.nets[direction](images)  # N x 3 x H x W -> N x 3 x H x W


class CycleGANDiscriminator(GANModel):
    """One PatchGAN per direction's output: ``a2b`` judges pictures of B (real, or made by the a2b generator), ``b2a``
    pictures of A; each a PatchGAN config."""

    @register_to_config
    def __init__(self, a2b: dict | None = None, b2a: dict | None = None):
        super().__init__()
        configs = {"a2b": a2b if a2b is not None else {}, "b2a": b2a if b2a is not None else {}}
        for d, cfg in configs.items():
            check_config(PatchGAN, cfg, f"the {d} PatchGAN's settings")
        self.nets = nn.ModuleDict({d: PatchGAN(**cfg) for d, cfg in configs.items()})

    def forward(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        return self.nets[direction](images)  # N x 3 x H x W -> N x 1 x (H/8 - 2) x (W/8 - 2)
