"""Pictures made square: what the data loaders and the maps pipeline share (PIL and numpy only)."""

from __future__ import annotations

import numpy as np
from PIL import Image


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
