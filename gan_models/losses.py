"""GAN losses on discriminator logits, as the lectures name them.

D(x) = sigmoid(logit). For every loss, D wants real logits high and fake logits low.

- ``minimax``: Goodfellow et al. 2014, G minimises log(1 - D(G(z))): saturates (vanishing
  gradients) when D confidently rejects the fakes, i.e. early in training.
- ``ns`` (non-saturating): same D loss, G maximises log D(G(z)) instead: strong gradients
  exactly when G is losing. The paper's recommended practice, the default here.
- ``hinge``: Lim & Ye 2017 / SNGAN / BigGAN: D only pushes logits past a margin of 1.
- ``lsgan``: Mao et al. 2017, least squares towards 1 (real) and 0 (fake).
- ``wgan``: Arjovsky et al. 2017, the critic's score difference (use with a gradient penalty).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("minimax", "ns", "hinge", "lsgan", "wgan")


def discriminator_loss(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    if kind in ("minimax", "ns"):  # -log D(x) - log(1 - D(G(z)))
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    if kind == "hinge":
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
    if kind == "lsgan":
        return 0.5 * ((real_logits - 1.0) ** 2).mean() + 0.5 * (fake_logits ** 2).mean()
    if kind == "wgan":
        return fake_logits.mean() - real_logits.mean()
    raise ValueError(f"unknown loss {kind!r}; choose one of {LOSSES}")


def generator_loss(kind: str, fake_logits: torch.Tensor) -> torch.Tensor:
    if kind == "minimax":  # log(1 - D(G(z))), minimised
        return -F.softplus(fake_logits).mean()
    if kind == "ns":  # -log D(G(z))
        return F.softplus(-fake_logits).mean()
    if kind in ("hinge", "wgan"):
        return -fake_logits.mean()
    if kind == "lsgan":
        return 0.5 * ((fake_logits - 1.0) ** 2).mean()
    raise ValueError(f"unknown loss {kind!r}; choose one of {LOSSES}")


def r1_penalty(real_logits: torch.Tensor, real_inputs: torch.Tensor) -> torch.Tensor:
    """Mescheder et al. 2018: squared norm of D's gradient at the real data (mean over the batch)."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real_inputs, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): (||grad critic(x_hat)|| - 1)^2 on random interpolates."""
    alpha = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1.0) ** 2).mean()
