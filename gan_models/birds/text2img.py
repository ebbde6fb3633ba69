"""Text-to-image birds at 64x64: a sentence in, birds that follow it out.

The sentence is embedded by a frozen encoder (all-MiniLM-L6-v2, gan_models/birds/text_encoder.py)
into a 384-d vector s. The generator reads s in two steps:

- **Conditioning augmentation** (StackGAN, Zhang et al. 2017): s -> (mu, log sigma^2), and the
  condition is c = mu + sigma * eps with eps ~ N(0, I). A KL term keeps N(mu, sigma^2) near
  N(0, I), so nearby sentences give overlapping conditions: the few captions per image are
  smeared into a smooth space, and eps adds variety for a given sentence.
- **Affine conditioning** (DF-GAN, Tao et al. 2022): in every block, each channel of the
  feature map is scaled and shifted by amounts an MLP predicts from [z, c], so the text acts
  at every scale, from the 4x4 layout to the 64x64 colours.

The discriminator scores (image, sentence) pairs: the image's 4x4 features joined with the
sentence vector. Trained **matching-aware** (GAN-CLS, Reed et al. 2016): a real bird with a
caption of another bird counts as fake, so D has to check that image and text agree, and G
is pushed to follow the text, not only to draw birds (training/train_text2img.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..core.modeling import GANModel, register_to_config
from ..core.projected import ProjectedHead, random_projections



class TextNorm(nn.Module):
    """(s - mean) / scale, fitted to the training captions (``fit``), saved with the weights.

    Sentence vectors of bird captions are near one another (mean cosine 0.63): raw, what tells two
    captions apart is ~0.03 per dimension, and layers reading it learn slowly (and D's gradient
    penalty keeps them from learning fast). Centred and scaled, each dimension has unit spread.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(1))

    @torch.no_grad()
    def fit(self, embeds: torch.Tensor) -> None:
        # embeds: ... x dim, the training captions' vectors
        flat = embeds.reshape(-1, self.mean.numel()).float()
        self.mean.copy_(flat.mean(0))
        self.scale.fill_(flat.var(0).mean().sqrt().clamp_min(1e-6).item())

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return (s - self.mean) / self.scale


