"""Pictures read into RGB and made square: what the data loaders and the image-to-image pipelines share
(PIL and numpy only)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .checks import InputError


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Where tiles of ``tile`` pixels start along a side of ``length`` (>= tile) so that neighbours overlap by
    at least ``overlap`` pixels and the last one ends at the edge: evenly spread, e.g. (600, 256, 32) -> 0 172 344."""
    n = max(1, math.ceil((length - overlap) / (tile - overlap)))
    return sorted({round(i * (length - tile) / (n - 1)) if n > 1 else 0 for i in range(n)})


def square_image(image: Image.Image, size: int, mode: str = "RGB", how: str = "center-crop") -> Image.Image:
    """Convert to ``mode`` and make a ``size`` x ``size`` square.

    ``center-crop`` resizes the short side to ``size`` and crops the middle;
    ``pad`` resizes the long side to ``size`` and pads with the edge colour (keeps the
    whole subject, e.g. a bird crop that is wider than tall); ``pad-blur`` pads the same way,
    then blurs the padded bands (Gaussian, radius size/12), so the edge pixels' colours
    become a soft out-of-focus background instead of straight streaks.
    """
    image = image.convert(mode)
    w, h = image.size
    if how in ("pad", "pad-blur"):
        scale = size / max(w, h)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        image = image.resize((nw, nh), Image.Resampling.LANCZOS)
        arr = np.asarray(image)
        pad_y, pad_x = size - nh, size - nw
        pad = [(pad_y // 2, pad_y - pad_y // 2), (pad_x // 2, pad_x - pad_x // 2)]
        if arr.ndim == 3:
            pad.append((0, 0))
        padded = np.pad(arr, pad, mode="edge")
        if how == "pad-blur" and (pad_y or pad_x):
            from PIL import ImageFilter

            padded = np.array(Image.fromarray(padded).filter(ImageFilter.GaussianBlur(radius=size / 12)))
            padded[pad[0][0]:pad[0][0] + nh, pad[1][0]:pad[1][0] + nw] = arr  # the photo itself stays sharp
        return Image.fromarray(padded)
    if how != "center-crop":
        raise ValueError(f"how must be 'center-crop', 'pad' or 'pad-blur', got {how!r}")
    if (w, h) == (size, size):
        return image
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    image = image.resize((nw, nh), Image.Resampling.LANCZOS)
    left, top = (nw - size) // 2, (nh - size) // 2
    return image.crop((left, top, left + size, top + size))


def as_rgb(image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """A PIL image, numpy array or file path, in any mode (RGBA, L, P, CMYK, 16-bit, float) -> RGB.

    Transparent pixels become ``background`` (white unless told otherwise)."""
    if isinstance(image, (str, Path)):
        try:
            with Image.open(image) as f:
                f.load()
                image = f
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            raise InputError(f"cannot read the image file: {err}") from None
    elif isinstance(image, np.ndarray):
        arr = image
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
            raise InputError(f"an image array must be H x W or H x W x 1/3/4, got shape {arr.shape}")
        if arr.dtype != np.uint8:  # 16-bit, float [0, 1] or anything else: scale to 0..255
            arr = arr.astype(np.float64)
            top = 1.0 if arr.max(initial=0) <= 1.0 else (255.0 if arr.max() <= 255 else 65535.0)
            arr = np.clip(np.nan_to_num(arr) / top * 255 + 0.5, 0, 255).astype(np.uint8)
        image = Image.fromarray(arr[..., 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr)
    if not isinstance(image, Image.Image):
        raise InputError(f"give an image (PIL image, numpy array or file path), got {type(image).__name__}")
    try:
        image.load()  # a file opened lazily is decoded here, after the size checks
    except (OSError, ValueError, SyntaxError) as err:
        raise InputError(f"not a readable image: the file is truncated or damaged ({err})") from None
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return as_rgb(np.asarray(image))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        ground = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(ground, rgba).convert("RGB")
    try:
        return image.convert("RGB")
    except (ValueError, OSError) as err:
        raise InputError(f"images of mode {image.mode} cannot be read: {err}") from None


def open_checked(image, max_pixels: int, limit: str):
    """A file path opened lazily (its size read from the header alone) or a picture as given, refused with an
    InputError if it claims more than ``max_pixels`` (``limit`` says the largest accepted, for the message)."""
    if isinstance(image, (str, Path)):
        try:
            image = Image.open(image)
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            raise InputError(f"cannot read the image file: {err}") from None
    if isinstance(image, Image.Image) and image.width * image.height > max_pixels:
        raise InputError(f"the image is {image.width}x{image.height} pixels; the largest accepted is {limit}")
    return image
