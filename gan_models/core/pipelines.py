"""What every demo's pipeline shares: a diffusers ``DiffusionPipeline`` that loads safely, and checked input.

A pipeline is called as in diffusers: ``pipe(4, generator=torch.Generator().manual_seed(0)).images``
(or with seeds: ``pipe(4, seed=0)``, picture i from seed + i), and returns a ``GANPipelineOutput``
(an ``ImagePipelineOutput`` that also carries the seeds, labels and notes for the user).
``output_type`` is diffusers': "pil" (PIL images), "np" (N x H x W x C floats in [0, 1]) or
"pt" (N x C x H x W floats in [0, 1]).

Loading. ``SomePipeline.from_pretrained(folder or Hub repo id, revision=..., torch_dtype=...)``
reads the diffusers layout (``model_index.json``, one subfolder per component) with the
gallery's strict loader: only JSON, safetensors, Markdown and tokenizer text files are ever
downloaded, and no code in the folder is run (the folder's module file is for diffusers users:
``DiffusionPipeline.from_pretrained(repo, trust_remote_code=True)``). Folders in the gallery's
earlier layout (config.json + model.safetensors) still load, with a note saying how to convert.

Saving. ``pipe.save_pretrained(folder, discriminator=D, training_state={...})`` writes the
diffusers layout, the module file diffusers' ``trust_remote_code`` loads (one file holding the
demo's code, see remote_code.py), and, beside the pipeline's components, the discriminator
(``discriminator/``, not a pipeline component) and ``training_state.json``: with them the
training scripts continue adversarial training from the folder (StyleGAN2-ADA's G + D + G_ema).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from diffusers import DiffusionPipeline, ImagePipelineOutput
from PIL import Image

from .checks import InputError
from .modeling import CONFIG_NAME, LEGACY_WEIGHTS_NAME, WEIGHTS_NAME, GANModel, WeightsError
from .remote_code import write_remote_code

log = logging.getLogger("gan_gallery")
INDEX_NAME = "model_index.json"
DISCRIMINATOR_DIR = "discriminator"
TRAINING_STATE = "training_state.json"
# the modules every pipeline's remote-code file starts with (remote_code.py joins them with the demo's own)
CORE_MODULES = ("gan_models.core.remote_code", "gan_models.core.checks", "gan_models.core.modeling",
                "gan_models.core.pipelines")
ALLOW_PATTERNS = ["*.json", "*.safetensors", "*.md", "*.txt"]  # never a pickle, never code


@dataclass
class GANPipelineOutput(ImagePipelineOutput):
    """``images`` as diffusers gives them, plus what a GAN demo also tells its user."""

    seeds: list[int] | None = None              # image i was drawn from seeds[i] (None: from a torch.Generator)
    labels: list | None = None                  # the label or prompt of each image
    messages: list[str] = field(default_factory=list)  # notes for the user (a prompt cut short, ...)


def noise_for_seeds(seeds, shape: tuple[int, ...], truncation: float = 1.0) -> torch.Tensor:
    """One N(0, I) latent per seed, stacked: ``len(seeds) x *shape``.

    Each latent depends on its own seed only (not on the batch it is drawn in), so a seed typed
    back always gives the same picture. ``truncation`` (psi in [0, 1]) scales the latent towards
    the mean, the z-space form of the truncation trick: smaller psi, more typical and cleaner
    images, less variety; psi = 1 is untruncated.
    """
    seeds = list(seeds)
    out = torch.empty((len(seeds), *shape))
    for i, seed in enumerate(seeds):
        out[i] = torch.randn(shape, generator=torch.Generator().manual_seed(int(seed)))
    return out * truncation


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latents: stays on the shell where N(0, I) samples live."""
    a_n, b_n = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    t = t[:, None]
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


def check_output_type(output_type: str) -> str:
    if output_type not in ("pil", "np", "pt"):
        raise InputError(f"output_type must be 'pil', 'np' or 'pt', got {output_type!r}")
    return output_type


def to_output(images: torch.Tensor, output_type: str):
    """N x C x H x W in [-1, 1] -> diffusers' outputs: PIL images, N x H x W x C array or N x C x H x W tensor in [0, 1]."""
    check_output_type(output_type)
    unit = (images.detach().float() / 2 + 0.5).clamp(0, 1)
    if output_type == "pt":
        return unit
    arrays = unit.cpu().permute(0, 2, 3, 1).numpy()
    if output_type == "np":
        return arrays
    pixels = (arrays * 255).round().astype(np.uint8)
    return [Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a) for a in pixels]


# ----------------------------------------------------------------------------- folders
def resolve_folder(source: str | os.PathLike, revision: str | None = None, local_files_only: bool = False) -> Path:
    """A local folder for ``source``: a folder path, or a Hub repo id to download (data files only, never code)."""
    path = Path(source)
    if path.is_dir():
        return path
    if path.suffix or str(source).startswith((".", "/", "~")) or str(source).count("/") != 1:
        raise WeightsError(f"weights folder not found: {source}")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    try:
        return Path(snapshot_download(str(source), revision=revision, allow_patterns=ALLOW_PATTERNS,
                                      local_files_only=local_files_only))
    except (HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled, OSError, ValueError) as err:
        where = f"{source}@{revision}" if revision else str(source)
        raise WeightsError(f"cannot get weights from the Hub repo {where}: {type(err).__name__}: {err}") from err


