"""A small CNN that names a bird's main body colour: the judge of "does the bird follow the text?".

Its labels come from the captions, not from people: a row's class is the colour its captions
say most often of the bird's body (``gan_models.captions.main_colour``: "a white bird with
brown wings and a black beak" counts white and brown, not black), one of
black, white, grey, brown, red (with orange), yellow, green, blue. Such labels are noisy
(many birds are two colours), so its accuracy on *real* birds of held-out species is the
ceiling a generator can be compared with: a generator whose birds, drawn from those
captions, are judged as accurately as the real photos follows the colour words as well as
the photos do. Colour needs no detail: images are judged at 32x32.

Trained by training/train_bird_colour_classifier.py on the training species' real crops.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..birds.colour_words import COLOURS
from ..core.modeling import GANModel, register_to_config
from ..data import as_float


class ColourClassifier(GANModel):
    @register_to_config
    def __init__(self, class_names: list[str] = COLOURS, image_size: int = 32, channels: int = 32):
        super().__init__()
        self.class_names, self.image_size = list(class_names), image_size
        c = channels
        block = lambda i, o: [nn.Conv2d(i, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(True)]  # noqa: E731
        self.features = nn.Sequential(
            *block(3, c), nn.MaxPool2d(2),                       # 3x32x32 -> 32x16x16
            *block(c, 2 * c), nn.MaxPool2d(2),                   # -> 64x8x8
            *block(2 * c, 4 * c), nn.AdaptiveAvgPool2d(1),       # -> 128x1x1
            nn.Flatten(), nn.Dropout(0.3))
        self.head = nn.Linear(4 * c, len(self.class_names))      # -> 8 colours

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # images: N x 3 x H x W in [-1, 1] (resized to image_size) -> logits N x num_classes
        if images.shape[-1] != self.image_size or images.shape[-2] != self.image_size:
            images = F.interpolate(images, size=(self.image_size, self.image_size), mode="bilinear",
                                   align_corners=False, antialias=True)
        return self.head(self.features(images))


@torch.inference_mode()
def predict(classifier: ColourClassifier, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Predicted colour index per image: N x 3 x H x W (uint8 or [-1, 1]) -> int64 N."""
    classifier.eval()
    out = []
    for b in images.split(batch_size):
        b = as_float(b)
        out.append(classifier(b).argmax(1))
    return torch.cat(out)


def accuracy(predicted: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict:
    """Overall accuracy and balanced accuracy (mean over the classes present), with per-class figures."""
    labels = torch.as_tensor(labels)
    correct = predicted == labels
    per_class = {k: float(correct[labels == k].float().mean()) for k in range(num_classes) if (labels == k).any()}
    return {"accuracy": round(float(correct.float().mean()), 4),
            "balanced_accuracy": round(sum(per_class.values()) / max(1, len(per_class)), 4),
            "per_class": {k: round(v, 4) for k, v in per_class.items()}, "count": len(labels)}
