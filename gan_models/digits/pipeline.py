"""(labels, seeds) -> digits: the conditional GAN's diffusers pipeline."""

from __future__ import annotations

import torch

from ..core.checks import InputError, check_float, check_int, check_seed, seeds_from
from ..core.pipelines import (CORE_MODULES, GANPipeline, GANPipelineOutput, check_output_type, noise_for_seeds,
                              to_output)
from .cgan import CGANGenerator


class CGANPipeline(GANPipeline):
    """(labels, seeds) -> digits. ``CGANPipeline.from_pretrained(folder or repo id)``.

    ``pipe(labels=[3, 7], num_images=4, seed=0)`` gives four 3s then four 7s. Image i of
    every label uses seed ``seed + i``: the same seed is the same handwriting ("style")
    whatever the digit, and a (seed, label) pair always gives the same picture.
    """

    component_classes = {"generator": CGANGenerator}
    remote_module = "digits_gan"
    remote_modules = CORE_MODULES + ("gan_models.digits.cgan", "gan_models.digits.pipeline")
    max_images = 1000

    def __init__(self, generator):  # a CGANGenerator
        super().__init__()
        self.register_modules(generator=generator.eval())

    @property
    def latent_dim(self) -> int:
        return self.generator.latent_dim

    @property
    def num_classes(self) -> int:
        return self.generator.num_classes

    def check_labels(self, labels) -> list[int]:
        """An int or a list of ints in 0..num_classes-1, each checked by itself and named if bad."""
        top = self.num_classes - 1
        if labels is None:
            raise InputError(f"give a label (a whole number from 0 to {top}) or a list of labels")
        if isinstance(labels, (torch.Tensor,)) or type(labels).__module__ == "numpy":
            labels = labels.tolist()
        if isinstance(labels, (list, tuple, range)):
            if len(labels) == 0:
                raise InputError(f"give at least one label (a whole number from 0 to {top})")
            return [check_int(v, f"label #{i + 1}" if len(labels) > 1 else "label", 0, top)
                    for i, v in enumerate(labels)]
        return [check_int(labels, "label", 0, top)]

    @torch.inference_mode()
    def generate(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # noise: N x latent_dim, labels: N -> N x 1 x H x W in [-1, 1]
        return self.generator(noise.to(self.device, self.generator.dtype), labels.to(self.device))

    def __call__(self, labels=0, num_images: int = 1, *, seed: int = 0, seeds=None,
                 generator: torch.Generator | None = None, truncation: float = 1.0,
                 output_type: str = "pil") -> GANPipelineOutput:
        """``num_images`` digits per label (or one per seed in ``seeds``), label after label."""
        labels = self.check_labels(labels)
        truncation = check_float(truncation, "truncation", 0.0, 1.0)
        check_output_type(output_type)
        if seeds is not None:
            seeds = [check_seed(s) for s in seeds]
            if not seeds:
                raise InputError("give at least one seed")
            num_images = len(seeds)
        else:
            num_images = check_int(num_images, "num_images (per label)", 1, self.max_images)
        total = len(labels) * num_images
        if total > self.max_images:
            raise InputError(f"too many images: {len(labels)} labels x {num_images} each = {total}; "
                             f"the most per call is {self.max_images}")
        per_image_labels = [y for y in labels for _ in range(num_images)]
        if generator is not None and seeds is None:
            noise = torch.randn(total, self.latent_dim, generator=generator) * truncation
            out_seeds = None
        else:
            seeds = seeds if seeds is not None else seeds_from(seed, num_images)
            noise = noise_for_seeds(seeds, (self.latent_dim,), truncation).repeat(len(labels), 1)
            out_seeds = seeds * len(labels)
        images = self.generate(noise, torch.tensor(per_image_labels, dtype=torch.long))
        return GANPipelineOutput(images=to_output(images, output_type), seeds=out_seeds, labels=per_image_labels)

    def same_style(self, num_styles: int = 4, *, seed: int = 0, seeds=None, truncation: float = 1.0,
                   output_type: str = "pil") -> GANPipelineOutput:
        """Rows = styles (one seed, so one noise vector, per row), columns = every label 0..num_classes-1.

        Images come row after row: ``images[r * num_classes + k]`` is style r drawing label k.
        """
        if seeds is None:
            seeds = seeds_from(seed, check_int(num_styles, "num_styles", 1, self.max_images // self.num_classes))
        seeds = [check_seed(s) for s in seeds]
        if not 1 <= len(seeds) <= self.max_images // self.num_classes:
            raise InputError(f"give between 1 and {self.max_images // self.num_classes} styles, got {len(seeds)}")
        truncation = check_float(truncation, "truncation", 0.0, 1.0)
        k = self.num_classes
        noise = noise_for_seeds(seeds, (self.latent_dim,), truncation).repeat_interleave(k, dim=0)  # (R*K) x latent
        labels = torch.arange(k).repeat(len(seeds))                                                  # 0..K-1 per row
        images = self.generate(noise, labels)
        return GANPipelineOutput(images=to_output(images, output_type), seeds=[s for s in seeds for _ in range(k)],
                         labels=labels.tolist())
