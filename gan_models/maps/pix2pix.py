"""pix2pix (Isola et al. 2017): paired image-to-image translation, e.g. aerial photo <-> map.

The generator is a U-Net: an encoder of strided 4x4 convolutions halves the picture eight
times (256 -> 1), a decoder of transposed convolutions doubles it back, and each decoder
level also sees the encoder's map of the same size (the skip connections), so the fine
layout of the input (where the roads run) reaches the output directly while the
bottleneck carries the context (what kind of area this is).
The discriminator is a 70x70 PatchGAN: it sees the input and an output side by side
and scores every overlapping 70x70 patch real or fake (a 30x30 grid of logits for a
256x256 pair). It judges local texture and style; the L1 term of the loss takes care of
the low frequencies.

``Pix2PixGenerator`` holds one U-Net per direction (``a2b``, ``b2a``; either may be
absent), so one component folder serves both directions (maps/pipeline.py: the pipeline);
``Pix2PixDiscriminator`` holds their PatchGANs the same way.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.modeling import GANModel, check_config, init_dcgan_weights, register_to_config

DIRECTIONS = ("a2b", "b2a")


class UNetGenerator(nn.Module):
    def __init__(self, in_channels: int = 3, out_channels: int = 3, base_channels: int = 32, num_downs: int = 8,
                 max_mult: int = 3, dropout: float = 0.5):
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"num_downs must be at least 5, got {num_downs}")
        self.tile_size = 2 ** num_downs  # 256 for 8 levels: the bottleneck is 1x1
        # the paper's widths are 64 x (1 2 4 8 8 8 8 8); the gallery's defaults 32 x (1 2 3 3 3 3 3 3): 2.5 M params
        ch = [base_channels * min(2 ** i, max_mult) for i in range(num_downs)]  # 32 64 96 96 96 96 96 96
        # encoder: 3x256x256 -> 32x128x128 -> 64x64x64 -> 96x32x32 -> 96x16x16 -> ... -> 96x2x2 -> 96x1x1
        down = [nn.Sequential(nn.Conv2d(in_channels, ch[0], 4, 2, 1))]
        for i in range(1, num_downs - 1):
            down.append(nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(ch[i - 1], ch[i], 4, 2, 1, bias=False),
                                      nn.BatchNorm2d(ch[i])))
        down.append(nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(ch[-2], ch[-1], 4, 2, 1)))  # 1x1: nothing to normalise
        # decoder: up[i] makes the map of down[i]'s input size; from up[-2] on it also gets down[i]'s output
        up = [nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(2 * ch[0], out_channels, 4, 2, 1), nn.Tanh())]
        for i in range(1, num_downs):
            c_in = ch[i] if i == num_downs - 1 else 2 * ch[i]  # the innermost level has no skip to join
            block = [nn.ReLU(), nn.ConvTranspose2d(c_in, ch[i - 1], 4, 2, 1, bias=False), nn.BatchNorm2d(ch[i - 1])]
            if dropout and num_downs - 4 <= i <= num_downs - 2:  # the paper's noise: dropout in 3 inner levels
                block.append(nn.Dropout(dropout))
            up.append(nn.Sequential(*block))
        self.down, self.up = nn.ModuleList(down), nn.ModuleList(up)
        init_dcgan_weights(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # images: N x 3 x 256 x 256 in [-1, 1] -> N x 3 x 256 x 256 in [-1, 1]
        skips = []
        x = images
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = self.up[-1](skips.pop())                      # 96x1x1 -> 96x2x2
        for block in reversed(self.up[:-1]):
            x = block(torch.cat([x, skips.pop()], 1))     # (96+96)x2x2 -> 96x4x4 ... (32+32)x128x128 -> 3x256x256
        return x


class PatchDiscriminator(nn.Module):
    """70x70 PatchGAN: (input, output) pair -> one logit per overlapping 70x70 patch."""

    def __init__(self, in_channels: int = 6, base_channels: int = 64, num_layers: int = 3):
        super().__init__()
        c = base_channels
        layers = [nn.Conv2d(in_channels, c, 4, 2, 1), nn.LeakyReLU(0.2, True)]  # 6x256x256 -> 64x128x128
        for i in range(1, num_layers + 1):  # -> 128x64x64 -> 256x32x32 -> 512x31x31 (last one stride 1)
            c_out = base_channels * min(2 ** i, 8)
            layers += [nn.Conv2d(c, c_out, 4, 2 if i < num_layers else 1, 1, bias=False), nn.BatchNorm2d(c_out),
                       nn.LeakyReLU(0.2, True)]
            c = c_out
        layers += [nn.Conv2d(c, 1, 4, 1, 1)]  # -> 1x30x30: each logit sees a 70x70 patch of the pair
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)

    def forward(self, inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
        # inputs, outputs: N x 3 x 256 x 256 -> logits N x 1 x 30 x 30 (real pair > 0 > fake pair)
        return self.net(torch.cat([inputs, outputs], 1))


class Pix2PixGenerator(GANModel):
    """One U-Net per translation direction; ``a2b`` and ``b2a`` are UNetGenerator configs (or None)."""

    @register_to_config
    def __init__(self, a2b: dict | None = None, b2a: dict | None = None, a_name: str = "A", b_name: str = "B"):
        super().__init__()
        configs = {d: cfg for d, cfg in (("a2b", a2b), ("b2a", b2a)) if cfg is not None}
        if not configs:
            raise ValueError("give the U-Net config of at least one direction (a2b or b2a)")
        self.a_name, self.b_name = a_name, b_name
        for d, cfg in configs.items():  # nested settings get the same checks as a config.json's own
            check_config(UNetGenerator, cfg, f"the {d} U-Net's settings")
        self.nets = nn.ModuleDict({d: UNetGenerator(**cfg) for d, cfg in configs.items()})

    @property
    def directions(self) -> list[str]:
        return list(self.nets)

    def forward(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        return self.nets[direction](images)


class Pix2PixDiscriminator(GANModel):
    """One PatchGAN per direction, as ``Pix2PixGenerator`` holds one U-Net per direction; ``a2b`` and ``b2a`` are
    PatchDiscriminator configs (or None). A training run trains one direction; the gallery's folder carries both."""

    @register_to_config
    def __init__(self, a2b: dict | None = None, b2a: dict | None = None):
        super().__init__()
        configs = {d: cfg for d, cfg in (("a2b", a2b), ("b2a", b2a)) if cfg is not None}
        if not configs:
            raise ValueError("give the PatchGAN config of at least one direction (a2b or b2a)")
        for d, cfg in configs.items():
            check_config(PatchDiscriminator, cfg, f"the {d} PatchGAN's settings")
        self.nets = nn.ModuleDict({d: PatchDiscriminator(**cfg) for d, cfg in configs.items()})

    @property
    def directions(self) -> list[str]:
        return list(self.nets)

    def forward(self, inputs: torch.Tensor, outputs: torch.Tensor, direction: str) -> torch.Tensor:
        return self.nets[direction](inputs, outputs)  # N x 3 x 256 x 256 twice -> N x 1 x 30 x 30
