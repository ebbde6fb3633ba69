"""The two errors the gallery shows its users, and checks of what a user gives a pipeline or a tab, with messages
fit to show them. Plain Python: no torch, no diffusers (the app imports this before any model)."""

from __future__ import annotations

import math
import numbers

MAX_SEED = 2**32 - 1


class WeightsError(RuntimeError):
    """Weights that are missing, corrupt, or do not fit the model's config."""


class InputError(ValueError):
    """A user's input the pipeline cannot take, with a message fit to show them."""


def _number(value, name: str) -> float:
    if isinstance(value, bool) or value is None or isinstance(value, (list, tuple, dict)):
        raise InputError(f"{name} must be a number, got {value!r}")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InputError(f"{name} must be a number, got {value[:40]!r}") from None
    if not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a number, got {type(value).__name__}")
    try:
        value = float(value)
    except OverflowError:  # an int beyond any float (10**400)
        raise InputError(f"{name} is far too large: {str(value)[:12]}… ({len(str(value))} digits)") from None
    if not math.isfinite(value):
        raise InputError(f"{name} must be a finite number, got {value}")
    return value


def check_int(value, name: str, low: int, high: int) -> int:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        number = int(value)  # exact, however large (a float would round 2**53 + 1, or overflow)
    else:
        number = _number(value, name)
        if number != int(number):
            raise InputError(f"{name} must be a whole number, got {number}")
        number = int(number)
    if not low <= number <= high:
        shown = str(number) if len(str(number)) <= 24 else f"{str(number)[:12]}… ({len(str(number))} digits)"
        raise InputError(f"{name} must be between {low} and {high}, got {shown}")
    return number


def check_float(value, name: str, low: float, high: float) -> float:
    number = _number(value, name)
    if not low <= number <= high:
        raise InputError(f"{name} must be between {low} and {high}, got {number}")
    return number


def check_seed(value, name: str = "seed") -> int:
    return check_int(value, name, 0, MAX_SEED)


def seeds_from(seed, num_images: int) -> list[int]:
    """``num_images`` consecutive seeds from ``seed`` (wrapping at 2**32), StyleGAN style."""
    seed = check_seed(seed)
    return [(seed + i) % (MAX_SEED + 1) for i in range(num_images)]
