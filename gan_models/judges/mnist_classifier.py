"""A small CNN digit classifier: the judge of the label-conditioned digits demo.

It answers two questions about a conditional generator:

- does a "7" come out as a 7? ``label_accuracy``: the share of generated images the
  classifier assigns to the label they were generated for, overall and per class;
- do the digits look like the real ones, as a whole? ``classifier_fid``: the Fréchet
  distance between real and generated images in the classifier's penultimate layer
  (``features``), the MNIST counterpart of FID's Inception features. Its numbers are
  on their own scale: compare them only with each other, at the same sample counts.

Trained by training/train_mnist_classifier.py on MNIST minus 10,000 held-out rows.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.modeling import GANModel, register_to_config
from ..data import as_float


class MNISTClassifier(GANModel):
    @register_to_config
    def __init__(self, num_classes: int = 10, image_size: int = 28, in_channels: int = 1, channels: int = 32,
                 feature_dim: int = 128):
        super().__init__()
        self.num_classes, self.image_size, self.in_channels = num_classes, image_size, in_channels
        c, s = channels, image_size // 4
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(True),
            nn.MaxPool2d(2),                                                                 # 1x28x28 -> 32x14x14
            nn.Conv2d(c, 2 * c, 3, 1, 1, bias=False), nn.BatchNorm2d(2 * c), nn.ReLU(True),
            nn.MaxPool2d(2),                                                                 # -> 64x7x7
        )
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(2 * c * s * s, feature_dim), nn.ReLU(True))  # -> 128
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(feature_dim, num_classes)                                             # -> 10

    def features(self, images: torch.Tensor) -> torch.Tensor:
        # images: N x 1 x H x W in [-1, 1] (resized to image_size if needed) -> N x feature_dim
        if images.shape[-1] != self.image_size or images.shape[-2] != self.image_size:
            images = F.interpolate(images, size=(self.image_size, self.image_size), mode="bilinear",
                                   align_corners=False, antialias=True)
        return self.fc(self.conv(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # images: N x 1 x H x W in [-1, 1] -> class logits N x num_classes
        return self.head(self.dropout(self.features(images)))


@torch.inference_mode()
def predict(classifier: MNISTClassifier, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Predicted class of each image: N x C x H x W (uint8 or [-1, 1]) -> int64 N."""
    classifier.eval()
    return torch.cat([classifier(as_float(b)).argmax(1) for b in images.split(batch_size)])


@torch.inference_mode()
def classifier_features(classifier: MNISTClassifier, images: torch.Tensor, batch_size: int = 500) -> np.ndarray:
    """Penultimate-layer features, float64 N x feature_dim (for FID in classifier space)."""
    classifier.eval()
    return torch.cat([classifier.features(as_float(b)) for b in images.split(batch_size)]).double().numpy()


def label_accuracy(classifier: MNISTClassifier, images: torch.Tensor, labels, num_classes: int | None = None) -> dict:
    """Share of ``images`` classified as their ``labels``: {"overall", "per_class": [...], "count", "counts"}.

    A class with no images has accuracy None.
    """
    labels = torch.as_tensor(labels, dtype=torch.long)
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    num_classes = num_classes or classifier.num_classes
    correct = predict(classifier, images) == labels
    per_class, counts = [], []
    for k in range(num_classes):
        mask = labels == k
        counts.append(int(mask.sum()))
        per_class.append(float(correct[mask].float().mean()) if mask.any() else None)
    return {"overall": float(correct.float().mean()), "per_class": per_class, "count": len(labels), "counts": counts}


def feature_spread(feats: np.ndarray) -> float:
    """Mean pairwise Euclidean distance between feature vectors (how varied a set of images is)."""
    x = torch.from_numpy(feats)
    n = len(x)
    if n < 2:
        return float("nan")
    return float(torch.cdist(x, x).sum() / (n * (n - 1)))


def classifier_fid(classifier: MNISTClassifier, real: torch.Tensor, fake: torch.Tensor) -> dict:
    """Fréchet distance between real and generated images in the classifier's feature space."""
    from .metrics import frechet_distance

    fid = frechet_distance(classifier_features(classifier, real), classifier_features(classifier, fake))
    return {"classifier_fid": round(fid, 3), "num_real": len(real), "num_fake": len(fake)}
