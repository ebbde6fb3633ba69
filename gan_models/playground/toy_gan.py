"""The lectures' "Vanilla GAN" on 2-D toy data: MLP generator and discriminator, any loss.

The mode-coverage metrics are those of the Unrolled-GAN / VEEGAN / PacGAN papers. The
Playground tab trains ``ToyGAN`` live, in the browser; ``python -m gan_models.playground``
(__main__.py) trains it from the command line; render.py draws its frames; plane.py holds what needs no torch.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..core.checks import InputError, check_float, check_int
from ..losses import discriminator_loss, generator_loss, gradient_penalty
from .plane import LOSSES, MAX_POINTS, MODE_STD, TARGETS, VIEW, curve_points, mixture_centres  # torch-free

GP_WEIGHT = 0.1  # Gulrajani et al. use lambda = 0.1 on their toy data (10 on images)


# ----------------------------------------------------------------------------- toy targets
def target_centres(target: str, points=None) -> torch.Tensor | None:
    """The modes' centres (K x 2) of a mixture target (plane.mixture_centres, or the clicked points); None for the
    continuous ones (moons, spiral)."""
    if target == "custom":
        return check_points(points)
    centres = mixture_centres(target)
    return None if centres is None else torch.from_numpy(centres)


def check_points(points) -> torch.Tensor:
    """Clicked / drawn points -> N x 2 float tensor, refused unless 2..MAX_POINTS finite points in view."""
    if points is None or len(points) < 2:
        raise InputError("draw at least 2 points (click the plot) for the custom target")
    if len(points) > MAX_POINTS:
        raise InputError(f"at most {MAX_POINTS} points, got {len(points)}")
    try:
        pts = torch.as_tensor([[float(x), float(y)] for x, y in points], dtype=torch.float32)
    except (TypeError, ValueError):
        raise InputError("points must be pairs of numbers (x, y)") from None
    if not torch.isfinite(pts).all():
        raise InputError("points must be finite numbers")
    if pts.abs().max() > VIEW:
        raise InputError(f"points must lie in [-{VIEW}, {VIEW}] on both axes")
    return pts


def sample_target(target: str, n: int, generator: torch.Generator, centres: torch.Tensor | None = None) -> torch.Tensor:
    """``n`` samples (n x 2) of the target, deterministic given ``generator``'s state."""
    if centres is None and target != "custom":
        centres = target_centres(target)
    noise = torch.randn(n, 2, generator=generator)
    if centres is not None:  # a mixture of equal Gaussians
        pick = torch.randint(len(centres), (n,), generator=generator)
        return centres[pick] + MODE_STD * noise
    t = torch.rand(n, generator=generator)
    upper = torch.rand(n, generator=generator) < 0.5 if target == "moons" else None
    points = curve_points(target, t.numpy(), None if upper is None else upper.numpy(), noise.numpy())
    return torch.from_numpy(points)


def mode_coverage(samples: torch.Tensor, centres: torch.Tensor, std: float = MODE_STD,
                  min_share: float = 0.2) -> dict:
    """Modes covered and share of high-quality samples (Metz et al. 2017, Srivastava et al. 2017).

    A sample is *high quality* if it lies within 3 ``std`` of its nearest centre. A mode is
    *covered* if it gets at least ``min_share`` of its fair share of the samples as high-quality
    samples: 20 of 2500 on the 25-mode grid, as in PacGAN.
    """
    samples, centres = torch.as_tensor(samples, dtype=torch.float32), torch.as_tensor(centres, dtype=torch.float32)
    dist, nearest = torch.cdist(samples, centres).min(1)
    good = dist <= 3 * std
    counts = torch.bincount(nearest[good], minlength=len(centres))
    covered = int((counts >= max(1, math.ceil(min_share * len(samples) / len(centres)))).sum())
    return {"modes_covered": covered, "num_modes": len(centres), "high_quality": float(good.float().mean())}


