"""Seeds -> faces from the style-based generator (stylegan.py): its diffusers pipeline.

``StyleFacesPipeline.from_pretrained(folder)``; ``pipe(16, seed=0).images`` as the DCGAN's pipeline, with
truncation in W (toward the mean w, not a scaled z).
"""

from __future__ import annotations

import torch

from ..core.checks import InputError, check_float, check_int, check_seed, seeds_from
from ..core.pipelines import CORE_MODULES, GANPipeline, GANPipelineOutput, check_output_type, noise_for_seeds, to_output
from .stylegan import StyleGenerator


class StyleFacesPipeline(GANPipeline):
    """Face i of a call uses seed ``seed + i`` and depends on nothing else (the per-layer noise is the generator's
    fixed ``noise_const``), so a seed typed back always gives the same face."""

    component_classes = {"generator": StyleGenerator}
    remote_module = "style_faces_gan"
    remote_modules = CORE_MODULES + ("gan_models.core.projected", "gan_models.faces.stylegan",
                                     "gan_models.faces.style_pipeline")
    max_images = 256

    def __init__(self, generator):  # a StyleGenerator (no annotation: see DCGANPipeline)
        super().__init__()
        self.register_modules(generator=generator.eval())

    @property
    def latent_dim(self) -> int:
        return self.generator.latent_dim

    def seed_noise(self, seeds=None, num_images: int = 1, seed: int = 0) -> tuple[torch.Tensor, list[int]]:
        """Checked seeds (or ``num_images`` from ``seed``) -> (N x latent_dim z, the seeds)."""
        if seeds is not None:
            seeds = [check_seed(s) for s in seeds]
            if not 1 <= len(seeds) <= self.max_images:
                raise InputError(f"give between 1 and {self.max_images} seeds, got {len(seeds)}")
        else:
            seeds = seeds_from(seed, check_int(num_images, "num_images", 1, self.max_images))
        return noise_for_seeds(seeds, (self.latent_dim,)), seeds

    @torch.inference_mode()
    def map(self, noise: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        # noise: N x latent_dim -> ws: N x num_ws x w_dim, truncated toward the mean w
        param = next(self.generator.parameters())
        return self.generator.map(noise.to(param.device, param.dtype), truncation)

    @torch.inference_mode()
    def synthesize(self, ws: torch.Tensor) -> torch.Tensor:
        # ws: N x num_ws x w_dim -> N x 3 x 64 x 64 in [-1, 1] (fixed noise: the same ws, the same face)
        param = next(self.generator.parameters())
        return self.generator.synthesize(ws.to(param.device, param.dtype), noise_mode="const").clamp(-1, 1)

    def __call__(self, num_images: int = 1, *, seed: int = 0, seeds=None, generator: torch.Generator | None = None,
                 truncation: float = 1.0, output_type: str = "pil") -> GANPipelineOutput:
        """Faces for ``seeds``, or ``num_images`` seeds from ``seed``, or noise from ``generator``; ``truncation``
        (psi, 0 to 1) pulls each w toward the mean w: 0 gives the mean face, 1 is untruncated."""
        truncation = check_float(truncation, "truncation", 0.0, 1.0)
        check_output_type(output_type)
        if generator is not None and seeds is None:
            noise = torch.randn(check_int(num_images, "num_images", 1, self.max_images), self.latent_dim,
                                generator=generator)
        else:
            noise, seeds = self.seed_noise(seeds, num_images, seed)
        images = torch.cat([self.synthesize(self.map(chunk, truncation)) for chunk in noise.split(64)])
        return GANPipelineOutput(images=to_output(images, output_type), seeds=seeds)
