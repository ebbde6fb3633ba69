"""Judge generated faces in two feature spaces: Inception's (ImageNet) and a face-recognition network's (not ImageNet).

    python -m gan_models.judges.face_eval --out benchmarks/results/face_eval        # every row below, ~25 min here
    python -m gan_models.judges.face_eval --models style_faces --num 1000            # one model's rows only

Why two. The style-based faces were trained against a discriminator that sees ImageNet features
(EfficientNet-Lite0, a projected D): a generator can then please Inception's ImageNet features
without drawing better faces, and Inception FID flatters it (Kynkäänniemi et al. 2023). So every
model is also scored with **dlib's face descriptor** (a ResNet trained to tell people apart, on
about 3 million faces, no ImageNet; PyPI wheels ``dlib-bin`` and ``face-recognition-models``): the
Fréchet distance (FD) and KID between the 128-d descriptors of generated and held-out faces.

How a 64x64 face becomes a descriptor, as dlib does it for a photo: upscaled 4x (Lanczos), dlib's
5-point landmark model is run in a box covering the crop (CelebA's aligned crops need no
detector), and the face chip it aligns (150x150, padding 0.25) goes through the ResNet.

Every score comes with lines to read it by, computed the same way at the same counts: real
faces (1,000 training rows, never the held-out ones) against the held-out 1,000, and the same
real faces blurred by a Gaussian of 1 and 2 px. A model below the 1 px line in the face space
draws faces that a face recogniser finds closer to real than slightly blurred photos.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter

from .metrics import InceptionFeatures, frechet_distance, kernel_inception_distance

INSTALL = "pip install dlib-bin==20.0.1.post1 face-recognition-models==0.3.0"
# the files inside face-recognition-models 0.3.0, checked before dlib reads them (dlib's own format, not a pickle)
FACE_MODEL_SHA256 = {
    "dlib_face_recognition_resnet_model_v1.dat": "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    "shape_predictor_5_face_landmarks.dat": "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
}
UPSCALE = 4


def face_models_dir() -> Path:
    """Where face-recognition-models keeps its files (found without importing it: its __init__ needs setuptools)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise RuntimeError(f"the face judge needs dlib's models: {INSTALL}")
    return Path(spec.origin).parent / "models"


class FaceDescriptor:
    """uint8 N x 3 x H x W faces (CelebA-aligned crops) -> float64 N x 128 dlib face descriptors."""

    name = "dlib-face-resnet-v1"

    def __init__(self):
        try:
            import dlib
        except ImportError as err:
            raise RuntimeError(f"the face judge needs dlib: {INSTALL}") from err
        folder = face_models_dir()
        paths = {}
        for name, digest in FACE_MODEL_SHA256.items():
            path = folder / name
            if not path.is_file():
                raise RuntimeError(f"{path} is missing: reinstall ({INSTALL})")
            found = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest and found != digest:
                raise RuntimeError(f"{path} has SHA-256 {found[:12]}…, expected {digest[:12]}…: reinstall ({INSTALL})")
            paths[name] = path
        self.dlib = dlib
        self.net = dlib.face_recognition_model_v1(str(paths["dlib_face_recognition_resnet_model_v1.dat"]))
        self.landmarks = dlib.shape_predictor(str(paths["shape_predictor_5_face_landmarks.dat"]))

    def one(self, face: np.ndarray) -> np.ndarray:
        # face: H x W x 3 uint8 -> 128 floats
        h, w = face.shape[:2]
        big = np.asarray(Image.fromarray(face).resize((w * UPSCALE, h * UPSCALE), Image.Resampling.LANCZOS))
        box = self.dlib.rectangle(0, 0, big.shape[1] - 1, big.shape[0] - 1)
        shape = self.landmarks(big, box)
        return np.asarray(self.net.compute_face_descriptor(big, shape, 0, 0.25), dtype=np.float64)

    def __call__(self, images: torch.Tensor, progress: bool = True) -> np.ndarray:
        from tqdm.auto import tqdm

        arrays = images.permute(0, 2, 3, 1).contiguous().numpy()
        return np.stack([self.one(a) for a in tqdm(arrays, desc="face descriptors", leave=False, disable=not progress)])


def distances(real: np.ndarray, other: np.ndarray) -> dict:
    kid, kid_std = kernel_inception_distance(real, other)
    # four significant figures: in the face space real-vs-real is about 0.01 (descriptors of length about 0.5)
    return {"fd": float(f"{frechet_distance(real, other):.4g}"), "kid": float(f"{kid:.4g}"),
            "kid_std": float(f"{kid_std:.2g}")}


def blurred(images: torch.Tensor, radius: float) -> torch.Tensor:
    """uint8 N x 3 x H x W, each blurred by a Gaussian of ``radius`` px (PIL)."""
    out = [np.asarray(Image.fromarray(a).filter(ImageFilter.GaussianBlur(radius)))
           for a in images.permute(0, 2, 3, 1).numpy()]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


def reference_sets(dataset: str, num: int, holdout: int = 1000, holdout_seed: int = 0, seed: int = 1):
    """(held-out faces, ``num`` training faces drawn at random from seed ``seed``), uint8: the split the training
    scripts use (``--holdout 1000``, seed 0), so the held-out faces were never trained on."""
    from ..data import holdout_split, load_image_tensor

    images = load_image_tensor(dataset, "image", 64, "RGB")
    train, held = holdout_split(len(images), holdout, holdout_seed)
    rng = np.random.default_rng(seed)
    return images[held], images[rng.choice(train, size=num, replace=False)]


def main(argv=None) -> dict:
    from ..hub.weights_source import load_demo
    from ..registry import DEMOS
    from .evaluate import generate_uint8, held_out_features

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=str(Path(__file__).resolve().parents[3] / "shared" / "data" /
                                                 "celeba-faces-64"))
    parser.add_argument("--num", type=int, default=1000, help="faces per set (generated, real, blurred)")
    parser.add_argument("--models", default="faces,style_faces", help="registry demos to score (comma-separated)")
    parser.add_argument("--weights", action="append", default=[], metavar="DEMO=FOLDER",
                        help="score this folder for that demo instead of its embedded weights")
    parser.add_argument("--no_reference", action="store_true", help="skip the real and blurred-real lines")
    parser.add_argument("--spaces", default="inception,face", help="feature spaces: inception, face")
    parser.add_argument("--out", default=None, help="write <out>.json")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    folders = dict(w.split("=", 1) for w in args.weights)
    spaces = {"inception": InceptionFeatures(), "face": FaceDescriptor()}
    spaces = {k: spaces[k] for k in args.spaces.split(",")}
    t0 = time.perf_counter()
    held, train = reference_sets(args.dataset, args.num)
    sets = {}
    if not args.no_reference:
        sets["real (training faces)"] = train
        sets["real, blurred 1 px"] = blurred(train, 1.0)
        sets["real, blurred 2 px"] = blurred(train, 2.0)
    for name in filter(None, args.models.split(",")):
        pipe = load_demo(DEMOS[name], folders.get(name), None, use_hub=False).pipeline
        sets[f"{name} (psi 1)"] = generate_uint8(pipe, args.num)
    rows = {}
    for space, features in spaces.items():
        real = held_out_features(args.dataset, features, held)
        for name, images in sets.items():
            rows.setdefault(name, {})[space] = distances(real, features(images))
            print(name, space, rows[name][space], flush=True)
    result = {"num_held_out": len(held), "num_per_set": args.num, "dataset": args.dataset,
              "seconds": round(time.perf_counter() - t0, 1), "rows": rows}
    if args.out:
        Path(args.out).with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
