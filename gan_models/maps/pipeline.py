"""A picture + a direction -> the translated picture, in tiles for any size: pix2pix's diffusers pipeline.

Beside the translation, the way there and back (``cycle``: aerial -> map -> aerial, with noise on the map if
asked) and what a map carries beyond its flat colours (``hidden_signal``): the views that show CycleGAN hiding
the photo inside its map (cycle_pipeline.py holds the CycleGAN pipeline, which inherits all of this).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..core.images import as_rgb, open_checked, square_image, tile_starts  # noqa: F401  (as_rgb: also this module's)
from ..core.modeling import fuse_batchnorm
from ..core.checks import InputError, check_float, check_seed
from ..core.pipelines import CORE_MODULES, GANPipeline, GANPipelineOutput, check_output_type, to_output
from .drawing import MAX_INPUT_PIXELS
from .palette import flat_colours
from .pix2pix import DIRECTIONS, Pix2PixGenerator, UNetGenerator


@torch.no_grad()
def fast_unet(net: UNetGenerator) -> UNetGenerator:
    """Inference copy: BatchNorm folded into the convolutions, dropout gone, channels-last."""
    fast = copy.deepcopy(net).eval()
    for blocks in (fast.down, fast.up):
        for i, block in enumerate(blocks):
            blocks[i] = nn.Sequential(*[m for m in fuse_batchnorm(block) if not isinstance(m, nn.Dropout)])
    return fast.to(memory_format=torch.channels_last)


@dataclass
class CycleOutput(GANPipelineOutput):
    """``images``: the input as translated (after ``prepare``), the translation as it was sent back (rounded to 8
    bits, plus the noise if any), the reconstruction, and |input - reconstruction| x ``ERROR_GAIN`` (grey);
    ``error``: the reconstruction's mean absolute error in 8-bit levels (0-255); ``psnr``: in dB."""

    error: float = 0.0
    psnr: float = 0.0


ERROR_GAIN = 4  # the error picture shows |input - reconstruction| four times brighter: small errors must show
MAX_NOISE = 64.0  # the largest noise (standard deviation, 8-bit levels) cycle() adds to the translation
MAX_GAIN = 1000.0  # the largest amplification hidden_signal() takes


