"""Projection of a photo into the faces generator: determinism, recovery of G's own faces, bad photos, latent files."""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from gan_models.core.checks import InputError
from gan_models.faces.pipeline import DCGANPipeline
from gan_models.faces.projection import (MAX_LATENT_FILE_BYTES, ProjectionLoss, ProjectionOutput, load_latent,
                                         photo_to_rgb, pil_to_tensor, prepare_photo, psnr, save_latent)

NO_FEATURES = ProjectionLoss(features=0)  # the tiny model's tests need no feature network


@pytest.fixture
def pipe(tiny_faces_folder):
    p = DCGANPipeline.from_pretrained(tiny_faces_folder)
    p.set_progress_bar_config(disable=True)
    return p


@pytest.fixture(scope="module")
def faces_pipe():
    p = DCGANPipeline.from_pretrained("gan_models/weights/faces")
    p.set_progress_bar_config(disable=True)
    return p


def photo(size=(48, 48), seed=0, mode="RGB"):
    arr = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(arr).convert(mode)


def test_same_generator_same_latent_and_another_differs(pipe):
    run = lambda s: pipe.project(photo(), 12, generator=torch.Generator().manual_seed(s),  # noqa: E731
                                 num_candidates=16, output_type="pt")
    a, b, c = run(3), run(3), run(4)
    assert isinstance(a, ProjectionOutput)
    assert torch.equal(a.latent, b.latent) and a.losses == b.losses and torch.equal(a.images, b.images)
    assert not torch.equal(a.latent, c.latent)
    assert a.latent.shape == (1, pipe.latent_dim) and a.latent.dtype == torch.float32
    assert len(a.losses) == 12


def test_projection_improves_on_its_start_and_reports_frames(pipe):
    calls = []
    before = {k: v.clone() for k, v in pipe.generator.state_dict().items()}
    out = pipe.project(photo(), 30, num_candidates=8, num_frames=3, loss_weights=NO_FEATURES,
                       callback=lambda *args: calls.append(args))
    start = pipe.project(photo(), 0, num_candidates=8, loss_weights=NO_FEATURES)
    assert out.losses[-1] < out.losses[0] and out.psnr > start.psnr
    assert [c[0] for c in calls] == list(range(1, 31)) and all(c[1] == 30 for c in calls)
    assert [step for step, _ in out.frames] == [0, 10, 20, 30]
    assert sum(c[3] is not None for c in calls) == 2           # frames at 10 and 20; 0 and 30 are start and result
    assert all(isinstance(im, Image.Image) and im.size == (32, 32) for _, im in out.frames)
    assert out.target.size == (32, 32) and out.images[0].size == (32, 32)
    # the generator is frozen: not one of its weights or BatchNorm statistics changed
    after = pipe.generator.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_the_feature_loss_is_used_and_changes_the_result(pipe):
    with_features = pipe.project(photo(), 10, num_candidates=8, output_type="pt")
    without = pipe.project(photo(), 10, num_candidates=8, loss_weights=NO_FEATURES, output_type="pt")
    assert not torch.equal(with_features.latent, without.latent)
    assert with_features.losses[0] > without.losses[0]  # the same start; the feature term adds to the loss


def test_projecting_a_face_of_g_itself_recovers_it(faces_pipe):
    """The embedded weights: a face G drew (seed 12345, not among the 256 candidates drawn from seed 0)
    comes back at PSNR >= 30 dB with the default settings; the best candidate alone is far from it."""
    face = faces_pipe(seeds=[12345]).images[0]
    out = faces_pipe.project(face, generator=torch.Generator().manual_seed(0))
    start = faces_pipe.project(face, 0, generator=torch.Generator().manual_seed(0))
    assert out.psnr >= 30.0, out.psnr
    assert start.psnr < 25.0, start.psnr
    assert out.latent.square().sum() / faces_pipe.latent_dim == pytest.approx(1.0, abs=0.3)  # near the prior's shell
    # the reported PSNR is the face's against the photo as the model saw it
    assert psnr(pil_to_tensor(out.images[0]), pil_to_tensor(face))[0] == pytest.approx(out.psnr, abs=0.3)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "L", "CMYK", "1", "I;16", "I", "F"])