# ----------------------------------------------------------------------------- the networks
def mlp(sizes: list[int], activation) -> nn.Sequential:
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class ToyGAN:
    """G: z (latent_dim) -> 3 hidden ReLU layers -> (x, y); D: (x, y) -> 3 hidden LeakyReLU layers -> logit.

    ``step(n)`` makes n generator updates, each after ``d_steps`` discriminator updates, on
    fresh batches of the target; ``d_losses`` / ``g_losses`` keep one value per G update.
    """

    def __init__(self, target: str = "ring", loss: str = "ns", lr_g: float = 1e-3, lr_d: float = 1e-3,
                 d_steps: int = 1, width: int = 64, seed: int = 0, points=None, batch_size: int = 256,
                 latent_dim: int = 8):
        if target not in TARGETS:
            raise InputError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
        self.target = target
        self.width = check_int(width, "network width", 4, 256)
        self.seed = check_int(seed, "seed", 0, 2**31 - 1)
        self.batch_size, self.latent_dim = check_int(batch_size, "batch size", 8, 4096), latent_dim
        self.centres = target_centres(target, points)
        torch.manual_seed(self.seed)
        self.generator = mlp([latent_dim, width, width, width, 2], nn.ReLU)
        self.discriminator = mlp([2, width, width, width, 1], lambda: nn.LeakyReLU(0.2))
        self.opt_g = torch.optim.Adam(self.generator.parameters(), betas=(0.5, 0.9))
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), betas=(0.5, 0.9))
        self.configure(loss, lr_g, lr_d, d_steps)
        self.rng = torch.Generator().manual_seed(self.seed)  # data and noise
        view = torch.Generator().manual_seed(12345)  # fixed points to draw, so frames change smoothly
        self.view_noise = torch.randn(512, latent_dim, generator=view)
        self.view_real = sample_target(target, 512, view, self.centres)
        self.steps, self.d_losses, self.g_losses = 0, [], []

    def configure(self, loss: str, lr_g: float, lr_d: float, d_steps: int) -> None:
        """Change the loss, learning rates and D steps without resetting the networks."""
        if loss not in LOSSES:
            raise InputError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        self.loss = loss
        self.lr_g = check_float(lr_g, "G learning rate", 1e-5, 0.1)
        self.lr_d = check_float(lr_d, "D learning rate", 1e-5, 0.1)
        self.d_steps = check_int(d_steps, "D steps per G step", 1, 10)
        for opt, lr in ((self.opt_g, self.lr_g), (self.opt_d, self.lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr

    @property
    def kind(self) -> str:  # the name gan_models.losses knows
        return "wgan" if self.loss == "wgan-gp" else self.loss

    def real_batch(self) -> torch.Tensor:
        return sample_target(self.target, self.batch_size, self.rng, self.centres)

    def fake_batch(self, n: int | None = None) -> torch.Tensor:
        return self.generator(torch.randn(n or self.batch_size, self.latent_dim, generator=self.rng))

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return discriminator_loss(self.kind, self.discriminator(real), self.discriminator(fake))

    def d_step(self, real: torch.Tensor, fake: torch.Tensor) -> float:
        """One discriminator update on a real and a (detached) fake batch; returns D's loss before it."""
        loss = total = self.d_loss(real, fake.detach())
        if self.loss == "wgan-gp":
            total = loss + GP_WEIGHT * gradient_penalty(self.discriminator, real, fake.detach())
        self.opt_d.zero_grad(set_to_none=True)
        total.backward()
        self.opt_d.step()
        return loss.item()

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            for _ in range(self.d_steps):
                with torch.no_grad():
                    fake = self.fake_batch()
                d_loss = self.d_step(self.real_batch(), fake)
            g_loss = generator_loss(self.kind, self.discriminator(self.fake_batch()))
            self.opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            self.opt_g.step()
            self.steps += 1
            self.d_losses.append(d_loss)
            self.g_losses.append(g_loss.item())

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        return self.generator(torch.randn(n, self.latent_dim, generator=torch.Generator().manual_seed(7)))

    def coverage(self, n: int = 2500) -> dict | None:
        """Mode coverage of ``n`` generated samples; None for targets without discrete modes."""
        return None if self.centres is None else mode_coverage(self.sample(n), self.centres)