def quantize(pixels: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> the nearest of the 256 levels a PNG keeps, still in [-1, 1]."""
    return pixels.add(1).mul(127.5).round().clamp(0, 255).div(127.5).sub(1)


class Pix2PixPipeline(GANPipeline):
    """PIL image + direction -> translated image. ``Pix2PixPipeline.from_pretrained(folder or repo id)``.

    ``mode="tiles"`` keeps the picture's own scale: it is scaled down to at most
    ``max_pixels`` (up so its short side is one tile, if smaller) and translated in
    overlapping tiles that are blended (no seams). ``mode="fit"`` centre-crops it to a
    square and resizes that to one tile: fast, but the scale changes.
    """

    component_classes = {"generator": Pix2PixGenerator}
    remote_module = "maps_gan"
    remote_modules = CORE_MODULES + ("gan_models.core.images", "gan_models.maps.drawing", "gan_models.maps.palette",
                                     "gan_models.maps.pix2pix", "gan_models.maps.pipeline")
    min_side, max_input_pixels, max_pixels, max_aspect = 16, MAX_INPUT_PIXELS, 1024 * 1024, 8.0

    def __init__(self, generator):  # a Pix2PixGenerator
        super().__init__()
        self.register_modules(generator=generator.eval())

    @property
    def directions(self) -> list[str]:
        return self.generator.directions

    @property
    def tile_size(self) -> int:
        return next(iter(self.generator.nets.values())).tile_size

    def describe(self, direction: str) -> str:
        a, b = self.generator.a_name, self.generator.b_name
        return f"{a} -> {b}" if direction == "a2b" else f"{b} -> {a}"

    def check_direction(self, direction) -> str:
        if direction not in DIRECTIONS:
            raise InputError(f"direction must be 'a2b' ({self.describe('a2b')}) or 'b2a' ({self.describe('b2a')}), "
                             f"got {direction!r}")
        if direction not in self.generator.nets:
            raise InputError(f"these weights translate only {', '.join(self.describe(d) for d in self.directions)}")
        return direction

    def _inference_nets(self) -> dict:
        """direction -> the network that translates: the U-Nets with BatchNorm folded, channels-last (built once)."""
        return self.fast("generator", lambda g: {d: fast_unet(n) for d, n in g.nets.items()})

    @torch.inference_mode()
    def translate(self, pixels: torch.Tensor, direction: str, batch_size: int = 8) -> torch.Tensor:
        # pixels: N x 3 x T x T in [-1, 1] -> N x 3 x T x T in [-1, 1], T = tile_size
        direction = self.check_direction(direction)
        net = self._inference_nets()[direction]
        param = next(net.parameters())
        batches = pixels.split(batch_size)
        return torch.cat([net(x.to(param.device, param.dtype).contiguous(memory_format=torch.channels_last))
                          .float().cpu().contiguous()
                          for x in (self.progress_bar(batches) if len(batches) > 1 else batches)])

    def prepare(self, image, mode: str) -> tuple[Image.Image, str]:
        """The RGB picture the model will see, and a sentence saying what was done to it."""
        if mode not in ("tiles", "fit"):
            raise InputError(f"mode must be 'tiles' or 'fit', got {mode!r}")
        image = as_rgb(open_checked(image, self.max_input_pixels, f"{self.max_input_pixels // 1_000_000} megapixels"))
        w, h, t = image.width, image.height, self.tile_size
        if w * h > self.max_input_pixels:
            raise InputError(f"the image is {w}x{h} pixels; the largest accepted is "
                             f"{self.max_input_pixels // 1_000_000} megapixels")
        if min(w, h) < self.min_side:
            raise InputError(f"the image is {w}x{h} pixels, too small to translate: give at least "
                             f"{self.min_side}x{self.min_side} (the model works on {t}x{t} tiles)")
        if mode == "fit":
            note = "" if (w, h) == (t, t) else f"{w}x{h} centre-cropped to a square and resized to {t}x{t}"
            return square_image(image, t), note
        if max(w, h) / min(w, h) > self.max_aspect:
            raise InputError(f"the image is {w}x{h} pixels, too long and thin to tile: crop it to an aspect ratio "
                             f"of at most {self.max_aspect:g}:1, or use mode 'fit' (centre square)")
        scale = min(1.0, math.sqrt(self.max_pixels / (w * h)))
        scale = max(scale, t / min(w, h))  # the short side is at least one tile
        if scale != 1.0:
            size = (max(t, round(w * scale)), max(t, round(h * scale)))
            image = image.resize(size, Image.Resampling.LANCZOS)
            return image, f"{w}x{h} resized to {size[0]}x{size[1]}"
        return image, ""

    def __call__(self, image, direction: str = "a2b", *, mode: str = "tiles", output_type: str = "pil") -> GANPipelineOutput:
        """Translate one image; ``out.images[0]`` has the size of the prepared input (see ``prepare``)."""
        direction = self.check_direction(direction)
        check_output_type(output_type)
        picture, note = self.prepare(image, mode)
        out, tiles = self.tiled(pil_to_pixels(picture), direction)
        note = "; ".join(filter(None, [note, f"{tiles} tile{'s' * (tiles > 1)} of {self.tile_size}x{self.tile_size}"]))
        return GANPipelineOutput(images=to_output(out[None], output_type), messages=[f"{self.describe(direction)}: {note}"])

    def tiled(self, pixels: torch.Tensor, direction: str, overlap: int | None = None) -> tuple[torch.Tensor, int]:
        """3 x H x W (H, W >= tile) -> 3 x H x W through overlapping tiles, blended with linear ramps."""
        t = self.tile_size
        overlap = t // 8 if overlap is None else overlap
        _, h, w = pixels.shape

        boxes = [(y, x) for y in tile_starts(h, t, overlap) for x in tile_starts(w, t, overlap)]
        outputs = self.translate(torch.stack([pixels[:, y:y + t, x:x + t] for y, x in boxes]), direction)
        if len(boxes) == 1:
            return outputs[0], 1
        ramp = torch.clamp(torch.minimum(torch.arange(t) + 1.0, t - torch.arange(t).float()) / (overlap + 1), max=1.0)
        weight = ramp[:, None] * ramp[None, :]  # T x T: 1 inside, falling towards the tile's edges
        total, norm = torch.zeros_like(pixels), torch.zeros(h, w)
        for (y, x), tile in zip(boxes, outputs):
            total[:, y:y + t, x:x + t] += tile * weight
            norm[y:y + t, x:x + t] += weight
        return total / norm, len(boxes)

    def cycle(self, image, direction: str = "a2b", *, mode: str = "tiles", noise: float = 0.0, seed: int = 0,
              output_type: str = "pil") -> CycleOutput:
        """There and back: translate ``image`` in ``direction`` (aerial -> map for "a2b"), then the result the other
        way, and measure how far the reconstruction is from the input.

        The translation is rounded to 8 bits on the way, as the PNG a user downloads would carry it. ``noise`` (the
        standard deviation of Gaussian noise, in 8-bit levels, drawn from ``seed``) is added to it before the way
        back: CycleGAN's near-perfect reconstructions come from a signal it hides in the map, too faint to see (Chu
        et al. 2017, "CycleGAN, a master of steganography"); a little noise destroys it and the reconstruction falls
        apart, while a map that carries only what a map shows loses little more. ``out.images``: see CycleOutput.
        """
        direction = self.check_direction(direction)
        back = self.check_direction("b2a" if direction == "a2b" else "a2b")
        noise = check_float(noise, "noise", 0.0, MAX_NOISE)
        seed = check_seed(seed)
        check_output_type(output_type)
        picture, note = self.prepare(image, mode)
        pixels = pil_to_pixels(picture)                                      # 3 x H x W in [-1, 1]
        there, tiles = self.tiled(pixels, direction)
        sent = quantize(there)
        if noise:
            shake = torch.randn(sent.shape, generator=torch.Generator().manual_seed(seed)) * (noise / 127.5)
            sent = quantize((sent + shake).clamp(-1, 1))
        returned, _ = self.tiled(sent, back)
        returned = quantize(returned)
        diff = (returned - pixels).abs() * 127.5                             # 3 x H x W, 8-bit levels
        error, mse = float(diff.mean()), float(diff.square().mean())
        psnr = float("inf") if mse == 0 else 10 * math.log10(255 ** 2 / mse)
        shown = (diff.mean(0, keepdim=True) * ERROR_GAIN / 127.5 - 1).clamp(-1, 1).expand(3, -1, -1)  # grey
        steps = f"{self.describe(direction)} -> {self.describe(back).split(' -> ')[1]}"
        noted = "; ".join(filter(None, [note, f"{tiles} tile{'s' * (tiles > 1)} of {self.tile_size}x{self.tile_size}",
                                        f"noise sigma {noise:g} levels on the way back" if noise else ""]))
        return CycleOutput(images=to_output(torch.stack([pixels, sent, returned, shown]), output_type),
                           labels=["input", self.describe(direction), self.describe(back),
                                   f"|input - reconstruction| x{ERROR_GAIN}"],
                           messages=[f"{steps}: reconstruction error {error:.2f} levels of 255 on average, PSNR "
                                     f"{psnr:.1f} dB ({noted})"],
                           error=round(error, 3), psnr=round(psnr, 2))

    def hidden_signal(self, image, gain: float = 25.0, output_type: str = "pil") -> GANPipelineOutput:
        """What a map carries beyond its flat colours: ``image`` (a map, e.g. ``cycle``'s translation) minus its
        flat-colour version (palette.flat_colours), amplified ``gain`` times around mid-grey.

        A map drawn in flat colours shows only its edges; CycleGAN's maps show the photo they came from, in
        differences of a level or two that nobody sees without the amplification. ``out.images``: the flat
        version and the amplified difference; ``messages``: the mean and largest difference in 8-bit levels.
        """
        gain = check_float(gain, "gain", 1.0, MAX_GAIN)
        check_output_type(output_type)
        picture = as_rgb(open_checked(image, self.max_input_pixels, f"{self.max_input_pixels // 1_000_000} megapixels"))
        if picture.width * picture.height > 4 * self.max_pixels:  # (a translation in tiles is at most about 1 MP)
            raise InputError(f"the map is {picture.width}x{picture.height} pixels; the largest this view takes is "
                             f"{4 * self.max_pixels / 1e6:.1f} megapixels")
        pixels = torch.from_numpy(np.asarray(picture).copy()).permute(2, 0, 1)    # uint8 3 x H x W
        flat = flat_colours(pixels)
        diff = pixels.float() - flat.float()                                      # -255 .. 255 levels
        amplified = (diff * gain + 127.5).round().clamp(0, 255) / 127.5 - 1
        return GANPipelineOutput(images=to_output(torch.stack([flat.float() / 127.5 - 1, amplified]), output_type),
                                 labels=["flat colours", f"map - flat colours, x{gain:g}"],
                                 messages=[f"the map differs from its flat colours by {float(diff.abs().mean()):.2f} "
                                           f"levels of 255 on average (largest {int(diff.abs().max())}), shown "
                                           f"{gain:g} times larger around mid-grey"])


def pil_to_pixels(picture: Image.Image) -> torch.Tensor:
    """An RGB picture -> 3 x H x W floats in [-1, 1]."""
    return torch.from_numpy(np.asarray(picture).copy()).permute(2, 0, 1).float().div_(127.5).sub_(1.0)
