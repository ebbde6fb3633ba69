"""Seeds (or a torch.Generator) -> faces, and a photo -> its closest face (projection): the DCGAN's diffusers pipeline."""

from __future__ import annotations

import torch

from ..core.modeling import fuse_batchnorm
from ..core.checks import InputError, check_float, check_int, check_seed, seeds_from
from ..core.pipelines import (CORE_MODULES, GANPipeline, GANPipelineOutput, check_output_type, noise_for_seeds, slerp,
                              to_output)
from ..feature_networks import EfficientNetLite0Features
from .dcgan import DCGANGenerator
from .projection import (FeatureDistance, ProjectionLoss, ProjectionOutput, as_latent, differentiable_generator,
                         pil_to_tensor, prepare_photo, project_latent, psnr)


class DCGANPipeline(GANPipeline):
    """``DCGANPipeline.from_pretrained(folder or repo id)``; ``pipe(16, seed=0).images``.

    Face i of a call uses seed ``seed + i`` and depends on nothing else, so a seed typed back
    always gives the same face; ``generator=torch.Generator().manual_seed(0)`` works too.
    """

    component_classes = {"generator": DCGANGenerator}
    remote_module = "faces_gan"
    remote_modules = CORE_MODULES + ("gan_models.core.images", "gan_models.feature_networks", "gan_models.faces.dcgan",
                                     "gan_models.faces.projection", "gan_models.faces.pipeline")
    max_images = 256
    max_projection_steps, max_candidates = 2000, 4096

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
        truncation = check_float(truncation, "truncation", 0.0, 1.0)
        ends = noise_for_seeds([seed_a, seed_b], (self.latent_dim,))
        out = self.interpolate_latents(ends[0:1] * truncation, ends[1:2] * truncation, num_frames,
                                       output_type=output_type)
        out.seeds = [seed_a, seed_b]
        return out

    def interpolate_latents(self, latent_a: torch.Tensor, latent_b: torch.Tensor, num_frames: int = 16, *,
                            output_type: str = "pil") -> GANPipelineOutput:
        """A walk between two latents (1 x latent_dim each, e.g. a projected photo's and a seed's), with a progress bar."""
        num_frames = check_int(num_frames, "num_frames", 2, 120)
        check_output_type(output_type)
        a, b = (self.check_latent(latent, name) for latent, name in ((latent_a, "latent_a"), (latent_b, "latent_b")))
        t = torch.linspace(0, 1, num_frames)
        noise = slerp(a.expand(num_frames, -1), b.expand(num_frames, -1), t)
        frames = [self.generate(chunk) for chunk in self.progress_bar(noise.split(8))]
        return GANPipelineOutput(images=to_output(torch.cat(frames), output_type))

    def seed_latent(self, seed: int, truncation: float = 1.0) -> torch.Tensor:
        """Seed ``seed``'s latent (1 x latent_dim), truncated: where a walk to that seed's face ends."""
        return noise_for_seeds([check_seed(seed)], (self.latent_dim,), check_float(truncation, "truncation", 0.0, 1.0))

    def describe_latent(self, latent: torch.Tensor) -> str:
        """A few words on a latent for the user: how far it is from where N(0, I) draws live."""
        return f"z, ‖z‖²/d = {float(latent.square().sum()) / self.latent_dim:.2f}"

    def check_latent(self, latent, name: str = "latent") -> torch.Tensor:
        """A latent a user gives (a tensor or array, latent_dim or 1 x latent_dim, finite) -> 1 x latent_dim float32."""
        d = self.latent_dim
        return as_latent(latent, name, [(d,), (1, d)], f"{d} numbers").reshape(1, d)

    def feature_distance(self) -> FeatureDistance:
        """The frozen EfficientNet-Lite0 of the projection's feature loss, loaded once (offline, SHA-checked)."""
        cache = self.__dict__.setdefault("_projection_cache", {})
        if "features" not in cache:
            cache["features"] = FeatureDistance(EfficientNetLite0Features(), num_maps=3)
        param = next(self.generator.parameters())
        return cache["features"].to(param.device)

    def project(self, image, num_steps: int = 200, *, generator: torch.Generator | None = None, callback=None,
                **kwargs) -> ProjectionOutput:
        """The latent whose face is closest to ``image`` (a photo: PIL image, array or file path, framed like the
        training faces), found by Adam on z through the frozen generator; see ``gan_models/faces/projection.py``.

        Starts from the best of ``num_candidates`` (256) latents drawn from ``generator`` (default: seed 0),
        so the result is deterministic given ``generator``. ``frames`` holds the start, the result and up to
        ``num_frames`` - 1 (7) faces between; ``callback(step, num_steps, loss, image tensor or None)`` is called after each step.
        ``loss_weights=ProjectionLoss(features=0)`` runs without the feature network; ``learning_rate``
        (0.1) is Adam's. ``project_steps`` is the same as a generator of the steps, for a UI.
        """
        for item in self.project_steps(image, num_steps, generator=generator, **kwargs):
            if callback is not None and not isinstance(item, ProjectionOutput):
                callback(item[0], num_steps, item[1], item[2])
        return item

    def project_steps(self, image, num_steps: int = 200, *, generator: torch.Generator | None = None,
                      num_candidates: int = 256, learning_rate: float = 0.1,
                      loss_weights: ProjectionLoss | None = None, num_frames: int = 8, output_type: str = "pil"):
        """``project`` as a generator: yields (step, loss, image tensor or None) after each step, then the
        ``ProjectionOutput``. Every input is checked before the first step."""
        num_steps = check_int(num_steps, "num_steps", 0, self.max_projection_steps)
        num_candidates = check_int(num_candidates, "num_candidates", 1, self.max_candidates)
        num_frames = check_int(num_frames, "num_frames", 0, 64)
        learning_rate = check_float(learning_rate, "learning_rate", 0.0, 10.0)
        check_output_type(output_type)
        weights = loss_weights if loss_weights is not None else ProjectionLoss()
        photo, notes = prepare_photo(image, self.generator.image_size)
        return self._project_steps(photo, notes, num_steps, generator, num_candidates, learning_rate, weights,
                                   num_frames, output_type)

    def _project_steps(self, photo, notes, num_steps, generator, num_candidates, learning_rate, weights, num_frames,
                       output_type):
        target = pil_to_tensor(photo)
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        cache = self.__dict__.setdefault("_projection_cache", {})
        param = next(self.generator.parameters())
        key = ("net", id(self.generator), param.device, param.dtype)
        if key not in cache:
            cache.pop(next((k for k in cache if k[0] == "net"), None), None)
            cache[key] = differentiable_generator(self.generator)
        features = self.feature_distance() if weights.features else None
        frame_every = -(-num_steps // num_frames) if num_frames and num_steps else 0  # ceil: at most num_frames - 1 between
        z, image_t, losses, frames, best = yield from project_latent(
            cache[key], self.latent_dim, target, features, num_steps=num_steps, num_candidates=num_candidates,
            generator=generator, learning_rate=learning_rate, weights=weights, frame_every=frame_every,
            progress=self.progress_bar if num_steps else None)
        yield ProjectionOutput(latent=z, images=to_output(image_t, output_type), target=photo, losses=losses,
                               frames=[(step, to_output(im, "pil")[0]) for step, im in frames],
                               psnr=float(psnr(image_t, target)[0]), start_seed_index=best, messages=notes)
