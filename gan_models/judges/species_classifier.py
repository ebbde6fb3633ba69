"""A bird-species CNN trained from scratch on the training species: a feature space not trained on ImageNet.

The birds' projected discriminator reads a frozen ImageNet network's features, and features
that know ImageNet's classes leak into Inception FID (Kynkäänniemi et al. 2023, "The Role of
ImageNet Classes in Fréchet Inception Distance"): a generator trained against them can score
a better FID without drawing better birds. This judge knows only CUB's 130 training species,
learned here from their 7.7k crops, so the Fréchet distance in its penultimate layer
(``species_fd``) between generated birds and real crops of the *held-out* species is a
second score that the discriminator's ImageNet features cannot flatter. It is reported beside
the same distance between two disjoint halves of the real held-out crops (the floor at that
count). Trained by training/train_bird_species_classifier.py.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.modeling import GANModel, register_to_config
from ..data import as_float


class SpeciesClassifier(GANModel):
    @register_to_config
    def __init__(self, num_classes: int = 130, image_size: int = 64, channels: int = 32, feature_dim: int = 256):
        super().__init__()
        c = channels
        block = lambda i, o: [nn.Conv2d(i, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(True)]  # noqa: E731
        self.conv = nn.Sequential(
            *block(3, c), nn.MaxPool2d(2),                # 3x64x64 -> 32x32x32
            *block(c, 2 * c), nn.MaxPool2d(2),            # -> 64x16x16
            *block(2 * c, 4 * c), nn.MaxPool2d(2),        # -> 128x8x8
            *block(4 * c, 8 * c), nn.AdaptiveAvgPool2d(1),  # -> 256x1x1
            nn.Flatten())
        self.fc = nn.Sequential(nn.Linear(8 * c, feature_dim), nn.ReLU(True))   # -> 256: the features
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(feature_dim, num_classes)                        # -> 130 species
        self.image_size = image_size

    def features(self, images: torch.Tensor) -> torch.Tensor:
        # images: N x 3 x H x W in [-1, 1] (resized to image_size) -> N x feature_dim
        if images.shape[-1] != self.image_size:
            images = F.interpolate(images, size=(self.image_size, self.image_size), mode="bilinear",
                                   align_corners=False, antialias=True)
        return self.fc(self.conv(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(images)))


@torch.inference_mode()
def species_features(classifier: SpeciesClassifier, images: torch.Tensor, batch_size: int = 250) -> np.ndarray:
    """Penultimate-layer features, float64 N x feature_dim, of uint8 (or [-1, 1]) images."""
    classifier.eval()
    return torch.cat([classifier.features(as_float(b)) for b in images.split(batch_size)]).double().numpy()


@torch.inference_mode()
def species_accuracy(classifier: SpeciesClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    classifier.eval()
    predicted = torch.cat([classifier(as_float(b)).argmax(1) for b in images.split(250)])
    return float((predicted == labels).float().mean())


def species_fd(classifier: SpeciesClassifier, real: torch.Tensor, fake: torch.Tensor, seed: int = 0) -> dict:
    """Fréchet distance in the species classifier's features: generated vs real, at equal counts, beside the floor.

    The real crops are split at random into two halves A and B; ``species_fd`` compares ``len(B)``
    generated birds with B, ``species_fd_real_vs_real`` compares A with B: the distance two sets of
    real birds of these species have at that count.
    """
    from .metrics import frechet_distance

    order = np.random.default_rng(seed).permutation(len(real))
    half = len(real) // 2
    a, b = real[torch.from_numpy(order[:half])], real[torch.from_numpy(order[half:2 * half])]
    fb = species_features(classifier, b)
    return {"species_fd": round(frechet_distance(fb, species_features(classifier, fake[:half])), 3),
            "species_fd_real_vs_real": round(frechet_distance(fb, species_features(classifier, a)), 3),
            "species_fd_count": half}
