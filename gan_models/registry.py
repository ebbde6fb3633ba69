"""The explicit list of demos. app.py, the tests, spaces.yml and the Space deploy all read it.

Each demo names its pipeline class directly (no lookup by string), the folder of its
embedded default weights, and its API name. The pipeline class is imported by a function of
this file on first use, not at import: a pipeline module imports diffusers (about 3 s of CPU),
and the app starts serving before any tab needs its model. Which Hub repo and revision feed a
demo in a Space is deployment, not code: that lives in spaces.yml.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def _faces():
    from .faces.pipeline import DCGANPipeline
    return DCGANPipeline


def _digits():
    from .digits.pipeline import CGANPipeline
    return CGANPipeline


def _birds():
    from .birds.pipeline import BirdsPipeline
    return BirdsPipeline


def _maps():
    from .maps.pipeline import Pix2PixPipeline
    return Pix2PixPipeline


def _superres():
    from .superres.pipeline import SuperResolutionPipeline
    return SuperResolutionPipeline


@dataclass(frozen=True)
class Demo:
    name: str            # tab key, spaces.yml key, weights folder name
    title: str           # tab title
    api_name: str        # the gradio endpoint, e.g. "faces" -> /faces
    pipeline_class: Callable[[], type]  # returns the pipeline class (has .from_pretrained(folder or repo id, revision))
    pipeline_tag: str    # Hub task of the model repo
    summary: str
    weights_dir: Path = WEIGHTS_DIR  # where the embedded defaults live (tests point it elsewhere)

    @property
    def pipeline(self) -> type:
        return self.pipeline_class()

    @property
    def embedded(self) -> Path:
        return self.weights_dir / self.name


DEMOS: dict[str, Demo] = {
    d.name: d
    for d in (
        Demo("faces", "Random faces (DCGAN)", "faces", _faces, "unconditional-image-generation",
             "64x64 faces from random noise: a DCGAN trained on CelebA."),
        # The Hub has no class-conditional task; its input (noise + a class id, no text, no image) is
        # nearest to unconditional-image-generation, and the model card adds the tag "class-conditional".
        Demo("digits", "Label-conditioned digits (cGAN)", "digits", _digits, "unconditional-image-generation",
             "28x28 handwritten digits of the class you ask for: a conditional GAN trained on MNIST."),
        Demo("birds", "Text-to-image birds (DF-GAN style)", "birds", _birds, "text-to-image",
             "64x64 birds that follow a description: a text-conditioned GAN trained on CUB birds and their captions."),
        Demo("maps", "Map ↔ aerial photo (pix2pix)", "maps", _maps, "image-to-image",
             "An aerial photo turned into a map, or a map into an aerial photo: pix2pix on the pix2pix maps pairs."),
        Demo("superres", "Super-resolution (SRGAN)", "upscale", _superres, "image-to-image",
             "A picture made 4x larger: bicubic, SRResNet and SRGAN side by side, trained on faces, bird photos "
             "and aerial photos."),
    )
}
