"""Seeds -> faces from the style-based generator (stylegan.py), and what its W space allows: its diffusers pipeline.

``StyleFacesPipeline.from_pretrained(folder)``; ``pipe(16, seed=0).images`` as the DCGAN's pipeline, with
truncation in W (toward the mean w, not a scaled z). Beyond it:

- ``style_mix(rows, cols, layers)``: the StyleGAN paper's mixing figure: face A (a row) with the
  coarse / middle / fine styles of face B (a column);
- ``principal_directions()`` and ``edit(...)``: GANSpace (Härkönen et al. 2020): the principal
  components of sampled w's are directions that change one thing at a time, found without labels;
  the named ones (the pipeline's ``edits``, kept in ``model_index.json``, each checked by looking) are sliders;
- ``interpolate`` / ``interpolate_latents``: walks in W (straight lines: W is where StyleGAN walks);
- ``project(photo)``: the w (or one w per layer, W+) whose face is closest to a photo.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from diffusers.utils import BaseOutput
from PIL import Image

from ..core.checks import InputError, WeightsError, check_float, check_int, check_seed, seeds_from
from ..core.pipelines import CORE_MODULES, GANPipeline, GANPipelineOutput, check_output_type, noise_for_seeds, to_output
from ..feature_networks import EfficientNetLite0Features
from .projection import (FeatureDistance, ProjectionLoss, ProjectionOutput, as_latent, optimise_latent, pil_to_tensor,
                         prepare_photo, psnr)
from .stylegan import LAYER_GROUPS, StyleGenerator

MAX_GRID_SEEDS = 8             # rows or columns of a mixing figure


@dataclass
class EditDirection:
    """A named direction in W: ``vector`` (w_dim, unit length), applied to ws entries [start, end) in steps of
    ``sigma`` (the spread of sampled w's along it), so a slider at 1 moves a face one standard deviation."""

    name: str
    vector: torch.Tensor
    layers: tuple[int, int]
    sigma: float
    component: int = -1          # which principal component it is (-1: found otherwise)
    note: str = ""               # what it was seen to do, and what else moves with it


@dataclass
class StyleMixOutput(BaseOutput):
    """``images``: row i, column j = face ``rows[i]`` with the chosen layers from ``cols[j]`` (row-major);
    ``row_images`` / ``col_images``: the faces themselves; ``grid``: the paper's figure (columns along the top,
    rows down the left, the mixes between)."""

    images: list
    row_images: list
    col_images: list
    grid: Image.Image
    rows: list[int] = field(default_factory=list)
    cols: list[int] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)


