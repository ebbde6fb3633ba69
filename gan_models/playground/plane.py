"""The playground's plane, without torch: the targets' and losses' names, the part of the plane shown, pixels <->
plane, dots, and each built-in target drawn with numpy. The Playground tab builds its page from these (its plot
shows the target before any training), and the app builds every page before it listens; toy_gan.py and render.py,
which train and draw with torch, import them from here.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.checks import InputError

TARGETS = ("ring", "grid", "moons", "spiral", "custom")
LOSSES = {"minimax": "minimax (saturating, the 2014 paper's)", "ns": "non-saturating",
          "lsgan": "least squares (LSGAN)", "hinge": "hinge", "wgan-gp": "WGAN-GP"}
MODE_STD = 0.05  # every Gaussian mode of the toy targets (and of clicked points)
VIEW = 3.0  # the plane shown and sampled is [-VIEW, VIEW]^2
MAX_POINTS = 2000
REAL, FAKE, ARROW = (0, 110, 40), (110, 30, 160), (30, 30, 30)  # colours of real and generated points, G's arrows


def to_pixels(points: np.ndarray, size: int) -> np.ndarray:
    """Plane coordinates (N x 2, y up) -> integer pixel columns and rows (y down)."""
    px = (points[:, 0] + VIEW) / (2 * VIEW) * (size - 1)
    py = (VIEW - points[:, 1]) / (2 * VIEW) * (size - 1)
    return np.rint(np.stack([px, py], 1)).astype(np.int64)


def to_plane(x: float, y: float, size: int) -> tuple[float, float]:
    """A pixel of the plot panel (e.g. a click) -> plane coordinates."""
    return (x / (size - 1) * 2 * VIEW - VIEW, VIEW - y / (size - 1) * 2 * VIEW)


def dots(canvas: np.ndarray, pix: np.ndarray, colour, radius: int) -> None:
    size = canvas.shape[0]
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            x, y = pix[:, 0] + dx, pix[:, 1] + dy
            keep = (x >= 0) & (x < size) & (y >= 0) & (y < size)
            canvas[y[keep], x[keep]] = colour


def mixture_centres(target: str) -> np.ndarray | None:
    """The modes' centres (K x 2, float32) of a built-in mixture target; None for the curves (moons, spiral)."""
    if target == "ring":  # 8 Gaussians on a circle of radius 2 (Metz et al. 2017, Unrolled GAN)
        angles = np.arange(8) * (2 * math.pi / 8)
        return (2.0 * np.stack([np.cos(angles), np.sin(angles)], 1)).astype(np.float32)
    if target == "grid":  # 5 x 5 Gaussians (VEEGAN, PacGAN), spacing 1
        axis = np.arange(-2.0, 3.0)
        return np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2).astype(np.float32)
    if target in ("moons", "spiral"):
        return None
    raise InputError(f"target must be one of {', '.join(t for t in TARGETS if t != 'custom')}, got {target!r}")


def curve_points(target: str, t: np.ndarray, upper: np.ndarray | None, noise: np.ndarray) -> np.ndarray:
    """A curve target's points (N x 2) from its random draws: ``t`` uniform in [0, 1) (N), ``upper`` (N booleans,
    moons only: which moon) and ``noise`` (N x 2, standard normal). The one place the curves' formulas live: the
    numpy draws below and toy_gan.sample_target's torch draws both go through it."""
    if target == "moons":  # sklearn's two moons, centred and scaled to fill the view
        angle = math.pi * t
        x = np.where(upper, np.cos(angle), 1 - np.cos(angle))
        y = np.where(upper, np.sin(angle), 0.5 - np.sin(angle))
        return 1.6 * np.stack([x - 0.5, y - 0.25], 1) + MODE_STD * noise
    angle = 3 * math.pi * np.sqrt(t)  # spiral: one and a half turns, even density along the arm
    radius = 0.3 + 2.2 * angle / (3 * math.pi)
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1) + 0.6 * MODE_STD * noise


def target_points(target: str, n: int, seed: int = 0) -> np.ndarray:
    """``n`` points (n x 2, float32) of a built-in target, drawn with numpy from ``seed``: what the tab shows before
    any training. The same distributions as toy_gan.sample_target, which draws with torch for training (the same
    centres and formulas; other random numbers, so other points)."""
    rng = np.random.default_rng(seed)
    centres = mixture_centres(target)
    noise = rng.standard_normal((n, 2))
    if centres is not None:  # a mixture of equal Gaussians
        return (centres[rng.integers(len(centres), size=n)] + MODE_STD * noise).astype(np.float32)
    t = rng.random(n)
    upper = rng.random(n) < 0.5 if target == "moons" else None
    return curve_points(target, t, upper, noise).astype(np.float32)
