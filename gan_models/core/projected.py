"""The parts of a projected discriminator (Projected GAN, Sauer et al. 2021) that the demos share.

A projected D does not see pixels: it sees the feature maps of a frozen ImageNet network
(gan_models/feature_networks.py, run by the training script, never stored with the weights),
each mixed across channels by a fixed random 1x1 projection (``random_projections``: the
paper's cross-channel mixing, CCM; random and untrained, they spread the pretrained features so
that D uses all of them), then one small spectrally normalised head per scale
(``ProjectedHead``). Pretrained features tell a face from a smear from the first step, which is
why such a D converges many times faster than one that learns its features from a few thousand
photos. The birds' D (text-conditioned) and the style-based faces' D (unconditional) use them.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def random_projections(module: nn.Module, in_channels, out_channels, seed: int) -> None:
    """Register ``ccm0``, ``ccm1``, ... on ``module``: fixed random 1x1 convolutions (Kaiming-uniform), saved as buffers."""
    gen = torch.Generator().manual_seed(seed)
    for i, (cin, cout) in enumerate(zip(in_channels, out_channels)):
        w = torch.empty(cout, cin, 1, 1)
        bound = math.sqrt(6 / cin)
        module.register_buffer(f"ccm{i}", w.uniform_(-bound, bound, generator=gen))


class ProjectedHead(nn.Module):
    """One scale of a projected discriminator: its feature map down to 4x4, then a logit per position.

    With ``cond_dim`` > 0 the logit also has a projection term (Miyato & Koyama 2018):
    <h, W c> / sqrt(width), so "real" and "about this condition" are judged together.
    """

    def __init__(self, cin: int, size: int, cond_dim: int, width: int):
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        layers, c = [], cin
        while size > 4:                                                     # e.g. 64 x 32 x 32 -> 256 x 4 x 4
            cout = min(width * 2, max(c * 2, width))
            layers += [sn(nn.Conv2d(c, cout, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
            c, size = cout, size // 2
        layers += [sn(nn.Conv2d(c, width, 3, 1, 1)), nn.LeakyReLU(0.2, True)]  # -> width x 4 x 4 (or smaller)
        self.body = nn.Sequential(*layers)
        self.out = sn(nn.Conv2d(width, 1, 1))
        if cond_dim:
            self.text = nn.Linear(cond_dim, width)
        self.width = width

    def forward(self, feature: torch.Tensor, *conds: torch.Tensor) -> list[torch.Tensor]:
        # feature: N x C x S x S, each cond: N x cond_dim -> per cond, N x (positions) logits (one body pass);
        # with no cond, [N x positions] unconditional logits
        h = self.body(feature)
        unconditional = self.out(h)
        if not conds:
            return [unconditional.flatten(1)]
        return [(unconditional + (h * self.text(t)[:, :, None, None]).sum(1, keepdim=True)
                 / math.sqrt(self.width)).flatten(1) for t in conds]
