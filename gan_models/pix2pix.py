"""pix2pix (Isola et al. 2017): paired image-to-image translation, e.g. aerial photo <-> map.

The generator is a U-Net: an encoder of strided 4x4 convolutions halves the picture eight
times (256 -> 1), a decoder of transposed convolutions doubles it back, and each decoder
level also sees the encoder's map of the same size (the skip connections), so the fine
layout of the input (where the roads run) reaches the output directly while the
bottleneck carries the context (what kind of area this is).
The discriminator is a 70x70 PatchGAN: it sees the input and an output side by side
and scores every overlapping 70x70 patch real or fake (a 30x30 grid of logits for a
256x256 pair). It judges local texture and style; the L1 term of the loss takes care of
the low frequencies.

``Pix2PixGenerator`` holds one U-Net per direction (``a2b``, ``b2a``; either may be
absent), so one folder (config.json + model.safetensors) serves both directions.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn
from PIL import Image, ImageOps

from .data import square_image
from .layers import HubModel, check_config, fuse_batchnorm, init_dcgan_weights, load_pretrained
from .pipeline import GANOutput, InputError, resolve_folder, to_output

DIRECTIONS = ("a2b", "b2a")


class UNetGenerator(nn.Module):
    def __init__(self, in_channels: int = 3, out_channels: int = 3, base_channels: int = 32, num_downs: int = 8,
                 max_mult: int = 3, dropout: float = 0.5):
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"num_downs must be at least 5, got {num_downs}")
        self.tile_size = 2 ** num_downs  # 256 for 8 levels: the bottleneck is 1x1
        # the paper's widths are 64 x (1 2 4 8 8 8 8 8); the gallery's defaults 32 x (1 2 3 3 3 3 3 3): 2.5 M params
        ch = [base_channels * min(2 ** i, max_mult) for i in range(num_downs)]  # 32 64 96 96 96 96 96 96
        # encoder: 3x256x256 -> 32x128x128 -> 64x64x64 -> 96x32x32 -> 96x16x16 -> ... -> 96x2x2 -> 96x1x1
        down = [nn.Sequential(nn.Conv2d(in_channels, ch[0], 4, 2, 1))]
        for i in range(1, num_downs - 1):
            down.append(nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(ch[i - 1], ch[i], 4, 2, 1, bias=False),
                                      nn.BatchNorm2d(ch[i])))
        down.append(nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(ch[-2], ch[-1], 4, 2, 1)))  # 1x1: nothing to normalise
        # decoder: up[i] makes the map of down[i]'s input size; from up[-2] on it also gets down[i]'s output
        up = [nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(2 * ch[0], out_channels, 4, 2, 1), nn.Tanh())]
        for i in range(1, num_downs):
            c_in = ch[i] if i == num_downs - 1 else 2 * ch[i]  # the innermost level has no skip to join
            block = [nn.ReLU(), nn.ConvTranspose2d(c_in, ch[i - 1], 4, 2, 1, bias=False), nn.BatchNorm2d(ch[i - 1])]
            if dropout and num_downs - 4 <= i <= num_downs - 2:  # the paper's noise: dropout in 3 inner levels
                block.append(nn.Dropout(dropout))
            up.append(nn.Sequential(*block))
        self.down, self.up = nn.ModuleList(down), nn.ModuleList(up)
        init_dcgan_weights(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # images: N x 3 x 256 x 256 in [-1, 1] -> N x 3 x 256 x 256 in [-1, 1]
        skips = []
        x = images
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = self.up[-1](skips.pop())                      # 96x1x1 -> 96x2x2
        for block in reversed(self.up[:-1]):
            x = block(torch.cat([x, skips.pop()], 1))     # (96+96)x2x2 -> 96x4x4 ... (32+32)x128x128 -> 3x256x256
        return x


class PatchDiscriminator(HubModel):
    """70x70 PatchGAN: (input, output) pair -> one logit per overlapping 70x70 patch."""

    def __init__(self, in_channels: int = 6, base_channels: int = 64, num_layers: int = 3):
        super().__init__()
        c = base_channels
        layers = [nn.Conv2d(in_channels, c, 4, 2, 1), nn.LeakyReLU(0.2, True)]  # 6x256x256 -> 64x128x128
        for i in range(1, num_layers + 1):  # -> 128x64x64 -> 256x32x32 -> 512x31x31 (last one stride 1)
            c_out = base_channels * min(2 ** i, 8)
            layers += [nn.Conv2d(c, c_out, 4, 2 if i < num_layers else 1, 1, bias=False), nn.BatchNorm2d(c_out),
                       nn.LeakyReLU(0.2, True)]
            c = c_out
        layers += [nn.Conv2d(c, 1, 4, 1, 1)]  # -> 1x30x30: each logit sees a 70x70 patch of the pair
        self.net = nn.Sequential(*layers)
        init_dcgan_weights(self)

    def forward(self, inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
        # inputs, outputs: N x 3 x 256 x 256 -> logits N x 1 x 30 x 30 (real pair > 0 > fake pair)
        return self.net(torch.cat([inputs, outputs], 1))


class Pix2PixGenerator(HubModel, pipeline_tag="image-to-image", tags=["pix2pix", "image-to-image"]):
    """One U-Net per translation direction; ``a2b`` and ``b2a`` are UNetGenerator configs (or None)."""

    def __init__(self, a2b: dict | None = None, b2a: dict | None = None, a_name: str = "A", b_name: str = "B"):
        super().__init__()
        configs = {d: cfg for d, cfg in (("a2b", a2b), ("b2a", b2a)) if cfg is not None}
        if not configs:
            raise ValueError("give the U-Net config of at least one direction (a2b or b2a)")
        self.a_name, self.b_name = a_name, b_name
        for d, cfg in configs.items():  # nested settings get the same checks as a config.json's own
            check_config(UNetGenerator, cfg, f"the {d} U-Net's settings")
        self.nets = nn.ModuleDict({d: UNetGenerator(**cfg) for d, cfg in configs.items()})

    @property
    def directions(self) -> list[str]:
        return list(self.nets)

    def forward(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        return self.nets[direction](images)


@torch.no_grad()
def fast_unet(net: UNetGenerator) -> UNetGenerator:
    """Inference copy: BatchNorm folded into the convolutions, dropout gone, channels-last."""
    fast = copy.deepcopy(net).eval()
    for blocks in (fast.down, fast.up):
        for i, block in enumerate(blocks):
            blocks[i] = nn.Sequential(*[m for m in fuse_batchnorm(block) if not isinstance(m, nn.Dropout)])
    return fast.to(memory_format=torch.channels_last)


def as_rgb(image) -> Image.Image:
    """A PIL image, numpy array or file path, in any mode (RGBA, L, P, CMYK, 16-bit, float) -> RGB."""
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
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")  # transparent -> white
    try:
        return image.convert("RGB")
    except (ValueError, OSError) as err:
        raise InputError(f"images of mode {image.mode} cannot be read: {err}") from None


class Pix2PixPipeline:
    """PIL image + direction -> translated image. ``Pix2PixPipeline.from_pretrained(folder or repo id)``.

    ``mode="tiles"`` keeps the picture's own scale: it is scaled down to at most
    ``max_pixels`` (up so its short side is one tile, if smaller) and translated in
    overlapping tiles that are blended (no seams). ``mode="fit"`` centre-crops it to a
    square and resizes that to one tile: fast, but the scale changes.
    """

    min_side, max_input_pixels, max_pixels, max_aspect = 16, 64_000_000, 1024 * 1024, 8.0

    def __init__(self, generator: Pix2PixGenerator):
        self.generator = generator.eval()
        self._fast = {d: fast_unet(net) for d, net in generator.nets.items()}

    @classmethod
    def from_pretrained(cls, source, revision: str | None = None, local_files_only: bool = False):
        return cls(load_pretrained(Pix2PixGenerator, resolve_folder(source, revision, local_files_only)))

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
        if direction not in self._fast:
            raise InputError(f"these weights translate only {', '.join(self.describe(d) for d in self.directions)}")
        return direction

    @torch.inference_mode()
    def translate(self, pixels: torch.Tensor, direction: str, batch_size: int = 8) -> torch.Tensor:
        # pixels: N x 3 x T x T in [-1, 1] -> N x 3 x T x T in [-1, 1], T = tile_size
        net = self._fast[self.check_direction(direction)]
        return torch.cat([net(x.contiguous(memory_format=torch.channels_last)).contiguous()
                          for x in pixels.split(batch_size)])

    def prepare(self, image, mode: str) -> tuple[Image.Image, str]:
        """The RGB picture the model will see, and a sentence saying what was done to it."""
        if mode not in ("tiles", "fit"):
            raise InputError(f"mode must be 'tiles' or 'fit', got {mode!r}")
        if isinstance(image, (str, Path)):  # opened lazily: the size below is read from the header alone
            try:
                image = Image.open(image)
            except (OSError, ValueError, Image.DecompressionBombError) as err:
                raise InputError(f"cannot read the image file: {err}") from None
        if isinstance(image, Image.Image) and image.width * image.height > self.max_input_pixels:
            raise InputError(f"the image is {image.width}x{image.height} pixels; the largest accepted is "
                             f"{self.max_input_pixels // 1_000_000} megapixels")
        image = as_rgb(image)
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

    def __call__(self, image, direction: str = "a2b", *, mode: str = "tiles", output_type: str = "pil") -> GANOutput:
        """Translate one image; ``out.images[0]`` has the size of the prepared input (see ``prepare``)."""
        direction = self.check_direction(direction)
        picture, note = self.prepare(image, mode)
        pixels = torch.from_numpy(np.asarray(picture).copy()).permute(2, 0, 1).float().div_(127.5).sub_(1.0)
        out, tiles = self.tiled(pixels, direction)
        note = "; ".join(filter(None, [note, f"{tiles} tile{'s' * (tiles > 1)} of {self.tile_size}x{self.tile_size}"]))
        return GANOutput(images=to_output(out[None], output_type), messages=[f"{self.describe(direction)}: {note}"])

    def tiled(self, pixels: torch.Tensor, direction: str, overlap: int | None = None) -> tuple[torch.Tensor, int]:
        """3 x H x W (H, W >= tile) -> 3 x H x W through overlapping tiles, blended with linear ramps."""
        t = self.tile_size
        overlap = t // 8 if overlap is None else overlap
        _, h, w = pixels.shape

        def starts(length):
            n = max(1, math.ceil((length - overlap) / (t - overlap)))
            return sorted({round(i * (length - t) / (n - 1)) if n > 1 else 0 for i in range(n)})

        boxes = [(y, x) for y in starts(h) for x in starts(w)]
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
