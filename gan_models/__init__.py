"""GAN Gallery's models and pipelines.

    from gan_models import DCGANPipeline
    pipe = DCGANPipeline.from_pretrained("gan_models/weights/faces")   # or a Hub repo id
    images = pipe(16, seed=0).images

The list of demos the app shows is ``gan_models.registry.DEMOS``.
"""

from .dcgan import DCGANDiscriminator, DCGANGenerator, DCGANPipeline
from .layers import WeightsError
from .pipeline import GANOutput, InputError

__all__ = ["DCGANDiscriminator", "DCGANGenerator", "DCGANPipeline", "GANOutput", "InputError", "WeightsError"]
