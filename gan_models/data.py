"""Datasets for training and evaluation: the same code for a Hub id and a local folder.

Images are decoded once into a uint8 tensor (N x C x H x W) kept in memory: the gallery's
datasets are small (15k faces at 64x64 are 180 MB), and decoding JPEGs every step would
cost more CPU than the GAN itself. The hold-out split is drawn at random from a seed,
never by row range (CelebA rows are sorted by source quality), and is the same in the
training scripts and in ``gan_models.evaluate``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .core.images import square_image
from .dataset_errors import DatasetUnavailable  # defined without torch, for the app's page; raised here


def looks_like_folder(name: str) -> bool:
    """A name meant as a local path (``../shared/data/mnist``, ``/data/x``, ``~/x``): a Hub id is ``user/name``."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


def load_hf_dataset(name_or_path: str, split: str = "train", config: str | None = None):
    """``datasets.load_dataset`` for a Hub id ("ylecun/mnist") or a local folder alike."""
    from datasets import config as datasets_config
    from datasets import load_dataset

    name = str(name_or_path)
    if looks_like_folder(name) and not Path(name).expanduser().exists():
        raise DatasetUnavailable(f"dataset folder {name} not found (looked for {Path(name).expanduser().resolve()})",
                                 name)
    try:
        ds = load_dataset(name_or_path, config, split=split)
    except ConnectionError as err:  # datasets' own, for a Hub id it could not fetch and has not cached
        why = ("offline mode: HF_HUB_OFFLINE or HF_DATASETS_OFFLINE is set" if datasets_config.HF_HUB_OFFLINE
               else str(err))
        raise DatasetUnavailable(f"cannot reach the Hugging Face Hub for the dataset {name!r} ({why}), and it is "
                                 "not in the local cache", name) from None
    except ValueError as err:
        if "corresponds to no data" not in str(err):
            raise
        ds = []
    if len(ds) == 0:
        raise ValueError(f"dataset {name_or_path!r} (split {split!r}) has no rows: nothing to train or evaluate on")
    return ds


def images_to_uint8(images, size: int, mode: str = "RGB", how: str = "center-crop") -> torch.Tensor:
    """PIL images -> uint8 tensor N x C x size x size."""
    arrays = [np.asarray(square_image(im, size, mode, how)) for im in images]
    if not arrays:
        raise ValueError("no images to decode: the dataset (after --max_rows) has no rows")
    stacked = np.stack(arrays)
    if stacked.ndim == 3:  # grayscale: N x H x W -> N x 1 x H x W
        stacked = stacked[:, None]
    else:
        stacked = stacked.transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(stacked))


def load_image_tensor(name_or_path: str, image_column: str = "image", size: int = 64, mode: str = "RGB",
                      split: str = "train", config: str | None = None, how: str = "center-crop",
                      max_rows: int | None = None) -> torch.Tensor:
    """Decode a dataset's image column once: uint8 tensor N x C x size x size."""
    ds = load_hf_dataset(name_or_path, split, config)
    if image_column not in ds.column_names:
        raise ValueError(f"dataset {name_or_path!r} has no column {image_column!r}; "
                         f"its columns are {ds.column_names} (choose one with --image_column)")
    if max_rows is not None:
        ds = ds.select(range(min(max_rows, len(ds))))
    return images_to_uint8(ds[image_column], size, mode, how)


def holdout_split(num_rows: int, holdout: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, held-out indices), drawn at random from ``seed``."""
    if not 0 <= holdout < num_rows:
        raise ValueError(f"cannot hold out {holdout} of {num_rows} rows")
    order = np.random.default_rng(seed).permutation(num_rows)
    return np.sort(order[holdout:]), np.sort(order[:holdout])


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def as_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]; float images (already [-1, 1]) as float, unchanged."""
    return to_float(images) if images.dtype == torch.uint8 else images.float()


def random_shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Shift each image by up to ``max_shift`` pixels (zero padding = background -1)."""
    if max_shift <= 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None]   # N x 1 x H x 1
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :]   # N x 1 x 1 x W
    return padded[torch.arange(n)[:, None, None, None], torch.arange(x.shape[1])[None, :, None, None], rows, cols]


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255]."""
    return images.add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)


def load_labelled_tensors(name_or_path: str, image_column: str = "image", label_column: str = "label",
                          size: int = 28, mode: str = "L", split: str = "train", config: str | None = None,
                          max_rows: int | None = None) -> tuple[torch.Tensor, torch.Tensor, list[str] | None]:
    """A labelled image dataset decoded once: (uint8 N x C x size x size, int64 labels N, class names).

    The class names come from the label column's ``ClassLabel`` feature (None if it has none).
    """
    ds = load_hf_dataset(name_or_path, split, config)
    for column in (image_column, label_column):
        if column not in ds.column_names:
            raise ValueError(f"dataset {name_or_path!r} has no column {column!r}; its columns are {ds.column_names}")
    if max_rows is not None:
        ds = ds.select(range(min(max_rows, len(ds))))
    names = getattr(ds.features[label_column], "names", None)
    labels = torch.tensor(ds[label_column], dtype=torch.long)
    return images_to_uint8(ds[image_column], size, mode), labels, names