def is_legacy_folder(folder: Path) -> bool:
    """The gallery's layout before diffusers: the generator's config.json + model.safetensors at the top."""
    return (not (folder / INDEX_NAME).is_file() and (folder / CONFIG_NAME).is_file()
            and (folder / LEGACY_WEIGHTS_NAME).is_file())


def read_training_state(folder: str | os.PathLike) -> dict | None:
    path = Path(folder) / TRAINING_STATE
    return json.loads(path.read_text()) if path.is_file() else None


class GANPipeline(DiffusionPipeline):
    """Base of the demos' pipelines. A subclass names its GAN components' classes in ``component_classes``
    and the package modules that make up its remote-code file in ``remote_modules``."""

    component_classes: dict[str, type] = {}   # {"generator": DCGANGenerator}: loaded strictly by from_pretrained
    remote_module: str = ""                   # the module file written into saved folders ("faces_gan")
    remote_modules: tuple[str, ...] = ()      # the package modules that file is made of, in order
    legacy_component = "generator"            # what an old-layout folder holds
    # what the app reads of a Hub repo (a Space downloads these at build time: spaces.yml's preload_from_hub)
    hub_files: tuple[str, ...] = ("model_index.json", "generator/config.json",
                                  "generator/diffusion_pytorch_model.safetensors")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, revision: str | None = None,
                        torch_dtype: torch.dtype | None = None, local_files_only: bool = False, **components):
        """Load a local folder or a Hub repo (diffusers layout, or the gallery's earlier one), strictly.

        Components given as keyword arguments are used as they are (as in diffusers).
        """
        folder = resolve_folder(pretrained_model_name_or_path, revision, local_files_only)
        if (folder / INDEX_NAME).is_file():
            subfolders = {name: folder / name for name in cls.component_classes}
        elif (folder / CONFIG_NAME).is_file() and ((folder / WEIGHTS_NAME).is_file() or is_legacy_folder(folder)):
            if is_legacy_folder(folder):
                log.warning("%s is in the gallery's earlier layout (config.json + model.safetensors): it loads, but "
                            "convert it to the diffusers layout with `python -m gan_models.hub.convert %s OUT`",
                            folder, folder)
            subfolders = {cls.legacy_component: folder}  # a generator's folder alone
        else:
            raise WeightsError(f"{folder} holds no {INDEX_NAME} (a diffusers pipeline folder), no {CONFIG_NAME} + "
                               f"{WEIGHTS_NAME} (a generator's folder) and no {CONFIG_NAME} + {LEGACY_WEIGHTS_NAME} "
                               "(the gallery's earlier layout)")
        for name, model_cls in cls.component_classes.items():
            if name not in components:
                components[name] = model_cls.load_strict(subfolders.get(name, folder / name), torch_dtype)
        components = cls.load_extra_components(folder, components, torch_dtype)
        pipe = cls(**components)
        pipe.register_to_config(_name_or_path=str(pretrained_model_name_or_path))
        return pipe

    @classmethod
    def load_extra_components(cls, folder: Path, components: dict, torch_dtype) -> dict:
        """Components that are not GAN networks (a text encoder): a subclass loads them here."""
        return components

    def save_pretrained(self, save_directory, discriminator: GANModel | None = None,
                        training_state: dict | None = None, push_to_hub: bool = False, **kwargs):
        """diffusers' layout + the remote-code module file; with ``discriminator`` / ``training_state``,
        what continuing its training needs. ``push_to_hub``: see ``gan_models.hub.publish``."""
        if push_to_hub:
            raise ValueError("push with `python -m gan_models.hub.publish FOLDER REPO` (or the training scripts' "
                             "--push_to_hub): it checks the folder first and uploads only data files and the "
                             "module file")
        folder = Path(save_directory)
        for stale in (DISCRIMINATOR_DIR, TRAINING_STATE):  # nothing of an earlier save may be left to mismatch
            path = folder / stale
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        super().save_pretrained(folder, **kwargs)
        index = json.loads((folder / INDEX_NAME).read_text())
        index.pop("_name_or_path", None)  # where it was loaded from on this machine: not the folder's business
        index["_class_name"] = [self.remote_module, type(self).__name__]
        for name in self.component_classes:
            index[name] = [self.remote_module, type(getattr(self, name)).__name__]
        (folder / INDEX_NAME).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
        write_remote_code(type(self), [folder] + [folder / name for name in self.component_classes])
        if discriminator is not None:
            discriminator.save_pretrained(folder / DISCRIMINATOR_DIR)
        if training_state is not None:
            (folder / TRAINING_STATE).write_text(json.dumps(training_state, indent=1) + "\n")
        return folder

    # A fast form of a component (BatchNorm folded, channels-last) is built once per device and dtype.
    def fast(self, name: str, build):
        net = getattr(self, name)
        param = next(net.parameters())
        key = (name, id(net), param.device, param.dtype)
        cache = self.__dict__.setdefault("_fast_cache", {})
        if key not in cache:
            cache.clear() if len(cache) > 8 else None
            cache[key] = build(net)
        return cache[key]
