"""Seeds (or a torch.Generator) -> faces: the DCGAN's diffusers pipeline."""

from __future__ import annotations

import torch

from ..core.modeling import fuse_batchnorm
from ..core.checks import InputError, check_float, check_int, check_seed, seeds_from
from ..core.pipelines import (CORE_MODULES, GANPipeline, GANPipelineOutput, check_output_type, noise_for_seeds, slerp,
                              to_output)
from .dcgan import DCGANGenerator


class DCGANPipeline(GANPipeline):
    """``DCGANPipeline.from_pretrained(folder or repo id)``; ``pipe(16, seed=0).images``.

    Face i of a call uses seed ``seed + i`` and depends on nothing else, so a seed typed back
    always gives the same face; ``generator=torch.Generator().manual_seed(0)`` works too.
    """

    component_classes = {"generator": DCGANGenerator}
    remote_module = "faces_gan"
    remote_modules = CORE_MODULES + ("gan_models.faces.dcgan", "gan_models.faces.pipeline")
    max_images = 256

    def __init__(self, generator):  # a DCGANGenerator (no annotation: diffusers would compare it with the class
        super().__init__()           # of another copy of the remote module file, and warn)
        self.register_modules(generator=generator.eval())

    @property
    def latent_dim(self) -> int:
        return self.generator.latent_dim

    @torch.inference_mode()
    def generate(self, noise: torch.Tensor) -> torch.Tensor:
        # noise: N x latent_dim -> N x 3 x H x W in [-1, 1]; BatchNorm folded into the convolutions, channels-last:
        # the fast form for CPU inference (bench_faces.py)
        net = self.fast("generator", lambda g: fuse_batchnorm(g.net).to(memory_format=torch.channels_last).eval())
        param = next(net.parameters())
        x = noise.to(param.device, param.dtype)[:, :, None, None].contiguous(memory_format=torch.channels_last)
        return net(x)

    def __call__(self, num_images: int = 1, *, seed: int = 0, seeds=None, generator: torch.Generator | None = None,
                 truncation: float = 1.0, output_type: str = "pil") -> GANPipelineOutput:
        """Faces for ``seeds``, or ``num_images`` seeds from ``seed``, or noise from ``generator``."""
        truncation = check_float(truncation, "truncation", 0.0, 1.0)
        check_output_type(output_type)
        if seeds is not None:
            seeds = [check_seed(s) for s in seeds]
            if not 1 <= len(seeds) <= self.max_images:
                raise InputError(f"give between 1 and {self.max_images} seeds, got {len(seeds)}")
        else:
            num_images = check_int(num_images, "num_images", 1, self.max_images)
        if generator is not None and seeds is None:
            noise = torch.randn(num_images, self.latent_dim, generator=generator) * truncation
        else:
            seeds = seeds if seeds is not None else seeds_from(seed, num_images)
            noise = noise_for_seeds(seeds, (self.latent_dim,), truncation)
        return GANPipelineOutput(images=to_output(self.generate(noise), output_type), seeds=seeds)

    def interpolate(self, seed_a: int, seed_b: int, num_frames: int = 16, *, truncation: float = 1.0,
                    output_type: str = "pil") -> GANPipelineOutput:
        """A walk from seed_a's face to seed_b's (spherical interpolation of their latents), with a progress bar."""
        seed_a, seed_b = check_seed(seed_a, "seed_a"), check_seed(seed_b, "seed_b")
        num_frames = check_int(num_frames, "num_frames", 2, 120)
        truncation = check_float(truncation, "truncation", 0.0, 1.0)
        check_output_type(output_type)
        ends = noise_for_seeds([seed_a, seed_b], (self.latent_dim,))
        t = torch.linspace(0, 1, num_frames)
        noise = slerp(ends[0:1].expand(num_frames, -1), ends[1:2].expand(num_frames, -1), t) * truncation
        frames = [self.generate(chunk) for chunk in self.progress_bar(noise.split(8))]
        return GANPipelineOutput(images=to_output(torch.cat(frames), output_type), seeds=[seed_a, seed_b])