class StyleFacesPipeline(GANPipeline):
    """Face i of a call uses seed ``seed + i`` and depends on nothing else (the per-layer noise is the generator's
    fixed ``noise_const``), so a seed typed back always gives the same face."""

    component_classes = {"generator": StyleGenerator}
    remote_module = "style_faces_gan"
    remote_modules = CORE_MODULES + ("gan_models.core.images", "gan_models.core.projected",
                                     "gan_models.feature_networks", "gan_models.faces.projection",
                                     "gan_models.faces.stylegan", "gan_models.faces.style_pipeline")
    max_images = 256
    max_projection_steps, max_candidates = 2000, 4096

    def __init__(self, generator, edits=None):  # a StyleGenerator (no annotation: see DCGANPipeline)
        """``edits``: the named GANSpace directions (``EditDirection``s or their dicts, see ``edit_entry``); they are
        part of the pipeline's config, so ``save_pretrained`` writes them into ``model_index.json`` and every loader,
        plain diffusers' too, hands them back."""
        super().__init__()
        self.register_modules(generator=generator.eval())
        entries = [edit_entry(e) for e in edits or []]
        self.__dict__["_edits"] = parse_edits(entries, generator.w_dim, generator.num_ws)
        self.register_to_config(edits=entries)

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
        # ws: N x num_ws x w_dim -> N x 3 x 64 x 64 in [-1, 1] (fixed noise: the same ws, the same face); a
        # channels-last copy of the generator: oneDNN's layout, and no layout copy around each upsampling
        # (benchmarks/bench_faces.py)
        net = self.fast("generator", lambda g: copy.deepcopy(g).to(memory_format=torch.channels_last).eval())
        param = next(net.parameters())
        return net.synthesize(ws.to(param.device, param.dtype), noise_mode="const").clamp(-1, 1)

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

    # ------------------------------------------------------------------ walks in W
    def interpolate(self, seed_a: int, seed_b: int, num_frames: int = 16, *, truncation: float = 1.0,
                    output_type: str = "pil") -> GANPipelineOutput:
        """A walk from seed_a's face to seed_b's: a straight line between their (truncated) w's."""
        seed_a, seed_b = check_seed(seed_a, "seed_a"), check_seed(seed_b, "seed_b")
        truncation = check_float(truncation, "truncation", 0.0, 1.0)
        ws = self.map(noise_for_seeds([seed_a, seed_b], (self.latent_dim,)), truncation)
        out = self.interpolate_latents(ws[0:1], ws[1:2], num_frames, output_type=output_type)
        out.seeds = [seed_a, seed_b]
        return out

    def interpolate_latents(self, latent_a, latent_b, num_frames: int = 16, *,
                            output_type: str = "pil") -> GANPipelineOutput:
        """A walk between two latents of W (w_dim, or 1 x w_dim) or W+ (1 x num_ws x w_dim), with a progress bar."""
        num_frames = check_int(num_frames, "num_frames", 2, 120)
        check_output_type(output_type)
        a, b = self.check_latent(latent_a, "latent_a"), self.check_latent(latent_b, "latent_b")
        t = torch.linspace(0, 1, num_frames)[:, None, None]
        ws = a + (b - a) * t                                                 # frames x num_ws x w_dim
        frames = [self.synthesize(chunk) for chunk in self.progress_bar(ws.split(8))]
        return GANPipelineOutput(images=to_output(torch.cat(frames), output_type))

    def seed_latent(self, seed: int, truncation: float = 1.0) -> torch.Tensor:
        """Seed ``seed``'s ws (1 x num_ws x w_dim), truncated toward the mean w: where a walk to that seed's face ends."""
        noise = noise_for_seeds([check_seed(seed)], (self.latent_dim,))
        return self.map(noise, check_float(truncation, "truncation", 0.0, 1.0)).float().clone()

    def describe_latent(self, latent: torch.Tensor) -> str:
        """A few words on a latent for the user: W+, and how far its layers' w's are from one another."""
        latent = self.check_latent(latent)
        spread = float((latent - latent.mean(1, keepdim=True)).square().mean().sqrt()) / self.w_spread()
        return f"W+, {latent.shape[1]} x {latent.shape[2]}; layers' spread {spread:.2f} of a w's"

    @torch.inference_mode()
    def generate(self, latents: torch.Tensor) -> torch.Tensor:
        # latents: a w or W+ (see check_latent) -> 1 x 3 x 64 x 64 in [-1, 1]
        return self.synthesize(self.check_latent(latents))

    def check_latent(self, latent, name: str = "latent") -> torch.Tensor:
        """A latent a user gives: w (w_dim or 1 x w_dim) or W+ (num_ws x w_dim or 1 x num_ws x w_dim), finite ->
        1 x num_ws x w_dim float32 (a w is the same w for every layer)."""
        n, d = self.generator.num_ws, self.generator.w_dim
        latent = as_latent(latent, name, [(d,), (1, d), (n, d), (1, n, d)], f"{d} for a w, {n} x {d} for W+")
        return latent.reshape(1, -1, d).expand(1, n, d).contiguous()

    # ------------------------------------------------------------------ style mixing
    def style_mix(self, rows, cols, layers=("coarse",), *, truncation: float = 1.0,
                  output_type: str = "pil") -> StyleMixOutput:
        """Faces ``rows`` (seeds, "A") with the ``layers`` groups ("coarse": 4-8 px, "middle": 16-32 px, "fine":
        64 px) of faces ``cols`` (seeds, "B"). No groups: the rows' faces; all three: the columns' faces."""
        truncation = check_float(truncation, "truncation", 0.0, 1.0)
        check_output_type(output_type)
        rows, cols = self.check_seed_list(rows, "rows"), self.check_seed_list(cols, "columns")
        layers = self.check_layers(layers)
        ws_rows = self.map(noise_for_seeds(rows, (self.latent_dim,)), truncation)   # R x num_ws x w_dim
        ws_cols = self.map(noise_for_seeds(cols, (self.latent_dim,)), truncation)   # C x num_ws x w_dim
        take = torch.zeros(self.generator.num_ws, dtype=torch.bool)
        for group in layers:
            start, end = LAYER_GROUPS[group]
            take[start:end] = True
        mixed = torch.where(take[None, None, :, None], ws_cols[None], ws_rows[:, None])  # R x C x num_ws x w_dim
        faces = self.synthesize(torch.cat([ws_rows, ws_cols, mixed.flatten(0, 1)]))
        row_faces, col_faces, mixes = faces.split([len(rows), len(cols), len(rows) * len(cols)])
        grid = mixing_figure(to_output(row_faces, "pil"), to_output(col_faces, "pil"), to_output(mixes, "pil"))
        return StyleMixOutput(images=to_output(mixes, output_type), row_images=to_output(row_faces, output_type),
                              col_images=to_output(col_faces, output_type), grid=grid, rows=rows, cols=cols,
                              layers=list(layers))

    @staticmethod
    def check_seed_list(seeds, name: str) -> list[int]:
        if isinstance(seeds, (int, np.integer)):
            seeds = [seeds]
        try:
            seeds = [check_seed(s, f"a seed of the {name}") for s in seeds]
        except TypeError:
            raise InputError(f"the {name} must be a list of seeds, got {type(seeds).__name__}") from None
        if not 1 <= len(seeds) <= MAX_GRID_SEEDS:
            raise InputError(f"give 1 to {MAX_GRID_SEEDS} seeds for the {name}, got {len(seeds)}")
        return seeds

    @staticmethod
    def check_layers(layers) -> list[str]:
        if isinstance(layers, str):
            layers = [layers]
        layers = list(layers or [])
        unknown = [g for g in layers if g not in LAYER_GROUPS]
        if unknown:
            raise InputError(f"layer groups are {', '.join(LAYER_GROUPS)}; got {unknown}")
        return [g for g in LAYER_GROUPS if g in layers]

    # ------------------------------------------------------------------ GANSpace edits
    @torch.inference_mode()
    def principal_directions(self, num: int = 12, num_samples: int = 20_000, seed: int = 0):
        """GANSpace: the ``num`` principal components of ``num_samples`` w's (from seed ``seed``), largest first.

        Returns (components num x w_dim, unit rows; sigmas: num, the spread of the w's along each). Each
        component's sign is fixed so that its largest coordinate is positive (PCA's sign is arbitrary).
        """
        z = torch.randn(num_samples, self.latent_dim, generator=torch.Generator().manual_seed(seed))
        w = torch.cat([self.map(chunk)[:, 0].float() for chunk in z.split(2000)])          # S x w_dim
        centred = w - w.mean(0)
        _, s, vh = torch.linalg.svd(centred, full_matrices=False)
        components = vh[:num]
        sign = torch.sign(components.gather(1, components.abs().argmax(1, keepdim=True)))
        return components * sign, s[:num] / math.sqrt(num_samples - 1)

    @property
    def edits(self) -> list[EditDirection]:
        """The named directions, in slider order."""
        return self.__dict__.get("_edits", [])

    def with_edits(self, edits) -> "StyleFacesPipeline":
        """The same generator with these named edits (``EditDirection``s or dicts)."""
        return type(self)(self.generator, edits)

    def edit(self, seeds=None, strengths=None, *, num_images: int = 1, seed: int = 0, truncation: float = 1.0,
             output_type: str = "pil") -> GANPipelineOutput:
        """Faces for ``seeds`` (or ``num_images`` from ``seed``) with the named edits applied: ``strengths`` maps an
        edit's name (or its index in ``edits``) to how far to move, in standard deviations (-5 to 5)."""
        truncation = check_float(truncation, "truncation", 0.0, 1.0)
        check_output_type(output_type)
        noise, seeds = self.seed_noise(seeds, num_images, seed)
        ws = self.map(noise, truncation).clone()
        ws = self.apply_edits(ws, strengths or {})
        images = torch.cat([self.synthesize(chunk) for chunk in ws.split(64)])
        return GANPipelineOutput(images=to_output(images, output_type), seeds=seeds)

    def apply_edits(self, ws: torch.Tensor, strengths) -> torch.Tensor:
        """ws (N x num_ws x w_dim) moved along the named edits by ``strengths`` ({name or index: amount})."""
        by_name = {e.name: e for e in self.edits}
        items = strengths.items() if isinstance(strengths, dict) else enumerate(strengths)
        ws = ws.clone()
        for key, amount in items:
            if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
                if not 0 <= key < len(self.edits):
                    raise InputError(f"edit {key} does not exist: this model has {len(self.edits)} named edits")
                direction = self.edits[int(key)]
            elif key in by_name:
                direction = by_name[key]
            else:
                raise InputError(f"no edit named {key!r}: this model has {', '.join(by_name) or 'none'}")
            amount = check_float(amount, f"the strength of {direction.name!r}", -5.0, 5.0)
            if amount:
                start, end = direction.layers
                ws[:, start:end] += amount * direction.sigma * direction.vector.to(ws.dtype)
        return ws

    # ------------------------------------------------------------------ projection
    def feature_distance(self) -> FeatureDistance:
        """The frozen EfficientNet-Lite0 of the projection's feature loss, loaded once (offline, SHA-checked)."""
        cache = self.__dict__.setdefault("_projection_cache", {})
        if "features" not in cache:
            cache["features"] = FeatureDistance(EfficientNetLite0Features(), num_maps=3)
        return cache["features"]

    def project(self, image, num_steps: int = 200, *, generator: torch.Generator | None = None, callback=None,
                **kwargs) -> ProjectionOutput:
        """The latent whose face is closest to ``image`` (a photo framed like the training faces), by Adam through
        the frozen generator. ``space="w+"`` (default): one w per layer (more faces reachable); ``"w"``: a single w.
        Starts from the best of ``num_candidates`` (32) w's of random seeds drawn from ``generator`` (default seed
        0); ``callback(step, num_steps, loss, image or None)`` after each step; see ``project_steps``."""
        for item in self.project_steps(image, num_steps, generator=generator, **kwargs):
            if callback is not None and not isinstance(item, ProjectionOutput):
                callback(item[0], num_steps, item[1], item[2])
        return item

    def project_steps(self, image, num_steps: int = 200, *, generator: torch.Generator | None = None,
                      space: str = "w+", num_candidates: int = 32, learning_rate: float = 0.05,
                      loss_weights: ProjectionLoss | None = None, num_frames: int = 8, output_type: str = "pil"):
        """``project`` as a generator: yields (step, loss, image or None) after each step, then the
        ``ProjectionOutput`` (its ``latent``: 1 x num_ws x w_dim either way). Every input is checked first."""
        num_steps = check_int(num_steps, "num_steps", 0, self.max_projection_steps)
        num_candidates = check_int(num_candidates, "num_candidates", 1, self.max_candidates)
        num_frames = check_int(num_frames, "num_frames", 0, 64)
        learning_rate = check_float(learning_rate, "learning_rate", 0.0, 10.0)
        if space not in ("w", "w+"):
            raise InputError(f"space must be 'w' or 'w+', got {space!r}")
        check_output_type(output_type)
        weights = loss_weights if loss_weights is not None else ProjectionLoss(prior=0.01)
        photo, notes = prepare_photo(image, self.generator.image_size)
        return self._project_steps(photo, notes, num_steps, generator, space, num_candidates, learning_rate,
                                   weights, num_frames, output_type)

    def _project_steps(self, photo, notes, num_steps, generator, space, num_candidates, learning_rate, weights,
                       num_frames, output_type):
        g = self.generator
        param = next(g.parameters())
        target = pil_to_tensor(photo).to(param.device)
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        z = torch.randn(num_candidates, self.latent_dim, generator=generator)
        candidates = torch.cat([self.map(chunk)[:, :1].float().clone() for chunk in z.split(512)])  # K x 1 x w_dim
        if space == "w+":
            candidates = candidates.expand(-1, g.num_ws, -1).contiguous()
        w_std = self.w_spread()

        def draw(latent):  # latent: N x (1 or num_ws) x w_dim -> N x 3 x H x W; gradients to the latent only
            ws = latent.expand(-1, g.num_ws, -1).to(param.device, param.dtype)
            return g.synthesize(ws, noise_mode="const").float()

        def prior(latent):  # W+: each layer's w stays near their mean (a W+ far from W edits badly); W: none needed
            return (latent - latent.mean(1, keepdim=True)).square().mean() / w_std ** 2

        features = self.feature_distance() if weights.features else None
        frame_every = -(-num_steps // num_frames) if num_frames and num_steps else 0
        g.requires_grad_(False)
        latent, image_t, losses, frames, best = yield from optimise_latent(
            draw, candidates.to(param.device), prior, target, features, num_steps=num_steps,
            learning_rate=learning_rate * w_std, weights=weights, frame_every=frame_every,
            progress=self.progress_bar if num_steps else None)
        latent = latent.expand(-1, g.num_ws, -1).contiguous()
        yield ProjectionOutput(latent=latent, images=to_output(image_t.clamp(-1, 1), output_type), target=photo,
                               losses=losses, frames=[(step, to_output(im.clamp(-1, 1), "pil")[0]) for step, im in frames],
                               psnr=float(psnr(image_t.clamp(-1, 1), target.cpu())[0]), start_seed_index=best,
                               messages=notes)

    @torch.inference_mode()
    def w_spread(self) -> float:
        """The typical spread of w per coordinate (from 2,000 seeds; cached): the projection's step-size unit."""
        cache = self.__dict__.setdefault("_projection_cache", {})
        if "w_std" not in cache:
            z = torch.randn(2000, self.latent_dim, generator=torch.Generator().manual_seed(1))
            cache["w_std"] = float(self.map(z)[:, 0].float().std(0).mean())
        return cache["w_std"]

    @classmethod
    def load_extra_components(cls, folder: Path, components: dict, torch_dtype) -> dict:
        """The named edits, from ``model_index.json`` (diffusers' own loader passes them to ``__init__`` the same way)."""
        index = folder / "model_index.json"
        if "edits" not in components and index.is_file():
            components["edits"] = json.loads(index.read_text()).get("edits") or []
        return components


def mixing_figure(rows: list, cols: list, mixes: list, pad: int = 4) -> Image.Image:
    """The StyleGAN paper's figure: the column faces along the top, the row faces down the left, and at (i, j)
    row i's face with column j's chosen styles. PIL images in, one PIL image out."""
    size = rows[0].size[0]
    step = size + pad
    out = Image.new("RGB", (step * (len(cols) + 1) + pad, step * (len(rows) + 1) + pad), (255, 255, 255))
    for j, face in enumerate(cols):
        out.paste(face, (pad + step * (j + 1), pad))
    for i, face in enumerate(rows):
        out.paste(face, (pad, pad + step * (i + 1)))
        for j in range(len(cols)):
            out.paste(mixes[i * len(cols) + j], (pad + step * (j + 1), pad + step * (i + 1)))
    return out


MAX_EDITS = 16


def edit_entry(edit) -> dict:
    """An ``EditDirection`` (or its dict) -> the dict kept in the pipeline's config: name, component, layers, sigma,
    note and the unit vector (w_dim numbers, 7 decimals)."""
    if isinstance(edit, dict):
        return dict(edit)
    return {"name": edit.name, "component": edit.component, "layers": list(edit.layers), "sigma": round(edit.sigma, 6),
            "note": edit.note, "vector": [round(float(v), 7) for v in edit.vector]}


def parse_edits(entries, w_dim: int, num_ws: int) -> list[EditDirection]:
    """The config's edits -> ``EditDirection``s, checked (a WeightsError names what is wrong: they come with the
    weights)."""
    try:
        if not isinstance(entries, (list, tuple)) or len(entries) > MAX_EDITS:
            raise ValueError(f"edits must be a list of at most {MAX_EDITS}")
        edits = []
        for e in entries:
            name = str(e["name"])[:40]
            vector = torch.tensor([float(v) for v in e["vector"]], dtype=torch.float32)
            start, end = (int(v) for v in e["layers"])
            sigma = float(e["sigma"])
            if vector.shape != (w_dim,) or not torch.isfinite(vector).all() or float(vector.norm()) == 0:
                raise ValueError(f"{name}: the vector must be {w_dim} finite numbers, not all 0")
            if not 0 <= start < end <= num_ws:
                raise ValueError(f"{name}: layers must be [start, end) within 0..{num_ws}")
            if not (math.isfinite(sigma) and 0 < sigma < 100):
                raise ValueError(f"{name}: sigma must be a positive number below 100")
            edits.append(EditDirection(name, vector / vector.norm(), (start, end), sigma,
                                       int(e.get("component", -1)), str(e.get("note", ""))[:300]))
    except (KeyError, TypeError, ValueError) as err:
        raise WeightsError(f"the pipeline's named edits are not valid: {type(err).__name__}: {err}") from err
    return edits


def set_edits(folder, edits) -> Path:
    """Write ``edits`` into a saved folder's ``model_index.json`` (the weights stay as they are)."""
    index = Path(folder) / "model_index.json"
    data = json.loads(index.read_text())
    data["edits"] = [edit_entry(e) for e in edits]
    index.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return index
