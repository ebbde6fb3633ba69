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


def _style_faces():
    from .faces.style_pipeline import StyleFacesPipeline
    return StyleFacesPipeline


def _digits():
    from .digits.pipeline import CGANPipeline
    return CGANPipeline


def _birds():
    from .birds.pipeline import BirdsPipeline
    return BirdsPipeline


def _maps():
    from .maps.pipeline import Pix2PixPipeline
    return Pix2PixPipeline


def _cyclegan_maps():
    from .maps.cycle_pipeline import CycleGANPipeline
    return CycleGANPipeline


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
    tab: str = ""        # the tab it is shown in, when it shares one (the Faces tab holds two models)
    # Set (to how the weights are made) for a demo whose embedded weights are not trained yet: its folder may be
    # missing. The tab then says so instead of failing to load, and the tests that read every demo's embedded
    # folder skip a missing one with this reason. "" for a demo that always ships its weights.
    weights_pending: str = ""

    @property
    def tab_id(self) -> str:
        return self.tab or self.name

    @property
    def not_installed(self) -> str:
        """Why the embedded weights are missing ("" when they are there, or when missing is an error)."""
        return self.weights_pending if self.weights_pending and not self.embedded.is_dir() else ""

    @property
    def pipeline(self) -> type:
        return self.pipeline_class()

    @property
    def embedded(self) -> Path:
        return self.weights_dir / self.name


DEMOS: dict[str, Demo] = {
    d.name: d
    for d in (
        # The Faces tab holds two models of one task, 2019's beside 2016's: the style-based one is the default
        # (what /faces serves), the DCGAN one click away. Each has its own weights, Hub repo and spaces.yml entry.
        Demo("faces", "Random faces (DCGAN)", "faces", _faces, "unconditional-image-generation",
             "64x64 faces from random noise: a DCGAN trained on CelebA."),
        Demo("style_faces", "Style-based faces (StyleGAN2 ideas)", "faces", _style_faces,
             "unconditional-image-generation",
             "64x64 faces from a style-based generator (mapping network, modulated convolutions, noise) trained "
             "on CelebA against a projected discriminator.", tab="faces"),
        # The Hub has no class-conditional task; its input (noise + a class id, no text, no image) is
        # nearest to unconditional-image-generation, and the model card adds the tag "class-conditional".
        Demo("digits", "Label-conditioned digits (cGAN)", "digits", _digits, "unconditional-image-generation",
             "28x28 handwritten digits of the class you ask for: a conditional GAN trained on MNIST."),
        Demo("birds", "Text-to-image birds (DF-GAN style)", "birds", _birds, "text-to-image",
             "64x64 birds that follow a description: a text-conditioned GAN trained on CUB birds and their captions."),
        # The Maps tab holds two models of one task: pix2pix, trained on pairs (the default: what /maps serves), and
        # CycleGAN, trained on the same pictures with the pairs broken.
        Demo("maps", "Map ↔ aerial photo (pix2pix)", "maps", _maps, "image-to-image",
             "An aerial photo turned into a map, or a map into an aerial photo: pix2pix on the pix2pix maps pairs."),
        Demo("cyclegan_maps", "Map ↔ aerial photo, unpaired (CycleGAN)", "maps", _cyclegan_maps, "image-to-image",
             "An aerial photo turned into a map, or a map into an aerial photo, learned without pairs: CycleGAN on "
             "the pix2pix maps pictures, aerial photos and maps drawn independently.", tab="maps",
             weights_pending="training/train_cyclegan.py makes them (README, *Maps: unpaired translation "
                             "(CycleGAN)*)"),
        Demo("superres", "Super-resolution (SRGAN)", "upscale", _superres, "image-to-image",
             "A picture made 4x larger: bicubic, SRResNet and SRGAN side by side, trained on faces, bird photos "
             "and aerial photos."),
    )
}


# A tab that holds more than one model has a title of its own; every other tab is titled by its one demo.
TAB_TITLES = {"faces": "Random faces (StyleGAN2 · DCGAN)", "maps": "Maps (pix2pix · CycleGAN)"}  # short: six tabs fit


def tab_title(tab_id: str) -> str:
    """The title of tab ``tab_id`` (a demo's tab_id)."""
    return TAB_TITLES.get(tab_id) or DEMOS[tab_id].title


def tabs() -> dict[str, list[Demo]]:
    """Tab id -> the demos it shows, in the registry's order (the first is the tab's default model, except where the
    tab says otherwise)."""
    out: dict[str, list[Demo]] = {}
    for demo in DEMOS.values():
        out.setdefault(demo.tab_id, []).append(demo)
    return out
