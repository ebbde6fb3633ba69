"""CycleGAN's diffusers pipeline: the same calls as pix2pix's (pipeline.py), for a model trained without pairs.

``CycleGANPipeline.from_pretrained(folder)``; ``pipe(image, "a2b")`` translates an aerial photo into a map (tiles or
fit, as pix2pix); ``pipe.cycle(image, "a2b", noise=...)`` goes there and back and measures the reconstruction;
``pipe.hidden_signal(map)`` amplifies what a map carries beyond its flat colours. Both directions are always there
(the cycle needs them both).
"""

from __future__ import annotations

from ..core.pipelines import CORE_MODULES
from .cyclegan import CycleGANGenerator
from .pipeline import Pix2PixPipeline


class CycleGANPipeline(Pix2PixPipeline):
    """PIL image + direction -> translated image, with CycleGAN's generators (cyclegan.py).

    The networks are fully convolutional; the pipeline feeds them ``generator.tile_size`` squares (256: pix2pix's
    tile and scale, so the two models see the same input alike), blended where they overlap. InstanceNorm normalises
    each tile by its own statistics, which the blending evens out. Nothing to fold: the networks run as they are.
    """

    component_classes = {"generator": CycleGANGenerator}
    remote_module = "cyclegan_maps"
    remote_modules = CORE_MODULES + ("gan_models.core.images", "gan_models.maps.drawing", "gan_models.maps.palette",
                                     "gan_models.maps.pix2pix", "gan_models.maps.pipeline", "gan_models.maps.cyclegan",
                                     "gan_models.maps.cycle_pipeline")

    def __init__(self, generator):  # a CycleGANGenerator
        super().__init__(generator)

    @property
    def tile_size(self) -> int:
        return self.generator.tile_size

    def _inference_nets(self) -> dict:
        return dict(self.generator.nets)
