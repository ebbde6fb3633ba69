"""The Faces tab's model choice: the style-based generator (the default) or the DCGAN, as the page and the API name
them. A client that sends no model (today's /faces, /faces_interpolate and /faces_project calls) gets the default."""

from __future__ import annotations

from gan_models.core.checks import InputError
from gan_models.registry import DEMOS

from .common import user_error
from .first_faces import DEFAULTS

MODELS = {"style": "style_faces", "dcgan": "faces"}      # API value -> registry demo
MODEL_LABELS = [("Style-based (StyleGAN2 ideas, 2019)", "style"), ("DCGAN (2016)", "dcgan")]
DEFAULT_MODEL = DEFAULTS.model  # "style"


def model_demo(model):
    """The registry's demo for a model choice ("style" or "dcgan"; None or "" is the default, "style")."""
    key = DEFAULT_MODEL if model in (None, "") else model
    if key not in MODELS:
        raise user_error(InputError(f"model must be one of {', '.join(MODELS)}, got {str(model)[:40]!r}"))
    return DEMOS[MODELS[key]]
