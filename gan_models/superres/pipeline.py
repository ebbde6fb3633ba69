"""A picture -> the same picture 4x larger: bicubic, SRResNet or SRGAN, in tiles for any size (a diffusers pipeline).

``SuperResolutionPipeline.from_pretrained(folder or repo id)``; ``pipe(image, model="srgan").images[0]``.
The folder holds two generators of one architecture: ``srresnet`` (trained on the pixel loss
alone) and ``srgan`` (the same network fine-tuned against a discriminator with a feature
loss). ``model="bicubic"`` is the baseline both are compared with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import ImagePipelineOutput
from PIL import Image

from ..core.checks import InputError, check_int
from ..core.images import as_rgb, open_checked, tile_starts
from ..core.pipelines import CORE_MODULES, GANPipeline, check_output_type, to_output
from .srgan import SRResNetGenerator

MODELS = ("bicubic", "srresnet", "srgan")


@dataclass
class SuperResolutionPipelineOutput(ImagePipelineOutput):
    """``images`` (one upscaled picture per input), and what was done to get them."""

    model: str = "srgan"                          # bicubic, srresnet or srgan
    input_size: tuple[int, int] | None = None     # (width, height) of the picture as given
    tiles: int = 1                                # how many tiles the generator ran on
    messages: list[str] = field(default_factory=list)


def bicubic(low_res: torch.Tensor, scale: int) -> torch.Tensor:
    """N x 3 x h x w -> N x 3 x (scale h) x (scale w), the baseline (and the generators' own skip)."""
    return F.interpolate(low_res, scale_factor=scale, mode="bicubic", align_corners=False)


class SuperResolutionPipeline(GANPipeline):
    """Picture in, picture ``scale`` x larger out. Inputs larger than ``tile_size`` on a side run in tiles, each
    with a margin of context as wide as the generator's receptive field that is cut off again, so the stitched
    result equals a single pass (no seams, no blending); at most ``max_pixels`` input pixels."""

    component_classes = {"srresnet": SRResNetGenerator, "srgan": SRResNetGenerator}
    remote_module = "superres_gan"
    remote_modules = CORE_MODULES + ("gan_models.core.images", "gan_models.superres.srgan",
                                     "gan_models.superres.pipeline")
    legacy_component = "srgan"
    hub_files = ("model_index.json", "srresnet/config.json", "srresnet/diffusion_pytorch_model.safetensors",
                 "srgan/config.json", "srgan/diffusion_pytorch_model.safetensors")
    min_side = 8                   # a 1x1 picture has nothing to upscale
    max_side = 2048                # each side, input
    max_pixels = 512 * 512         # input pixels (a 2048x2048 output at 4x); larger pictures are refused before decoding
    tile_size = 256                # input pixels per tile side (plus the margin)

    def __init__(self, srresnet, srgan):  # two SRResNetGenerators of the same scale
        super().__init__()
        if srresnet.scale != srgan.scale:
            raise ValueError(f"srresnet upscales {srresnet.scale}x but srgan {srgan.scale}x")
        self.register_modules(srresnet=srresnet.eval(), srgan=srgan.eval())

    @property
    def scale(self) -> int:
        return self.srgan.scale

    def check_model(self, model) -> str:
        if model not in MODELS:
            raise InputError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
        return model

    def check_size(self, w: int, h: int) -> None:
        if w * h > self.max_pixels or max(w, h) > self.max_side:
            raise InputError(f"the image is {w}x{h} pixels; the largest accepted is {self.max_pixels:,} pixels "
                             f"(for example 512x512, which becomes {512 * self.scale}x{512 * self.scale}) and "
                             f"{self.max_side} on a side: scale it down or crop it first")

    def prepare(self, image) -> Image.Image:
        """The RGB picture to upscale, after the size checks. The size is checked before a pixel is decoded or
        converted (a file's from its header, an array's from its shape): a 16-bit PNG of 40 megapixels is 90 KB
        to send and over a gigabyte to decode and widen (``as_rgb``) before the size could refuse it."""
        image = open_checked(image, self.max_pixels, f"{self.max_pixels:,} pixels (for example 512x512)")  # lazily
        if isinstance(image, Image.Image):  # opened or given: its size is known, its pixels maybe not yet decoded
            self.check_size(*image.size)
        elif isinstance(image, np.ndarray) and image.ndim in (2, 3):
            self.check_size(image.shape[1], image.shape[0])
        image = as_rgb(image)
        w, h = image.size
        if min(w, h) < self.min_side:
            raise InputError(f"the image is {w}x{h} pixels, too small to upscale: give at least "
                             f"{self.min_side}x{self.min_side}")
        return image

    @torch.inference_mode()
    def upscale(self, low_res: torch.Tensor, model: str = "srgan", tile_size: int | None = None) -> tuple[torch.Tensor, int]:
        """1 x 3 x h x w in [-1, 1] -> (1 x 3 x (s h) x (s w) in [-1, 1], number of tiles), s = scale."""
        model = self.check_model(model)
        s = self.scale
        if model == "bicubic":
            return bicubic(low_res, s).clamp_(-1, 1), 1
        net = getattr(self, model)
        param = next(net.parameters())
        tile = check_int(tile_size or self.tile_size, "tile_size", 16, 4096)
        margin = net.receptive_radius
        _, _, h, w = low_res.shape
        boxes = [(y, x) for y in tile_starts(h, min(tile, h), 0) for x in tile_starts(w, min(tile, w), 0)]
        out = torch.empty(1, 3, h * s, w * s)
        for y, x in (self.progress_bar(boxes) if len(boxes) > 1 else boxes):
            th, tw = min(tile, h), min(tile, w)
            y0, x0, y1, x1 = max(0, y - margin), max(0, x - margin), min(h, y + th + margin), min(w, x + tw + margin)
            window = low_res[:, :, y0:y1, x0:x1].to(param.device, param.dtype)
            result = net(window.contiguous(memory_format=torch.channels_last)).float().cpu()
            top, left = (y - y0) * s, (x - x0) * s  # the tile's own part of the window's output, margin cut off
            out[:, :, y * s:(y + th) * s, x * s:(x + tw) * s] = result[:, :, top:top + th * s, left:left + tw * s]
        return out.clamp_(-1, 1), len(boxes)

    def __call__(self, image, model: str = "srgan", *, output_type: str = "pil",
                 tile_size: int | None = None) -> SuperResolutionPipelineOutput:
        """Upscale one picture (PIL image, numpy array or file path) with ``model``: bicubic, srresnet or srgan."""
        model = self.check_model(model)
        check_output_type(output_type)
        picture = self.prepare(image)
        pixels = torch.from_numpy(np.asarray(picture).copy()).permute(2, 0, 1)[None].float().div_(127.5).sub_(1.0)
        out, tiles = self.upscale(pixels, model, tile_size)
        w, h = picture.size
        note = f"{model}: {w}x{h} -> {w * self.scale}x{h * self.scale}"
        if tiles > 1:
            note += f" in {tiles} tiles"
        return SuperResolutionPipelineOutput(images=to_output(out, output_type), model=model, input_size=(w, h),
                                             tiles=tiles, messages=[note])
