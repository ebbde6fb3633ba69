"""The module files that saved pipeline folders carry for plain diffusers (gan_models/core/remote_code.py).

Every pipeline class of the package is found by itself (a new one is covered without a line here, save
its calls), its folder saved as the app saves and publishes it, and every public method of it called
through ``DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)`` in one process where nothing
of the project can be imported; each result must equal the gallery's own.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import pkgutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gan_models
from gan_models.core import remote_code
from gan_models.core.pipelines import INDEX_NAME, GANPipeline
from gan_models.registry import DEMOS, WEIGHTS_DIR


def pipeline_classes() -> list[type]:
    """Every GANPipeline subclass the package defines (each of its modules imported), in a fixed order."""
    for info in pkgutil.walk_packages(gan_models.__path__, "gan_models."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    found, todo = set(), [GANPipeline]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub.__module__.startswith("gan_models.") and sub not in found:
                found.add(sub)
                todo.append(sub)
    return sorted(found, key=lambda c: (c.__module__, c.__name__))


def weights_folders() -> list[Path]:
    """The embedded pipeline folders (the judges' classifier folders are no pipelines)."""
    return sorted(p.parent for p in WEIGHTS_DIR.glob(f"*/{INDEX_NAME}"))


def folder_class_name(folder: Path) -> list[str]:
    return json.loads((folder / INDEX_NAME).read_text())["_class_name"]


def public_methods(cls: type) -> set[str]:
    """The methods and properties a user of ``cls`` may call: its own and GANPipeline's (diffusers' are diffusers')."""
    names = set()
    for klass in cls.__mro__[:cls.__mro__.index(GANPipeline) + 1]:
        for name, value in vars(klass).items():
            if (name == "__call__" or not name.startswith("_")) and isinstance(
                    value, (types.FunctionType, classmethod, staticmethod, property)):
                names.add(name)
    return names


# ----------------------------------------------------------------------------- the module files
def test_every_module_file_defines_every_name_it_reads():
    """A name the joined file reads but no joined module defines is a NameError in a Hub user's hands, the first
    time that code runs (the faces' file read as_rgb without core/images.py, so project() failed)."""
    classes = pipeline_classes()
    assert {c.__name__ for c in classes} >= {d.pipeline.__name__ for d in DEMOS.values()}
    for cls in classes:
        text = remote_code.joined_source(cls.remote_module, cls.remote_modules)  # refuses such a file
        assert remote_code.undefined_names(text, cls.remote_module) == {}, cls.__name__
    module_files = sorted(WEIGHTS_DIR.rglob("*.py"))
    assert len(module_files) >= 2 * len(weights_folders())  # at the top and in each component's folder
    missing = {str(f.relative_to(WEIGHTS_DIR)): remote_code.undefined_names(f.read_text(), str(f))
               for f in module_files}
    assert {f: names for f, names in missing.items() if names} == {}


def test_every_embedded_folder_names_a_pipeline_class_of_the_package():
    """So the plain-diffusers test below picks up a new folder's class (it finds the classes itself)."""
    known = {(c.remote_module, c.__name__) for c in pipeline_classes()}
    for folder in weights_folders():
        assert tuple(folder_class_name(folder)) in known, folder


def test_a_module_file_that_would_read_an_undefined_name_is_refused(tmp_path, monkeypatch):
    pkg = tmp_path / "rcpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "base.py").write_text("def double(x):\n    return 2 * x\n")
    (pkg / "user.py").write_text("from .base import double\n\n\ndef quadruple(x):\n    return double(double(x))\n")
    (pkg / "typo.py").write_text("def f(x):\n    return dobule(x)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    text = remote_code.joined_source("ok", ["rcpkg.base", "rcpkg.user"])
    assert "def quadruple" in text and "import double" not in text
    with pytest.raises(remote_code.RemoteCodeError, match=r"rcpkg.user, line 1, imports from rcpkg.base.*add rcpkg"):
        remote_code.joined_source("left_out", ["rcpkg.user"])
    with pytest.raises(remote_code.RemoteCodeError, match=r"rcpkg.user.*not hold before it"):
        remote_code.joined_source("wrong_order", ["rcpkg.user", "rcpkg.base"])
    with pytest.raises(remote_code.RemoteCodeError, match=r"never defines: dobule \(in <module>.f\)"):
        remote_code.joined_source("typo", ["rcpkg.typo"])
    (pkg / "whole.py").write_text("from . import base\n")
    with pytest.raises(remote_code.RemoteCodeError, match="import the names from their module"):
        remote_code.joined_source("whole", ["rcpkg.base", "rcpkg.whole"])


def test_undefined_names_reads_scopes_as_python_does():
    text = textwrap.dedent("""
        from __future__ import annotations
        import os

        def f(a: NotEvaluated) -> AlsoNot:
            global made_here
            made_here = 1
            return [os.sep + str(b) for b in range(a) if b > gone]

        class C:
            x = 1
            y = x + len(made_here)

            def m(self):
                return x, __name__

        print(made_here)
    """)
    # a method does not see its class's names; annotations are never evaluated under the __future__ import
    missing = remote_code.undefined_names(text)
    assert set(missing) == {"gone", "x"} and missing["x"] == ["<module>.C.m"]
    assert missing["gone"][0].startswith("<module>.f")  # in f's list comprehension (its own scope before 3.12)


# ----------------------------------------------------------------------------- every method through plain diffusers
def tiny_style_faces(work: Path):
    """With two named edits (in its model_index.json), as the embedded weights will have."""
    from gan_models.faces.style_pipeline import EditDirection, StyleFacesPipeline
    from gan_models.faces.stylegan import StyleGenerator

    torch.manual_seed(0)
    pipe = StyleFacesPipeline(StyleGenerator(latent_dim=16, w_dim=16, mapping_layers=2, channel_base=128,
                                             channel_max=16))
    components, sigmas = pipe.principal_directions(num=2, num_samples=200)
    work.mkdir(parents=True)
    return pipe.with_edits([EditDirection("first", components[0], (0, 4), float(sigmas[0]), 0),
                            EditDirection("second", components[1], (4, pipe.generator.num_ws), 0.5, 1)])


def tiny_cyclegan(work: Path):
    """Both directions, tiny, 32x32 tiles: the maps pictures below are translated in several."""
    from gan_models.maps.cycle_pipeline import CycleGANPipeline
    from gan_models.maps.cyclegan import CycleGANGenerator

    torch.manual_seed(0)
    net = {"base_channels": 4, "num_blocks": 1}
    work.mkdir(parents=True)
    return CycleGANPipeline(CycleGANGenerator(a2b=net, b2a=net, a_name="aerial", b_name="map", tile_size=32))


def tiny_builders() -> dict:
    """Pipelines without an embedded folder yet: a tiny one, made here from a scratch folder (a class is keyed by
    itself, not by name)."""
    from gan_models.faces.style_pipeline import StyleFacesPipeline
    from gan_models.maps.cycle_pipeline import CycleGANPipeline

    return {StyleFacesPipeline: tiny_style_faces, CycleGANPipeline: tiny_cyclegan}


def randn(*shape: int, seed: int = 0) -> dict:
    return {"$randn": list(shape), "seed": seed}


def calls_for(pipe, files: dict[str, str]) -> list[dict]:
    """The calls that exercise every public method of ``pipe``'s class: {"method", "args", "kwargs"}; a call
    without "args" reads a property. Values in {"$...": ...} are made in each process (see CALLS below)."""
    from gan_models.birds.pipeline import BirdsPipeline
    from gan_models.digits.pipeline import CGANPipeline
    from gan_models.faces.pipeline import DCGANPipeline
    from gan_models.faces.style_pipeline import StyleFacesPipeline
    from gan_models.maps.pipeline import Pix2PixPipeline
    from gan_models.superres.pipeline import SuperResolutionPipeline

    np_out = {"output_type": "np"}
    first = next(iter(type(pipe).component_classes))
    save = {"include_text_encoder": False} if isinstance(pipe, BirdsPipeline) else {}
    common = [{"method": "fast", "args": [first, {"$identity": True}]},
              {"method": "from_pretrained", "args": [{"$folder": True}]},
              {"method": "load_extra_components", "args": [{"$folder": True}, {}, None]},
              {"method": "save_pretrained", "args": [{"$out": "saved"}], "kwargs": save}]
    if isinstance(pipe, DCGANPipeline):
        d = pipe.latent_dim
        own = [{"method": "__call__", "args": [3], "kwargs": {"seed": 7, "truncation": 0.8, **np_out}},
               {"method": "__call__", "args": [2], "kwargs": {"generator": {"$generator": 5}, **np_out}},
               {"method": "interpolate", "args": [0, 1], "kwargs": {"num_frames": 3, **np_out}},
               {"method": "interpolate_latents", "args": [randn(1, d, seed=1), randn(d, seed=2)],
                "kwargs": {"num_frames": 3, **np_out}},
               {"method": "check_latent", "args": [randn(d, seed=3)]},
               {"method": "seed_latent", "args": [4], "kwargs": {"truncation": 0.7}},
               {"method": "describe_latent", "args": [randn(1, d, seed=5)]},
               {"method": "generate", "args": [randn(2, d, seed=4)]},
               {"method": "feature_distance", "args": []},
               {"method": "project", "args": [{"$image": files["photo"]}],  # the feature network included
                "kwargs": {"num_steps": 2, "num_candidates": 4, "generator": {"$generator": 1}, **np_out}},
               {"method": "project_steps", "args": [{"$image": files["photo"]}, 2],
                "kwargs": {"num_candidates": 3, "num_frames": 2,
                           "loss_weights": {"$class": "ProjectionLoss", "kwargs": {"features": 0.0}}}},
               {"method": "latent_dim"}]
    elif isinstance(pipe, CGANPipeline):
        own = [{"method": "__call__", "kwargs": {"labels": [1, 4], "num_images": 2, "seed": 3, **np_out}, "args": []},
               {"method": "same_style", "args": [2], "kwargs": {"seed": 5, **np_out}},
               {"method": "check_labels", "args": [[0, 9]]},
               {"method": "generate", "args": [randn(2, pipe.latent_dim, seed=1), {"$long": [3, 7]}]},
               {"method": "latent_dim"}, {"method": "num_classes"}]
    elif isinstance(pipe, BirdsPipeline):
        g = pipe.generator
        own = [{"method": "__call__", "args": ["a red bird with black wings", 2], "kwargs": {"seed": 1, **np_out}},
               {"method": "vary_word", "args": ["a small yellow bird with black wings"],
                "kwargs": {"words": ["red", "blue"], "num_seeds": 1, **np_out}},
               {"method": "encode_prompt", "args": [["a small grey bird", "a blue bird"]]},
               {"method": "generate", "args": [randn(2, g.noise_dim, seed=1), randn(2, g.text_dim, seed=2)]},
               {"method": "load_text_encoder", "args": []}]
    elif isinstance(pipe, Pix2PixPipeline):  # CycleGANPipeline too: the same methods, its own networks
        t = pipe.tile_size
        own = [{"method": "__call__", "args": [{"$image": files["map"]}, "b2a"], "kwargs": {"mode": "fit", **np_out}},
               {"method": "__call__", "args": [{"$image": files["wide_map"]}, "b2a"], "kwargs": np_out},  # 2 tiles
               {"method": "translate", "args": [randn(1, 3, t, t, seed=1), "a2b"]},
               {"method": "tiled", "args": [randn(3, t, t + 40, seed=2), "b2a"]},
               {"method": "prepare", "args": [{"$image": files["wide_map"]}, "fit"]},
               {"method": "describe", "args": ["a2b"]},
               {"method": "check_direction", "args": ["b2a"]},
               {"method": "cycle", "args": [{"$image": files["photo"]}, "a2b"], "kwargs": {"mode": "fit", **np_out}},
               {"method": "cycle", "args": [{"$image": files["wide_map"]}, "b2a"],
                "kwargs": {"noise": 3.0, "seed": 5, **np_out}},
               {"method": "hidden_signal", "args": [{"$image": files["map"]}], "kwargs": {"gain": 40.0, **np_out}},
               {"method": "directions"}, {"method": "tile_size"}]
    elif isinstance(pipe, SuperResolutionPipeline):
        own = [{"method": "__call__", "args": [{"$image": files["small"]}, "srgan"], "kwargs": np_out},
               {"method": "__call__", "args": [{"$image": files["strip"]}, "srresnet"],
                "kwargs": {"tile_size": 16, **np_out}},  # 6 tiles
               {"method": "upscale", "args": [randn(1, 3, 20, 20, seed=1), "srresnet"]},
               {"method": "prepare", "args": [{"$image": files["strip"]}]},
               {"method": "check_model", "args": ["bicubic"]},
               {"method": "check_size", "args": [300, 200]},
               {"method": "scale"}]
    elif isinstance(pipe, StyleFacesPipeline):
        g = pipe.generator
        no_features = {"$class": "ProjectionLoss", "kwargs": {"features": 0.0}}
        names = [e.name for e in pipe.edits]   # the embedded folder's named edits (a tiny model's: first, second)
        assert len(names) >= 1, "the style-based faces' folder has no named edits"
        own = [{"method": "__call__", "args": [2], "kwargs": {"seed": 3, "truncation": 0.7, **np_out}},
               {"method": "__call__", "args": [2], "kwargs": {"generator": {"$generator": 5}, **np_out}},
               {"method": "seed_noise", "args": [], "kwargs": {"seeds": [5, 6]}},
               {"method": "map", "args": [randn(2, pipe.latent_dim, seed=1)], "kwargs": {"truncation": 0.5}},
               {"method": "synthesize", "args": [randn(1, g.num_ws, g.w_dim, seed=2)]},
               {"method": "interpolate", "args": [0, 1], "kwargs": {"num_frames": 3, **np_out}},
               {"method": "interpolate_latents", "args": [randn(1, g.w_dim, seed=3), randn(g.num_ws, g.w_dim, seed=4)],
                "kwargs": {"num_frames": 3, **np_out}},
               {"method": "seed_latent", "args": [4], "kwargs": {"truncation": 0.7}},
               {"method": "describe_latent", "args": [randn(1, g.num_ws, g.w_dim, seed=5)]},
               {"method": "generate", "args": [randn(g.w_dim, seed=6)]},
               {"method": "check_latent", "args": [randn(g.num_ws, g.w_dim, seed=7)]},
               {"method": "style_mix", "args": [[1, 2], [3], ["coarse", "fine"]], "kwargs": np_out},
               {"method": "check_seed_list", "args": [[4, 5], "rows"]},
               {"method": "check_layers", "args": ["middle"]},
               {"method": "principal_directions", "args": [], "kwargs": {"num": 3, "num_samples": 200, "seed": 1}},
               {"method": "edits"},  # from model_index.json, as every loader passes them to __init__
               {"method": "with_edits", "args": [[]]},
               {"method": "edit", "args": [[2, 3], {names[0]: 1.5, names[-1]: -1.0}], "kwargs": np_out},
               {"method": "edit", "args": [], "kwargs": {"strengths": [0.5], "num_images": 2, **np_out}},
               {"method": "apply_edits", "args": [randn(2, g.num_ws, g.w_dim, seed=8), {names[-1]: 0.5}]},
               {"method": "feature_distance", "args": []},
               {"method": "w_spread", "args": []},
               {"method": "project", "args": [{"$image": files["photo"]}],  # the feature network included
                "kwargs": {"num_steps": 2, "num_candidates": 3, "generator": {"$generator": 1}, **np_out}},
               {"method": "project_steps", "args": [{"$image": files["photo"]}, 2],
                "kwargs": {"space": "w", "num_candidates": 3, "num_frames": 2, "loss_weights": no_features}},
               {"method": "latent_dim"}]
    else:
        own = []  # a new pipeline: the test names the methods it still needs calls for
    return own + common


# Run in both processes (exec'd here, and the head of the script below): a call spec -> a comparable summary.
CALLS = textwrap.dedent('''
    import dataclasses, hashlib, math, types
    from pathlib import Path

    import numpy as np
    import torch
    from diffusers import DiffusionPipeline
    from PIL import Image


    def make(value, module, folder, out):
        """A call's argument as each process makes it (tensors from seeds, pictures from files)."""
        if isinstance(value, list):
            return [make(v, module, folder, out) for v in value]
        if not isinstance(value, dict):
            return value
        if "$randn" in value:
            return torch.randn(value["$randn"], generator=torch.Generator().manual_seed(value["seed"]))
        if "$long" in value:
            return torch.tensor(value["$long"], dtype=torch.long)
        if "$generator" in value:
            return torch.Generator().manual_seed(value["$generator"])
        if "$image" in value:
            with Image.open(value["$image"]) as image:
                return image.copy()
        if "$class" in value:  # a class of the pipeline's own module (the module file, or the package's)
            return getattr(module, value["$class"])(**value["kwargs"])
        if "$identity" in value:
            return lambda net: net
        if "$folder" in value:
            return Path(folder)
        if "$out" in value:
            return Path(out) / value["$out"]
        return {k: make(v, module, folder, out) for k, v in value.items()}


    def summary(x):
        """What a result is, as JSON: shapes, dtypes and sums of tensors and pictures, files of a folder."""
        if isinstance(x, DiffusionPipeline):
            return {"pipeline": type(x).__name__,
                    "components": {k: summary(v) for k, v in sorted(x.components.items())}}
        if isinstance(x, torch.nn.Module):
            tensors = [t.detach().double() for t in x.state_dict().values() if t.is_floating_point()]
            return {"module": type(x).__name__, "dtype": str(next(x.parameters()).dtype), "training": x.training,
                    "numel": sum(t.numel() for t in tensors), "sum": float(sum(t.sum() for t in tensors))}
        if isinstance(x, dict):  # diffusers' outputs too
            return {"type": type(x).__name__, "items": {str(k): summary(v) for k, v in x.items()}}
        if dataclasses.is_dataclass(x) and not isinstance(x, type):
            return {"type": type(x).__name__,
                    "fields": {f.name: summary(getattr(x, f.name)) for f in dataclasses.fields(x)}}
        if isinstance(x, (list, tuple)):
            return [summary(v) for v in x]
        if isinstance(x, types.GeneratorType):
            return {"yields": [summary(v) for v in x]}
        if isinstance(x, Image.Image):
            a = np.asarray(x, dtype=np.float64)
            return {"image": [x.width, x.height, x.mode], "numel": a.size, "sum": float(a.sum() / 255)}
        if isinstance(x, (torch.Tensor, np.ndarray)):
            a = x.detach().double().cpu().numpy() if isinstance(x, torch.Tensor) else x.astype(np.float64)
            return {"tensor": list(x.shape), "dtype": str(x.dtype).replace("torch.", ""), "numel": a.size,
                    "sum": float(a.sum())}
        if isinstance(x, Path):  # a saved folder: its files, and its module files' text
            return {"files": sorted(str(p.relative_to(x)) for p in x.rglob("*") if p.is_file()),
                    "module_files": sorted(hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in x.rglob("*.py"))}
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        return {"object": type(x).__name__}


    def run(pipe, module, call, folder, out):
        try:
            value = getattr(pipe, call["method"])
            if "args" in call or "kwargs" in call:
                value = value(*make(call.get("args", []), module, folder, out),
                              **make(call.get("kwargs", {}), module, folder, out))
            return summary(value)
        except Exception as err:  # noqa: BLE001  (the test compares it with the gallery's own result)
            return {"error": f"{type(err).__name__}: {err}"}
''')

PLAIN_DIFFUSERS = CALLS + textwrap.dedent('''
    import importlib.util, json, sys

    assert importlib.util.find_spec("gan_models") is None, "the project must not be importable here"
    jobs, out = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])
    report = {}
    for job in jobs:
        pipe = DiffusionPipeline.from_pretrained(job["folder"], trust_remote_code=True)
        pipe.set_progress_bar_config(disable=True)
        module = sys.modules[type(pipe).__module__]
        report[job["name"]] = {"class": type(pipe).__name__, "module": type(pipe).__module__,
                               "calls": [run(pipe, module, call, job["folder"], out / job["name"])
                                         for call in job["calls"]]}
    report["project_modules"] = sorted(m for m in sys.modules if m.startswith("gan_models"))
    print(json.dumps(report))
''')


def differences(ours, theirs, where: str = "") -> list[str]:
    """Where two summaries differ: sums within 1e-3 per element (fp32 on different thread counts), the rest
    exactly (floats to 1e-3 relative)."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        if ours.keys() != theirs.keys():
            return [f"{where}: {ours} != {theirs}"]
        out = []
        for key in ours:
            if key == "sum":
                if not abs(ours[key] - theirs[key]) <= 1e-3 * max(ours["numel"], 1):
                    out.append(f"{where}.sum: {ours[key]} != {theirs[key]}")
            else:
                out += differences(ours[key], theirs[key], f"{where}.{key}")
        return out
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        return [d for i, (a, b) in enumerate(zip(ours, theirs)) for d in differences(a, b, f"{where}[{i}]")]
    if isinstance(ours, float) and isinstance(theirs, float):
        return [] if math.isclose(ours, theirs, rel_tol=1e-3, abs_tol=1e-5) else [f"{where}: {ours} != {theirs}"]
    return [] if ours == theirs else [f"{where}: {str(ours)[:300]} != {str(theirs)[:300]}"]


# Where plain diffusers is known to differ from the gallery's loader: (class, method) -> why. Each must still differ
# (the test says when one is fixed, so its entry goes).
KNOWN_GAPS: dict = {}


def test_plain_diffusers_runs_every_public_method_of_every_pipeline_with_nothing_of_the_project(tmp_path):
    from gan_models.maps.palette import draw_map

    rng = np.random.default_rng(0)
    files = {"photo": tmp_path / "photo.png", "map": tmp_path / "map.png", "wide_map": tmp_path / "wide_map.png",
             "small": tmp_path / "small.png", "strip": tmp_path / "strip.png"}
    ramp = np.linspace(0, 255, 80)[None, :, None] * np.ones((64, 1, 3))  # a 80x64 photo: cut to its centre square
    Image.fromarray((0.7 * ramp + 0.3 * rng.integers(0, 256, (64, 80, 3))).astype(np.uint8)).save(files["photo"])
    draw_map(2, 256).save(files["map"])
    draw_map(3, 300).crop((0, 0, 300, 256)).save(files["wide_map"])
    draw_map(2, 32).save(files["small"])
    draw_map(4, 40).crop((0, 0, 40, 24)).save(files["strip"])
    files = {k: str(v) for k, v in files.items()}

    tiny = tiny_builders()
    by_class = {tuple(folder_class_name(f)): f for f in weights_folders()}
    classes = {cls.__name__: cls for cls in pipeline_classes()}
    jobs, pipes = [], {}
    for name, cls in classes.items():
        demo = next((d for d in DEMOS.values() if d.pipeline is cls), None)
        source = demo.embedded if demo and demo.embedded.is_dir() else by_class.get((cls.remote_module, name))
        if source is not None:
            pipe = cls.from_pretrained(source)
        else:
            assert cls in tiny, f"{name} has no weights folder: give tiny_builders() one for it"
            pipe = tiny[cls](tmp_path / "scratch" / name)
        folder = tmp_path / "folders" / name
        pipe.save_pretrained(folder)  # as the app saves and publishes it (the birds' with its text encoder)
        pipe.set_progress_bar_config(disable=True)
        calls = calls_for(pipe, files)
        uncovered = public_methods(cls) - {c["method"] for c in calls}
        assert not uncovered, f"{name}: give calls_for() calls of {sorted(uncovered)}"
        pipes[name] = pipe
        jobs.append({"name": name, "folder": str(folder), "calls": calls})
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"), OMP_NUM_THREADS="1")
    threads = torch.get_num_threads()
    command = [sys.executable, "-c", PLAIN_DIFFUSERS, str(tmp_path / "jobs.json"), str(tmp_path / "theirs")]
    pipe_out = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    with subprocess.Popen(command, cwd=work, env=env, **pipe_out) as child:
        helpers: dict = {}  # the gallery's own results, on one thread while the other process runs on the other
        exec(CALLS, helpers)
        torch.set_num_threads(1)
        try:
            ours = {job["name"]: [helpers["run"](pipes[job["name"]], sys.modules[classes[job["name"]].__module__],
                                                 call, job["folder"], tmp_path / "ours" / job["name"])
                                  for call in job["calls"]] for job in jobs}
        finally:
            torch.set_num_threads(threads)
        stdout, stderr = child.communicate(timeout=600)
    assert child.returncode == 0, stderr[-3000:]
    report = json.loads(stdout.strip().splitlines()[-1])
    assert report.pop("project_modules") == []
    problems = []
    for job in jobs:
        cls = classes[job["name"]]
        got = report[job["name"]]
        assert got["class"] == cls.__name__ and got["module"].endswith(cls.remote_module)  # the folder's own file ran
        for call, a, b in zip(job["calls"], ours[job["name"]], got["calls"]):
            assert not (isinstance(a, dict) and "error" in a), (job["name"], call, a)  # our own call must work
            where = f"{job['name']}.{call['method']}"
            found = [f"{where}: {d}" for d in differences(a, b)]
            if (job["name"], call["method"]) in KNOWN_GAPS:
                assert found, f"{where} now works through plain diffusers: drop it from KNOWN_GAPS"
            else:
                problems += found
    assert problems == [], "\n".join(problems)
