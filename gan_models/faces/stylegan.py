"""A style-based generator for 64x64 faces (StyleGAN2's design, Karras et al. 2020) and its projected discriminator.

Where the DCGAN (dcgan.py) feeds the latent in once, at the bottom, and lets the layers make
of it what they can, a style-based generator splits the work in two:

- the **mapping network** (an MLP, z -> w) turns the N(0, I) latent into a vector w in a
  learned space W, where the directions of variation are less entangled than in z;
- the **synthesis network** starts from a **learned constant** 4x4 map, not from z, and every
  layer reads its own copy of w as a **style**: the layer's convolution weights are scaled
  per input channel by an affine map of w (**modulation**) and then rescaled so that each
  output channel has unit expected size (**demodulation**, StyleGAN2's replacement for AdaIN).
  **Per-layer noise** (one N(0, 1) value per pixel, times a learned strength) gives the
  stochastic detail (hair strands, pores) so that w does not have to. Each resolution adds
  its RGB picture to the upsampled picture of the one below (**skip ToRGB outputs**).

Because every layer has its own w, two latents can be mixed (A's w for the coarse layers,
B's for the fine ones: **style mixing**), w can be pulled toward the mean w (**truncation in
W**), and directions in W (GANSpace) edit a face. ``num_ws`` = 10 at 64x64: layer i of
``ws`` (N x 10 x w_dim) is read by the convolutions and ToRGB listed in ``LAYER_GROUPS``.

The discriminator is projected (Projected GAN, Sauer et al. 2021; core/projected.py): heads
on a frozen ImageNet EfficientNet-Lite0's four feature maps, which training runs and never
stores here. It flatters Inception FID, so the faces are also judged in dlib's face space.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..core.modeling import GANModel, register_to_config
from ..core.projected import ProjectedHead, random_projections

# Which entries of ws each part of the 64x64 synthesis network reads (the StyleGAN paper's coarse / middle / fine)
LAYER_GROUPS = {"coarse": (0, 4), "middle": (4, 8), "fine": (8, 10)}  # [start, end): 4-8 px, 16-32 px, 64 px


class EqualLinear(nn.Module):
    """A linear layer with the equalised learning rate (Karras et al. 2018): weights stored N(0, 1) / lr_mul and scaled
    at run time, so Adam moves every layer at the same relative speed; ``lr_mul`` < 1 slows one down (the mapping)."""

    def __init__(self, cin: int, cout: int, bias_init: float = 0.0, lr_mul: float = 1.0, activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) / lr_mul)
        self.bias = nn.Parameter(torch.full((cout,), float(bias_init) / lr_mul))
        self.scale, self.lr_mul, self.activate = lr_mul / math.sqrt(cin), lr_mul, activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return F.leaky_relu(x, 0.2) * math.sqrt(2) if self.activate else x


class MappingNetwork(nn.Module):
    """z (N x z_dim) -> w (N x w_dim): z normalised to unit second moment, then ``num_layers`` LReLU layers.

    ``w_avg`` tracks the mean w during training (truncation pulls toward it)."""

    def __init__(self, z_dim: int, w_dim: int, num_layers: int, lr_mul: float = 0.01):
        super().__init__()
        dims = [z_dim] + [w_dim] * num_layers
        self.net = nn.Sequential(*[EqualLinear(a, b, lr_mul=lr_mul, activate=True) for a, b in zip(dims, dims[1:])])
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)
        return self.net(z)


class ModulatedConv(nn.Module):
    """A k x k convolution whose weights a style modulates per input channel and demodulates per output channel.

    Computed as StyleGAN2's non-fused path: scale the input by the style, convolve with the shared
    weight, scale the output by the demodulation coefficients; the same maths as a per-sample weight,
    but one ordinary convolution for the whole batch (fast on a CPU; no grouped convolution).
    """

    def __init__(self, cin: int, cout: int, w_dim: int, kernel: int, demodulate: bool = True, upsample: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel))
        self.affine = EqualLinear(w_dim, cin, bias_init=1.0)   # w -> style (one scale per input channel), starts at 1
        self.scale = 1 / math.sqrt(cin * kernel * kernel)
        self.demodulate, self.upsample, self.padding = demodulate, upsample, kernel // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        # x: N x cin x S x S, w: N x w_dim -> N x cout x S x S (2S x 2S with upsample)
        style = self.affine(w)                                              # N x cin
        weight = self.weight * self.scale                                   # cout x cin x k x k
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        x = F.conv2d(x * style[:, :, None, None], weight, padding=self.padding)
        if self.demodulate:                                                 # 1 / |w'| per sample and output channel
            d = torch.rsqrt(style.square() @ weight.square().sum((2, 3)).t() + 1e-8)  # N x cout
            x = x * d[:, :, None, None]
        return x


class StyleLayer(nn.Module):
    """Modulated 3x3 conv, + noise x learned strength, + bias, LReLU (x sqrt 2 keeps the scale)."""

    def __init__(self, cin: int, cout: int, w_dim: int, resolution: int, upsample: bool, noise_seed: int):
        super().__init__()
        self.conv = ModulatedConv(cin, cout, w_dim, 3, upsample=upsample)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(cout))
        # the noise of noise_mode="const": fixed per layer, saved, so a seed always gives the same face
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution,
                                                        generator=torch.Generator().manual_seed(noise_seed)))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        x = self.conv(x, w)
        if noise_mode == "random":
            x = x + torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype) * self.noise_strength
        elif noise_mode == "const":
            x = x + self.noise_const.to(x.dtype) * self.noise_strength
        return F.leaky_relu(x + self.bias[:, None, None], 0.2) * math.sqrt(2)


class ToRGB(nn.Module):
    """Modulated 1x1 conv to RGB, no demodulation (the picture's scale is the layer's to choose)."""

    def __init__(self, cin: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv(cin, 3, w_dim, 1, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(3))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias[:, None, None]


def style_channels(channel_base: int, channel_max: int, image_size: int) -> dict[int, int]:
    """Width per resolution, halving as the size doubles: {4: 256, 8: 256, 16: 128, 32: 64, 64: 32} for 2048, 256, 64."""
    sizes = [2 ** i for i in range(2, int(math.log2(image_size)) + 1)]
    return {s: min(channel_max, channel_base // s) for s in sizes}


class StyleGenerator(GANModel):
    """Mapping (z -> w) and synthesis (a constant, modulated convolutions, noise, skip ToRGB) for 64x64 pictures."""

    @register_to_config
    def __init__(self, latent_dim: int = 256, w_dim: int = 256, mapping_layers: int = 4, channel_base: int = 2048,
                 channel_max: int = 256, image_size: int = 64, mapping_lr_mul: float = 0.01):
        super().__init__()
        if image_size != 64:
            raise ValueError(f"image_size must be 64 (the layer groups are laid out for it), got {image_size}")
        self.latent_dim, self.w_dim, self.image_size = latent_dim, w_dim, image_size
        ch = style_channels(channel_base, channel_max, image_size)
        self.mapping = MappingNetwork(latent_dim, w_dim, mapping_layers, mapping_lr_mul)
        self.const = nn.Parameter(torch.randn(1, ch[4], 4, 4))             # the learned 4x4 input: 256 x 4 x 4
        self.convs = nn.ModuleList([StyleLayer(ch[4], ch[4], w_dim, 4, upsample=False, noise_seed=0)])
        self.to_rgbs = nn.ModuleList([ToRGB(ch[4], w_dim)])
        for res in list(ch)[1:]:                                            # 8, 16, 32, 64: up-conv, conv, ToRGB
            self.convs.append(StyleLayer(ch[res // 2], ch[res], w_dim, res, upsample=True, noise_seed=len(self.convs)))
            self.convs.append(StyleLayer(ch[res], ch[res], w_dim, res, upsample=False, noise_seed=len(self.convs)))
            self.to_rgbs.append(ToRGB(ch[res], w_dim))
        self.num_ws = len(self.convs) + 1                                   # 10: each ToRGB shares the next conv's w

    def map(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        # z: N x latent_dim -> ws: N x num_ws x w_dim (the same w for every layer), pulled toward w_avg by 1 - psi
        w = self.mapping(z)
        if self.training:                                                   # training tracks the mean w
            self.track_w_avg(w)
        if truncation != 1.0:
            w = self.mapping.w_avg.to(w.dtype).lerp(w, truncation)
        return w[:, None, :].expand(-1, self.num_ws, -1)

    def synthesize(self, ws: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        # ws: N x num_ws x w_dim -> images: N x 3 x 64 x 64 (about [-1, 1]; not clamped, as in StyleGAN)
        x = self.const.expand(ws.shape[0], -1, -1, -1)                      # N x 256 x 4 x 4
        x = self.convs[0](x, ws[:, 0], noise_mode)
        rgb = self.to_rgbs[0](x, ws[:, 1])                                  # N x 3 x 4 x 4
        for i, to_rgb in enumerate(self.to_rgbs[1:]):                       # 8x8 ... 64x64
            k = 1 + 2 * i
            x = self.convs[k](x, ws[:, k], noise_mode)                      # up: N x C x 2S x 2S
            x = self.convs[k + 1](x, ws[:, k + 1], noise_mode)
            rgb = F.interpolate(rgb, scale_factor=2.0, mode="bilinear", align_corners=False) + to_rgb(x, ws[:, k + 2])
        return rgb

    def mix(self, ws: torch.Tensor, ws_b: torch.Tensor, cutoff: torch.Tensor) -> torch.Tensor:
        # ws, ws_b: N x num_ws x w_dim, cutoff: N whole numbers -> the entries from cutoff[i] on taken from ws_b
        layer = torch.arange(self.num_ws, device=ws.device)
        return torch.where((layer[None, :] >= cutoff[:, None])[:, :, None], ws_b, ws)

    def forward(self, noise: torch.Tensor, truncation: float = 1.0, noise_mode: str = "random",
                mix_noise: torch.Tensor | None = None, mix_cutoff: torch.Tensor | None = None) -> torch.Tensor:
        # noise: N x latent_dim -> images: N x 3 x 64 x 64; with mix_noise (N x latent_dim) and mix_cutoff (N), the
        # layers from mix_cutoff[i] on read mix_noise's w (style mixing; a cutoff of num_ws mixes nothing)
        ws = self.map(noise, truncation)
        if mix_noise is not None:
            ws = self.mix(ws, self.map(mix_noise, truncation), mix_cutoff)
        return self.synthesize(ws, noise_mode)

    @torch.no_grad()
    def track_w_avg(self, w: torch.Tensor, beta: float = 0.995) -> None:
        """Move ``w_avg`` toward the mean of a batch of w (N x w_dim), as training goes."""
        self.mapping.w_avg.copy_(w.detach().float().mean(0).lerp(self.mapping.w_avg.float(), beta))


class ProjectedFacesDiscriminator(GANModel):
    """Projected GAN's discriminator, unconditional, for 64x64 faces resized to ``feature_size`` for the feature net.

    Input: the four feature maps of a frozen EfficientNet-Lite0 (24, 40, 112, 320 channels at 1/4 ... 1/32 of the
    picture it reads); each is mixed by a fixed random 1x1 projection and judged by its own small head.
    """

    @register_to_config
    def __init__(self, feature_channels: tuple = (24, 40, 112, 320), feature_sizes: tuple = (32, 16, 8, 4),
                 proj_channels: tuple = (64, 128, 256, 512), head_width: int = 128, projection_seed: int = 0):
        super().__init__()
        random_projections(self, feature_channels, proj_channels, projection_seed)
        self.heads = nn.ModuleList(ProjectedHead(c, s, 0, head_width) for c, s in zip(proj_channels, feature_sizes))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        # features: [N x 24 x 32 x 32, N x 40 x 16 x 16, N x 112 x 8 x 8, N x 320 x 4 x 4] for 128 input
        # -> logits N x P (P positions over the 4 heads, each > 0: "real")
        return torch.cat([head(F.conv2d(f, getattr(self, f"ccm{i}")))[0]
                          for i, (f, head) in enumerate(zip(features, self.heads))], dim=1)
