"""One frame of the playground, drawn with numpy and PIL only (no matplotlib): about 10 ms on a CPU.

Top: D's decision surface as a heat map (green: D says real, purple: D says fake) evaluated
on a 64 x 64 grid in one batched forward and upscaled; real points (dark green), generated
points (purple), and arrows showing where G's loss pushes a subset of the generated points
(minus its gradient; short arrows = vanishing gradients). Bottom: D's and G's loss curves.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..losses import generator_loss
from .plane import ARROW, FAKE, REAL, VIEW, dots, to_pixels, to_plane  # noqa: F401  (to_plane: imported from here too)
from .toy_gan import mode_coverage

GRID = 64
COLOURS = np.array([[200, 170, 225], [246, 246, 246], [170, 220, 170]], np.float32)  # fake, unsure, real
D_CURVE, G_CURVE = (30, 80, 200), (230, 120, 0)


def surface(gan) -> np.ndarray:
    """D's opinion on a GRID x GRID grid (row 0 = top), mapped to [0, 1]: 1 = real, 0 = fake."""
    axis = torch.linspace(-VIEW, VIEW, GRID)
    ys, xs = torch.meshgrid(axis.flip(0), axis, indexing="ij")
    with torch.no_grad():
        out = gan.discriminator(torch.stack([xs.reshape(-1), ys.reshape(-1)], 1)).reshape(GRID, GRID)
    if gan.kind in ("minimax", "ns"):
        value = torch.sigmoid(out)
    elif gan.kind == "hinge":
        value = (out.clamp(-1, 1) + 1) / 2
    elif gan.kind == "lsgan":
        value = out.clamp(0, 1)
    else:  # a critic's score has no scale: standardise it on the grid
        value = torch.sigmoid(1.5 * (out - out.mean()) / (out.std() + 1e-6))
    return value.numpy()


def heat(values: np.ndarray, size: int) -> np.ndarray:
    """[0, 1] values -> size x size x 3 uint8 through the fake / unsure / real colour ramp."""
    big = np.asarray(Image.fromarray(values.astype(np.float32), mode="F").resize((size, size), Image.BILINEAR))
    t = np.clip(big, 0, 1)[..., None] * 2
    low = COLOURS[0] + (COLOURS[1] - COLOURS[0]) * np.minimum(t, 1)
    rgb = np.where(t <= 1, low, COLOURS[1] + (COLOURS[2] - COLOURS[1]) * (t - 1))
    return rgb.astype(np.uint8)


def generator_arrows(gan, fake: torch.Tensor) -> np.ndarray:
    """Minus the gradient of G's loss with respect to each generated point (N x 2)."""
    fake = fake.detach().requires_grad_(True)
    loss = generator_loss(gan.kind, gan.discriminator(fake)) * len(fake)  # per point, not per batch
    (grad,) = torch.autograd.grad(loss, fake)
    return -grad.numpy()


def bin_means(values: list[float], bins: int) -> np.ndarray:
    arr = np.asarray(values, np.float32)
    if len(arr) > bins:  # average into at most `bins` points (the whole history stays visible)
        arr = arr[: len(arr) // bins * bins].reshape(bins, -1).mean(1)
    return arr


def loss_panel(gan, width: int, height: int) -> Image.Image:
    panel = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(panel)
    top, bottom, left = 16, height - 4, 4
    if gan.d_losses:
        d, g = bin_means(gan.d_losses, width - 8), bin_means(gan.g_losses, width - 8)
        both = np.concatenate([d, g])
        lo, hi = np.percentile(both, 1), np.percentile(both, 99)
        hi = hi if hi > lo + 1e-6 else lo + 1.0
        for curve, colour in ((d, D_CURVE), (g, G_CURVE)):
            xs = left + np.arange(len(curve)) * (width - 8) / max(len(curve) - 1, 1)
            ys = bottom - (np.clip(curve, lo, hi) - lo) / (hi - lo) * (bottom - top)
            if len(curve) > 1:
                draw.line(list(zip(xs.tolist(), ys.tolist())), fill=colour, width=1)
        draw.text((left, 2), f"D loss {gan.d_losses[-1]:.3f}", fill=D_CURVE)
        draw.text((left + 110, 2), f"G loss {gan.g_losses[-1]:.3f}", fill=G_CURVE)
        draw.text((width - 112, 2), f"range {lo:.2f}..{hi:.2f}", fill=(90, 90, 90))
    else:
        draw.text((left, 2), "D and G losses appear here", fill=(90, 90, 90))
    draw.line([(0, 0), (width, 0)], fill=(180, 180, 180))
    return panel


def render(gan, size: int = 400, loss_height: int = 100, num_arrows: int = 48) -> Image.Image:
    """The frame: a size x (size + loss_height) RGB image."""
    canvas = heat(surface(gan), size)
    with torch.no_grad():
        fake = gan.generator(gan.view_noise)
    dots(canvas, to_pixels(gan.view_real.numpy(), size), REAL, 1)
    fake_np = fake.numpy()
    dots(canvas, to_pixels(fake_np, size), FAKE, 1)
    image = Image.new("RGB", (size, size + loss_height), (255, 255, 255))
    image.paste(Image.fromarray(canvas), (0, 0))
    draw = ImageDraw.Draw(image)
    grad = generator_arrows(gan, fake[:num_arrows])
    norm = np.linalg.norm(grad, axis=1, keepdims=True)
    length = 26 * norm / (norm + 0.5)  # saturates for strong gradients, vanishes with them
    start = to_pixels(fake_np[:num_arrows], size).astype(np.float32)
    direction = np.where(norm > 1e-12, grad / np.maximum(norm, 1e-12), 0) * np.array([1, -1])  # y down
    end = start + direction * length
    for (x0, y0), (x1, y1), (dx, dy) in zip(start.tolist(), end.tolist(), direction.tolist()):
        draw.line([(x0, y0), (x1, y1)], fill=ARROW, width=1)
        if (x1 - x0) ** 2 + (y1 - y0) ** 2 > 16:  # a head: two short strokes back from the tip
            for sx, sy in ((-dx + 0.6 * dy, -dy - 0.6 * dx), (-dx - 0.6 * dy, -dy + 0.6 * dx)):
                draw.line([(x1, y1), (x1 + 4 * sx, y1 + 4 * sy)], fill=ARROW, width=1)
    title = f"step {gan.steps}  {gan.loss}  lr G {gan.lr_g:g} D {gan.lr_d:g}  D steps {gan.d_steps}"
    if gan.centres is not None:
        cov = mode_coverage(fake, gan.centres)
        title += f"  modes {cov['modes_covered']}/{cov['num_modes']}  good {100 * cov['high_quality']:.0f}%"
    draw.rectangle([0, 0, size, 13], fill=(255, 255, 255))
    draw.text((3, 1), title, fill=(20, 20, 20))
    image.paste(loss_panel(gan, size, loss_height), (0, size))
    return image