def test_every_image_mode_becomes_rgb(pipe, mode):
    im = photo(mode="RGB")
    if mode in ("I;16", "I", "F"):
        im = Image.fromarray((np.asarray(im.convert("L")).astype(np.uint16) * 257)).convert(mode) if mode != "I;16" \
            else Image.fromarray(np.asarray(im.convert("L")).astype(np.uint16) * 257, mode="I;16")
    else:
        im = im.convert(mode)
    rgb = photo_to_rgb(im)
    assert rgb.mode == "RGB" and rgb.size == im.size
    assert pipe.project(im, 1, num_candidates=2, loss_weights=NO_FEATURES).images[0].mode == "RGB"


def test_sixteen_bit_greys_keep_their_brightness():
    grey = Image.fromarray(np.full((40, 40), 65535 // 2, dtype=np.uint16), mode="I;16")
    assert abs(int(np.asarray(photo_to_rgb(grey))[0, 0, 0]) - 128) <= 1


def test_transparency_becomes_grey_not_black():
    clear = Image.new("RGBA", (40, 40), (255, 0, 0, 0))
    assert tuple(np.asarray(photo_to_rgb(clear))[0, 0]) == (128, 128, 128)


def test_arrays_and_files_are_accepted(pipe, tmp_path):
    path = tmp_path / "face.png"
    photo((40, 40)).save(path)
    from_file = pipe.project(str(path), 2, num_candidates=4, loss_weights=NO_FEATURES, output_type="pt")
    from_array = pipe.project(np.asarray(photo((40, 40))), 2, num_candidates=4, loss_weights=NO_FEATURES,
                              output_type="pt")
    floats = np.asarray(photo((40, 40))).astype(np.float32) / 255
    from_floats = pipe.project(floats, 2, num_candidates=4, loss_weights=NO_FEATURES, output_type="pt")
    assert torch.equal(from_file.latent, from_array.latent)
    torch.testing.assert_close(from_floats.images, from_array.images, atol=0.02, rtol=0)


def test_a_photo_that_is_not_square_is_centre_cropped_with_a_note():
    wide = Image.new("RGB", (90, 60), (0, 0, 0))
    wide.paste((255, 255, 255), (15, 0, 75, 60))  # the white centre square
    square, notes = prepare_photo(wide, 32)
    assert square.size == (32, 32) and np.asarray(square).min() > 200
    assert notes and "centre square" in notes[0]
    assert prepare_photo(Image.new("RGB", (64, 64)), 64)[1] == []


def huge_png_header(path, width, height):
    """A tiny valid PNG file whose header claims width x height (the pixels are never there)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("bad, message", [
    (lambda tmp: photo((20, 40)), "too small"),
    (lambda tmp: np.zeros((5000, 4000, 3), np.uint8), "largest accepted"),
    (lambda tmp: huge_png_header(tmp / "big.png", 5000, 5000), "5000x5000 pixels; the largest accepted"),
    (lambda tmp: huge_png_header(tmp / "bomb.png", 20000, 20000), "far more pixels than the largest accepted"),
    (lambda tmp: (tmp / "notes.png").write_text("not a picture") and str(tmp / "notes.png"), "not a readable image"),
    (lambda tmp: (tmp / "cut.png").write_bytes(huge_png_header(tmp / "x.png", 64, 64).read_bytes()[:40])
     and tmp / "cut.png", "not a readable image"),
    (lambda tmp: np.zeros((40, 40, 2), np.uint8), "H x W or H x W x 1/3/4"),
    (lambda tmp: "no/such/file.png", "not a readable image"),
    (lambda tmp: 42, "give a photo"),
])
def test_bad_photos_are_named(pipe, tmp_path, bad, message):
    with pytest.raises(InputError, match=message):
        pipe.project(bad(tmp_path), 1, num_candidates=2, loss_weights=NO_FEATURES)


@pytest.mark.parametrize("kwargs, message", [
    ({"num_steps": -1}, "num_steps must be between 0 and 2000"),
    ({"num_steps": 10**6}, "num_steps must be between 0 and 2000"),
    ({"num_candidates": 0}, "num_candidates must be between 1 and 4096"),
    ({"learning_rate": float("nan")}, "learning_rate must be a finite number"),
    ({"output_type": "jpeg"}, "output_type must be"),
])
def test_bad_settings_are_named_before_any_step(pipe, kwargs, message):
    with pytest.raises(InputError, match=message):
        pipe.project(photo(), **{"num_steps": 1, **kwargs})


def test_a_latent_file_round_trips(pipe, tmp_path):
    out = pipe.project(photo(), 3, num_candidates=4, loss_weights=NO_FEATURES, output_type="pt")
    path = save_latent(tmp_path / "face.safetensors", out.latent, {"psnr": f"{out.psnr:.2f}"})
    tensor, meta = load_latent(path)
    assert torch.equal(pipe.check_latent(tensor), out.latent)
    assert meta["format"] == "gan-gallery-faces-latent" and meta["latent_dim"] == str(pipe.latent_dim)
    assert meta["psnr"] == f"{out.psnr:.2f}"
    again = pipe.interpolate_latents(pipe.check_latent(tensor), out.latent, 2, output_type="pt").images
    torch.testing.assert_close(again[0:1], out.images, atol=1e-4, rtol=0)


def save_raw(path, tensors):
    from safetensors.torch import save_file
    save_file(tensors, str(path))
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p: p.with_suffix(".pt").write_bytes(b"\x80\x04") and p.with_suffix(".pt"), "must be .safetensors"),
    (lambda p: p.write_bytes(b"garbage that is no header") and p, "not a readable .safetensors"),
    (lambda p: p.write_bytes(b"\0" * (MAX_LATENT_FILE_BYTES + 1)) and p, "bytes; a latent is under"),
    (lambda p: save_raw(p, {"z": torch.zeros(1, 8)}), "one tensor named 'latent'"),
    (lambda p: save_raw(p, {"latent": torch.zeros(1, 8), "extra": torch.zeros(1)}), "one tensor named 'latent'"),
])
def test_bad_latent_files_are_refused_when_read(tmp_path, make, message):
    with pytest.raises(InputError, match=message):
        load_latent(make(tmp_path / "bad.safetensors"))


@pytest.mark.parametrize("latent, message", [
    (torch.zeros(1, 9), r"must have shape \(8,\) or \(1, 8\)"),
    (torch.zeros(2, 8), r"must have shape"),
    (torch.zeros(1, 8, dtype=torch.int64), "floating-point"),
    (torch.tensor([[float("nan")] + [0.0] * 7]), "NaN or infinite"),
    (torch.tensor([[float("inf")] + [0.0] * 7]), "NaN or infinite"),
    (torch.full((1, 8), 1e6), "far from any"),
    ("not a tensor", "must be a tensor"),
])
def test_bad_latents_are_refused(pipe, latent, message):
    with pytest.raises(InputError, match=message):
        pipe.check_latent(latent)


def test_walk_from_a_latent_to_a_seed_ends_at_both(faces_pipe):
    pipe = faces_pipe  # the embedded weights: the tiny model's faces are all but alike
    out = pipe.project(photo((64, 64)), 3, num_candidates=4, loss_weights=NO_FEATURES, output_type="pt")
    seed_face = pipe(seeds=[9], output_type="pt").images
    from gan_models.core.pipelines import noise_for_seeds
    frames = pipe.interpolate_latents(out.latent, noise_for_seeds([9], (pipe.latent_dim,)), 5, output_type="pt").images
    assert frames.shape[0] == 5
    torch.testing.assert_close(frames[0:1], out.images, atol=1e-4, rtol=0)
    torch.testing.assert_close(frames[-1:], seed_face, atol=1e-4, rtol=0)
    assert (frames[0] - frames[-1]).abs().mean() > 0.05  # two different faces: the ends cannot be swapped unseen


def test_the_prior_keeps_the_latent_on_the_shell_of_random_latents(pipe):
    """With big steps and no prior, z drifts off the sphere where N(0, I) draws live; the prior holds it there."""
    loose = pipe.project(photo(), 60, num_candidates=4, learning_rate=1.0, loss_weights=ProjectionLoss(features=0, prior=0))
    held = pipe.project(photo(), 60, num_candidates=4, learning_rate=1.0, loss_weights=ProjectionLoss(features=0, prior=10))
    ratio = lambda out: float(out.latent.square().sum()) / pipe.latent_dim  # noqa: E731
    assert abs(ratio(held) - 1) < 0.15 < abs(ratio(loose) - 1), (ratio(held), ratio(loose))


def test_the_start_is_the_best_of_the_random_candidates(faces_pipe):
    """0 steps: the result is the candidate (drawn from ``generator``) whose face has the smallest pixel loss."""
    pipe = faces_pipe
    target = pipe(seeds=[12345]).images[0]
    out = pipe.project(target, 0, generator=torch.Generator().manual_seed(5), num_candidates=32,
                       loss_weights=NO_FEATURES, output_type="pt")
    candidates = torch.randn(32, pipe.latent_dim, generator=torch.Generator().manual_seed(5))
    faces = pipe.generate(candidates).float()
    seen = pil_to_tensor(target)
    diff = faces - seen
    loss = diff.square().flatten(1).mean(1) + 0.2 * diff.abs().flatten(1).mean(1)
    best = int(loss.argmin())
    assert out.start_seed_index == best and torch.equal(out.latent, candidates[best:best + 1])
    assert out.psnr == pytest.approx(float(psnr(faces[best:best + 1], seen)), abs=0.01)
    assert out.psnr > float(psnr(faces, seen).median()) + 0.5  # the best is well above a typical candidate


def test_the_feature_loss_uses_the_pretrained_network_and_its_first_three_maps(pipe):
    from gan_models.feature_networks import load_efficientnet_lite0_state

    distance = pipe.feature_distance()
    stem = load_efficientnet_lite0_state()["_conv_stem.weight"]
    assert torch.equal(distance.features.stem[0].weight, stem) and distance.num_maps == 3
    x = pil_to_tensor(photo((32, 32)))
    assert [m.shape[1] for m in distance.maps(x)] == [24, 40, 112]
    assert float(distance(x, distance.maps(x))) == pytest.approx(0.0, abs=1e-6)
    assert float(distance(-x, distance.maps(x))) > 0.1


def test_the_step_size_decays_along_a_cosine_from_the_learning_rate():
    """Large steps to leave the start's basin, small ones to settle: step t moves z by at most
    learning_rate * (1 + cos(pi t / N)) / 2. Seen on a loss whose gradient never changes (the L1 distance from a
    linear G to a target it cannot reach): Adam's step is then learning_rate(t) * sign(gradient) exactly, so each
    step of z measures its own learning rate."""
    from gan_models.faces.projection import project_latent

    class RecordingLinearG(torch.nn.Module):  # N x d x 1 x 1 -> N x 3 x 4 x 4, linear in z; keeps every z it is given
        def __init__(self, d):
            super().__init__()
            torch.manual_seed(0)
            self.net = torch.nn.ConvTranspose2d(d, 3, 4)
            self.seen = []

        def forward(self, z):
            self.seen.append(z.detach().flatten(1).clone())
            return self.net(z)

    d, n, lr = 8, 10, 0.05
    g = RecordingLinearG(d)
    target = torch.full((1, 3, 4, 4), 100.0)  # every pixel of G(z) stays below it: the gradient is constant
    run = project_latent(g, d, target, None, num_steps=n, num_candidates=4, generator=torch.Generator().manual_seed(0),
                         learning_rate=lr, weights=ProjectionLoss(mse=0, l1=1, features=0, prior=0))
    steps = list(run)
    assert len(steps) == n
    path = torch.cat(g.seen[1:])  # the candidates' batch first, then z at every step and the result: (n + 1) x d
    step_sizes = (path[1:] - path[:-1]).abs()  # n x d
    expected = torch.tensor([lr * (1 + math.cos(math.pi * t / n)) / 2 for t in range(n)])
    torch.testing.assert_close(step_sizes, expected[:, None].expand(n, d), rtol=1e-4, atol=1e-7)
