"""The faces' second judge: dlib's face descriptor (a face-recognition ResNet, not ImageNet) and its distances."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from gan_models.judges.face_eval import FaceDescriptor, blurred, distances


def drawn_faces(n: int, seed: int = 0) -> torch.Tensor:
    """uint8 N x 3 x 64 x 64 cartoon faces drawn by code (an oval, two eyes, a mouth), framed like the crops."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        im = Image.new("RGB", (64, 64), tuple(int(c) for c in rng.integers(40, 200, 3)))
        d = ImageDraw.Draw(im)
        skin = tuple(int(c) for c in rng.integers(150, 240, 3))
        d.ellipse([12 + rng.integers(-2, 3), 6, 52 + rng.integers(-2, 3), 62], fill=skin)
        for x in (24, 40):
            d.ellipse([x - 4, 28, x + 4, 33], fill=(30, 30, 30))
        d.arc([24, 44, 40, 54], 0, 180, fill=(120, 40, 40), width=2)
        out.append(torch.from_numpy(np.asarray(im)).permute(2, 0, 1))
    return torch.stack(out)


def test_descriptors_are_128_numbers_and_the_same_each_time():
    faces = drawn_faces(4)
    judge = FaceDescriptor()
    a, b = judge(faces, progress=False), judge(faces, progress=False)
    assert a.shape == (4, 128) and np.array_equal(a, b)
    assert not np.allclose(a[0], a[1])                      # different faces, different descriptors


def test_blur_moves_the_descriptors_away_and_identical_sets_are_at_zero():
    faces = drawn_faces(24)
    judge = FaceDescriptor()
    real = judge(faces, progress=False)
    assert abs(distances(real, real)["fd"]) < 1e-6
    soft = judge(blurred(faces, 2.0), progress=False)
    assert distances(real, soft)["fd"] > distances(real, judge(blurred(faces, 0.3), progress=False))["fd"] > 0


def test_a_missing_model_file_is_named(tmp_path, monkeypatch):
    import gan_models.judges.face_eval as face_eval

    monkeypatch.setattr(face_eval, "face_models_dir", lambda: tmp_path)
    with pytest.raises(RuntimeError, match="dlib_face_recognition_resnet_model_v1.dat is missing"):
        FaceDescriptor()
    (tmp_path / "dlib_face_recognition_resnet_model_v1.dat").write_bytes(b"not the model")
    (tmp_path / "shape_predictor_5_face_landmarks.dat").write_bytes(b"not the model")
    with pytest.raises(RuntimeError, match="SHA-256"):
        FaceDescriptor()