class Affine(nn.Module):
    """x * gamma(cond) + beta(cond), per channel (DF-GAN). Starts as the identity."""

    def __init__(self, cond_dim: int, channels: int, hidden: int):
        super().__init__()
        self.gamma = nn.Sequential(nn.Linear(cond_dim, hidden), nn.ReLU(True), nn.Linear(hidden, channels))
        self.beta = nn.Sequential(nn.Linear(cond_dim, hidden), nn.ReLU(True), nn.Linear(hidden, channels))
        nn.init.zeros_(self.gamma[2].weight), nn.init.ones_(self.gamma[2].bias)
        nn.init.zeros_(self.beta[2].weight), nn.init.zeros_(self.beta[2].bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        # x: N x C x H x W, cond: N x cond_dim -> N x C x H x W
        return x * self.gamma(cond)[:, :, None, None] + self.beta(cond)[:, :, None, None]


class GBlock(nn.Module):
    """(affine, LReLU) x2, conv3x3, (affine, LReLU) x2, conv3x3, plus a (1x1) shortcut."""

    def __init__(self, cin: int, cout: int, cond_dim: int, hidden: int):
        super().__init__()
        self.affines = nn.ModuleList([Affine(cond_dim, c, hidden) for c in (cin, cin, cout, cout)])
        self.conv1, self.conv2 = nn.Conv2d(cin, cout, 3, 1, 1), nn.Conv2d(cout, cout, 3, 1, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = x
        for i, conv in enumerate((self.conv1, self.conv2)):
            for affine in self.affines[2 * i:2 * i + 2]:
                h = F.leaky_relu(affine(h, cond), 0.2)
            h = conv(h)
        return self.shortcut(x) + h


def channels(base: int, image_size: int) -> list[int]:
    """Widths from 4x4 up to image_size: [256, 256, 128, 64, 32] for 64x64 with base 32."""
    steps = int(math.log2(image_size // 4))
    return [base * min(8, 2 ** (steps - i)) for i in range(steps + 1)]


class BirdsGenerator(GANModel):
    @register_to_config
    def __init__(self, latent_dim: int = 100, text_dim: int = 384, cond_dim: int = 128, base_channels: int = 32,
                 image_size: int = 64, affine_hidden: int = 128,
                 text_encoder: str = "sentence-transformers/all-MiniLM-L6-v2"):
        super().__init__()
        if image_size not in (32, 64, 128):
            raise ValueError(f"image_size must be 32, 64 or 128, got {image_size}")
        self.latent_dim, self.cond_dim, self.text_dim = latent_dim, cond_dim, text_dim
        self.image_size, self.text_encoder = image_size, text_encoder
        ch = channels(base_channels, image_size)
        self.text_norm = TextNorm(text_dim)                         # fitted by training (train_text2img.py)
        self.ca = nn.Linear(text_dim, 2 * cond_dim)                  # s (384) -> mu, log sigma^2 (128 each)
        self.fc = nn.Linear(latent_dim, ch[0] * 16)                  # z (100) -> 256 x 4 x 4
        self.blocks = nn.ModuleList(GBlock(a, b, latent_dim + cond_dim, affine_hidden)  # each after an x2
                                    for a, b in zip(ch, ch[1:]))     # upsampling: 256x8x8 ... 32x64x64
        self.to_rgb = nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(ch[-1], 3, 3, 1, 1), nn.Tanh())  # 32x64x64 -> 3x64x64

    @property
    def noise_dim(self) -> int:
        return self.latent_dim + self.cond_dim  # z, then the conditioning augmentation's eps

    def forward(self, noise: torch.Tensor, text_embeds: torch.Tensor, return_kl: bool = False):
        # noise: N x (latent_dim + cond_dim), text_embeds: N x text_dim -> images N x 3 x 64 x 64 in [-1, 1]
        z, eps = noise.split([self.latent_dim, self.cond_dim], dim=1)
        mu, logvar = self.ca(self.text_norm(text_embeds)).chunk(2, dim=1)
        logvar = logvar.clamp(-10, 10)
        cond = torch.cat([z, mu + eps * torch.exp(0.5 * logvar)], dim=1)   # N x 228
        h = self.fc(z).view(len(z), -1, 4, 4)
        for block in self.blocks:
            h = block(F.interpolate(h, scale_factor=2.0), cond)
        images = self.to_rgb(h)
        if not return_kl:
            return images
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).mean()         # KL(N(mu, sigma^2) || N(0, I)) per dim
        return images, kl


class DBlock(nn.Module):
    """Halve the size: conv4x4 s2, conv3x3 (LReLU), added with a learned gain to a pooled shortcut."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.res = nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2, True),
                                 nn.Conv2d(cout, cout, 3, 1, 1), nn.LeakyReLU(0.2, True))
        self.shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        self.gain = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.shortcut(x), 2) + self.gain * self.res(x)


class BirdsDiscriminator(GANModel):
    @register_to_config
    def __init__(self, text_dim: int = 384, cond_dim: int = 128, base_channels: int = 32, image_size: int = 64):
        super().__init__()
        ch = channels(base_channels, image_size)[::-1]                      # [32, 64, 128, 256, 256]
        self.stem = nn.Conv2d(3, ch[0], 3, 1, 1)                            # 3x64x64 -> 32x64x64
        self.blocks = nn.Sequential(*[DBlock(a, b) for a, b in zip(ch, ch[1:])])  # -> 256x4x4
        self.text_norm = TextNorm(text_dim)
        self.text = nn.Linear(text_dim, cond_dim)                           # s -> 128, tiled over 4x4
        self.head = nn.Sequential(nn.Conv2d(ch[-1] + cond_dim, 2 * ch[0], 3, 1, 1), nn.LeakyReLU(0.2, True),
                                  nn.Conv2d(2 * ch[0], 1, 4, 1, 0))          # 384x4x4 -> 64x4x4 -> 1x1x1

    def score(self, features: torch.Tensor, text_embeds: torch.Tensor) -> torch.Tensor:
        t = self.text(self.text_norm(text_embeds))[:, :, None, None].expand(-1, -1, *features.shape[2:])
        return self.head(torch.cat([features, t], dim=1)).flatten()

    def forward(self, images: torch.Tensor, text_embeds: torch.Tensor, mismatched: torch.Tensor | None = None):
        # images: N x 3 x 64 x 64, text_embeds: N x 384 -> logits N ("real and about this text" > 0);
        # with ``mismatched`` (other texts), also the logits of the same images with those, from the same features
        features = self.blocks(self.stem(images))
        logits = self.score(features, text_embeds)
        return logits if mismatched is None else (logits, self.score(features, mismatched))


class ProjectedBirdsDiscriminator(GANModel):
    """Projected GAN's discriminator (Sauer et al. 2021), text-conditioned, for 64x64 birds.

    D does not see pixels: it sees the four feature maps of a frozen ImageNet EfficientNet-Lite0
    (gan_models/feature_networks.py, run by the training script, not stored here), each mixed
    across channels by a fixed random 1x1 projection (CCM: the paper's finding is that random,
    untrained projections spread the pretrained features so D uses all of them, not a few), then
    one small spectrally normalised head per scale, each also reading the sentence. Pretrained
    features tell a bird from a blob from the first step, which is why it converges many times
    faster than a D that learns its features from 7.7k photos.
    """

    @register_to_config
    def __init__(self, text_dim: int = 384, cond_dim: int = 128, feature_channels: tuple = (24, 40, 112, 320),
                 feature_sizes: tuple = (32, 16, 8, 4), proj_channels: tuple = (64, 128, 256, 512),
                 head_width: int = 128, projection_seed: int = 0):
        super().__init__()
        self.text_norm = TextNorm(text_dim)
        self.text = nn.Sequential(nn.Linear(text_dim, cond_dim), nn.LeakyReLU(0.2, True))
        random_projections(self, feature_channels, proj_channels, projection_seed)  # CCM: fixed, random, saved
        self.heads = nn.ModuleList(ProjectedHead(c, s, cond_dim, head_width)
                                   for c, s in zip(proj_channels, feature_sizes))

    def forward(self, features: list[torch.Tensor], text_embeds: torch.Tensor,
                mismatched: torch.Tensor | None = None):
        # features: the feature network's 4 maps (N x 24 x 32 x 32 ... N x 320 x 4 x 4 for 128 input),
        # text_embeds: N x 384 -> logits N x P (P positions over the 4 heads, each ">0: real and about this text");
        # with ``mismatched`` (other texts), also the logits of the same images with those, from the same heads' pass
        texts = [text_embeds] if mismatched is None else [text_embeds, mismatched]
        texts = [self.text(self.text_norm(t)) for t in texts]
        per_head = [head(F.conv2d(f, getattr(self, f"ccm{i}")), *texts)
                    for i, (f, head) in enumerate(zip(features, self.heads))]
        logits = [torch.cat([h[k] for h in per_head], dim=1) for k in range(len(texts))]
        return logits[0] if mismatched is None else tuple(logits)
