"""Super-resolution: the networks, the pipeline (bad input, determinism, seamless tiles, save/load), the tab's
functions, the scores, and a training smoke run through the launcher."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from gan_models.core.checks import InputError, WeightsError
from gan_models.judges.superres_eval import high_frequency_energy, luma, psnr_ssim_y
from gan_models.superres.pipeline import SuperResolutionPipeline
from gan_models.superres.srgan import SRGANDiscriminator, SRResNetGenerator

ROOT = Path(__file__).resolve().parents[1]


def tiny_generator(seed: int) -> SRResNetGenerator:
    torch.manual_seed(seed)
    g = SRResNetGenerator(channels=4, num_blocks=2, scale=4)
    with torch.no_grad():  # the tail starts at zero (output = bicubic): make the network's own part count
        g.tail.weight.normal_(0, 0.2)
    return g.eval()


@pytest.fixture
def pipe():
    return SuperResolutionPipeline(srresnet=tiny_generator(0), srgan=tiny_generator(1))


def photo(w: int, h: int, seed: int = 0) -> Image.Image:
    """A smooth random picture with some edges (not the data: made here)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 4 + 1, w // 4 + 1, 3), dtype=np.uint8)
    return Image.fromarray(base).resize((w, h), Image.Resampling.BICUBIC)


# ----------------------------------------------------------------------------- networks
def test_generator_upscales_4x_and_discriminator_gives_one_logit_per_patch():
    g = tiny_generator(0)
    assert g(torch.zeros(2, 3, 16, 12)).shape == (2, 3, 64, 48)
    d = SRGANDiscriminator(base_channels=4, dense_features=8)
    assert d(torch.zeros(3, 3, 64, 64)).shape == (3, 1) and d(torch.zeros(1, 3, 48, 80)).shape == (1, 1)


def test_a_fresh_generator_with_the_bicubic_skip_is_exactly_bicubic():
    torch.manual_seed(0)
    g = SRResNetGenerator(channels=4, num_blocks=2).eval()
    x = torch.rand(1, 3, 10, 10) * 2 - 1
    assert torch.equal(g(x), F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False))


def test_receptive_radius_bounds_what_an_input_pixel_can_change():
    g = tiny_generator(0)
    x = torch.rand(1, 3, 40, 40) * 2 - 1
    y = x.clone()
    y[..., 20, 20] += 1
    diff = (g(x) - g(y)).abs().amax(dim=(0, 1)) > 0  # 160 x 160: where the output changed
    rows, cols = diff.nonzero(as_tuple=True)
    reach = max((rows // 4 - 20).abs().max(), (cols // 4 - 20).abs().max())
    assert 0 < reach <= g.receptive_radius


# ----------------------------------------------------------------------------- pipeline
def test_every_model_gives_a_picture_4x_larger_and_the_three_differ(pipe):
    image = photo(20, 12)
    outs = {m: pipe(image, m) for m in ("bicubic", "srresnet", "srgan")}
    assert all(o.images[0].size == (80, 48) for o in outs.values())
    arrays = {m: np.asarray(o.images[0], dtype=np.int16) for m, o in outs.items()}
    assert np.abs(arrays["bicubic"] - arrays["srresnet"]).max() > 0
    assert np.abs(arrays["srresnet"] - arrays["srgan"]).max() > 0
    assert outs["srgan"].input_size == (20, 12) and outs["srgan"].messages == ["srgan: 20x12 -> 80x48"]
    assert pipe(image, "srgan", output_type="np").images.shape == (1, 48, 80, 3)


def test_same_input_same_output(pipe):
    image = photo(24, 24, seed=3)
    a = np.asarray(pipe(image, "srgan").images[0])
    b = np.asarray(pipe(image.copy(), "srgan").images[0])
    assert np.array_equal(a, b)


def test_tiles_stitch_without_seams(pipe):
    """The picture in 9 tiles of 16 pixels (each with its margin of context, cut off again) equals one pass."""
    pixels = torch.from_numpy(np.asarray(photo(44, 40, seed=5)).copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
    whole, n_whole = pipe.upscale(pixels, "srgan", tile_size=4096)
    tiled, n_tiled = pipe.upscale(pixels, "srgan", tile_size=16)
    assert (n_whole, n_tiled) == (1, 9)
    assert (whole - tiled).abs().max() < 1e-5


@pytest.mark.parametrize("size, message", [((1, 1), "too small"), ((7, 30), "too small"),
                                          ((600, 600), "largest accepted is 262,144 pixels"),
                                          ((3000, 40), "2048 on a side")])
def test_pictures_too_small_or_too_large_are_refused_clearly(pipe, size, message):
    with pytest.raises(InputError, match=message):
        pipe(Image.new("RGB", size, (10, 20, 30)))


def test_a_picture_too_large_is_refused_before_a_pixel_is_decoded_or_converted(pipe, tmp_path, monkeypatch):
    """From a file's header, a lazily opened picture's size or an array's shape: a 16-bit 6600x6000 PNG is 90 KB to
    send and over a gigabyte once decoded and widened (as_rgb), so nothing may reach as_rgb before the size check."""
    import gan_models.superres.pipeline as module
    from conftest import header_only_png

    def as_rgb(image, *args, **kwargs):
        raise AssertionError("decoded before the size was checked")

    monkeypatch.setattr(module, "as_rgb", as_rgb)
    path = tmp_path / "big.png"
    path.write_bytes(header_only_png(600, 600))
    for big in (str(path), path, Image.open(path), np.zeros((600, 600), np.uint16), np.zeros((600, 600, 3), np.uint8)):
        with pytest.raises(InputError, match="600x600 pixels; the largest accepted is 262,144 pixels"):
            pipe.prepare(big)
    with pytest.raises(InputError, match="the image is 2100x10 pixels.* 2048 on a side"):
        pipe.prepare(np.zeros((10, 2100), np.uint16))


def test_rgba_palette_and_16_bit_pictures_are_converted(pipe, tmp_path):
    rgba = photo(16, 16).convert("RGBA")
    rgba.putalpha(0)  # fully transparent: composited on white
    assert np.asarray(pipe(rgba, "bicubic").images[0]).min() == 255
    palette = photo(16, 16).convert("P", palette=Image.Palette.ADAPTIVE)
    assert pipe(palette, "srgan").images[0].size == (64, 64)
    deep = np.full((16, 16), 32896, dtype=np.uint16)  # 16-bit mid grey: scaled to 8 bits (128), not clipped to 255
    path = tmp_path / "deep.png"
    Image.fromarray(deep).save(path)
    assert Image.open(path).mode.startswith("I")
    grey = np.asarray(pipe(str(path), "bicubic").images[0])
    assert grey.min() == grey.max() == 128


def test_not_an_image_and_a_bad_model_name_are_refused(pipe, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("not a picture")
    with pytest.raises(InputError, match="cannot read the image file"):
        pipe(str(fake))
    with pytest.raises(InputError, match="model must be one of bicubic, srresnet, srgan"):
        pipe(photo(16, 16), "esrgan")


def test_save_and_load_round_trip_gives_the_same_pictures(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "sr", discriminator=SRGANDiscriminator(4, 8), training_state={"step": 3,
                                                                                                  "ema_updates": 3})
    loaded = SuperResolutionPipeline.from_pretrained(tmp_path / "sr")
    image = photo(20, 20)
    for model in ("srresnet", "srgan"):
        assert np.array_equal(np.asarray(pipe(image, model).images[0]), np.asarray(loaded(image, model).images[0]))
    assert (tmp_path / "sr" / "superres_gan.py").is_file() and (tmp_path / "sr" / "discriminator").is_dir()


def test_a_folder_whose_config_does_not_fit_its_weights_is_refused(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "sr")
    config = tmp_path / "sr" / "srgan" / "config.json"
    config.write_text(config.read_text().replace('"num_blocks": 2', '"num_blocks": 3'))
    with pytest.raises(WeightsError, match="does not match"):
        SuperResolutionPipeline.from_pretrained(tmp_path / "sr")


# ----------------------------------------------------------------------------- scores
def test_psnr_and_ssim_follow_basicsr():
    hr = torch.rand(2, 3, 32, 32) * 2 - 1
    psnr, ssim = psnr_ssim_y(hr, hr, crop=4)
    assert torch.all(psnr > 99) and torch.allclose(ssim, torch.ones(2))
    # a constant offset of 10 levels in every channel is 10 * (65.481 + 128.553 + 24.966) / 255 levels of Y
    base = torch.full((1, 3, 16, 16), 100 / 127.5 - 1)
    off = torch.full((1, 3, 16, 16), 110 / 127.5 - 1)
    dy = 10 * (65.481 + 128.553 + 24.966) / 255
    assert abs(float(psnr_ssim_y(off, base, 0)[0]) - 10 * np.log10(255 ** 2 / dy ** 2)) < 1e-3
    # the border is left out: damage there only does not count
    damaged = hr.clone()
    damaged[..., :4, :] = -1
    assert torch.all(psnr_ssim_y(damaged, hr, crop=4)[0] > 99) and torch.all(psnr_ssim_y(damaged, hr, 0)[0] < 40)
    assert float(luma(torch.full((1, 3, 1, 1), 1.0))) == pytest.approx(235.0)


def test_blur_lowers_the_high_frequency_energy():
    sharp = torch.from_numpy(np.asarray(photo(64, 64, seed=2)).copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
    blurred = F.interpolate(F.interpolate(sharp, scale_factor=0.25, mode="bicubic", antialias=True),
                            scale_factor=4, mode="bicubic")
    assert float(high_frequency_energy(blurred)) < 0.5 * float(high_frequency_energy(sharp))


# ----------------------------------------------------------------------------- the tab's functions
@pytest.fixture
def tab_fns(pipe, tmp_path):
    from tabs.common import Models
    from tabs.superres import make_superres_fns

    pipe.save_pretrained(tmp_path / "superres")
    return make_superres_fns(Models({"superres": (str(tmp_path / "superres"), None)}, use_hub=False))


def test_upscale_gives_three_files_and_the_zoom_crops_the_same_square_of_each(tab_fns, tmp_path):
    upscale, zoom, _ = tab_fns
    source = tmp_path / "small.png"
    photo(24, 16).save(source)
    bicubic, srresnet, srgan, note = upscale(str(source), progress=None)
    for path in (bicubic, srresnet, srgan):
        assert Image.open(path).size == (96, 64)
    assert note.startswith("24x16 -> 96x64; Bicubic")
    crops = zoom(bicubic, srresnet, srgan, 0, 100, 32)
    assert len(crops) == 3
    expected = Image.open(srgan).convert("RGB").crop((0, 32, 32, 64)).resize((256, 256), Image.Resampling.NEAREST)
    assert np.array_equal(np.asarray(Image.open(crops[2]).convert("RGB")), np.asarray(expected))


def test_the_examples_are_made_by_the_gallerys_own_models(tab_fns):
    _, _, example = tab_fns
    face, again, other = example("face", 3), example("face", 3), example("face", 4)
    assert Image.open(face).size == (64, 64)
    assert np.array_equal(np.asarray(Image.open(face)), np.asarray(Image.open(again)))
    assert not np.array_equal(np.asarray(Image.open(face)), np.asarray(Image.open(other)))
    assert Image.open(example("aerial", 0)).size == (64, 64)
    with pytest.raises(gr.Error, match="seed must be between"):
        example("face", -1)


@pytest.mark.parametrize("make, message", [
    (lambda p: Image.new("RGB", (1, 1)).save(p), "too small"),
    (lambda p: Image.new("RGB", (700, 500)).save(p), "largest accepted"),
    (lambda p: Path(p).write_bytes(b"GIF89a but not really"), "not a readable image"),
])
def test_the_tab_turns_bad_pictures_into_messages(tab_fns, tmp_path, make, message):
    upscale, _, _ = tab_fns
    path = tmp_path / "input.png"
    make(path)
    with pytest.raises(gr.Error, match=message):
        upscale(str(path), progress=None)
    with pytest.raises(gr.Error, match="Upload or paste a picture first"):
        upscale(None, progress=None)


def test_the_upload_guard_refuses_a_huge_picture_from_its_header():
    from tabs.common import _header_size

    buffer = io.BytesIO()
    Image.new("1", (9000, 9000)).save(buffer, "PNG")  # 9000 x 9000 = 81 MP claimed by a small file
    buffer.seek(0)
    w, h = _header_size(buffer)
    from tabs.superres import MAX_UPLOAD_PIXELS

    assert w * h > MAX_UPLOAD_PIXELS


def test_send_to_superres_picks_the_selected_picture_or_the_first():
    from tabs.superres import picked

    gallery = [("a.png", "seed 0"), ("b.png", "seed 1")]
    assert picked(gallery, 1) == "b.png" and picked(gallery, 7) == "a.png" and picked(gallery, None) == "a.png"
    with pytest.raises(gr.Error, match="Make some pictures first"):
        picked([], 0)


# ----------------------------------------------------------------------------- training
def tiny_train_args(dataset, out, phase, *extra):
    return ["--phase", phase, "--dataset", str(dataset), "--output_dir", str(out), "--image_size", "32",
            "--patch_size", "16", "--g_channels", "4", "--g_blocks", "1", "--d_channels", "4", "--batch_size", "4",
            "--report_to", "none", "--log_steps", "1", "--sample_steps", "2", "--checkpointing_steps", "2",
            "--holdout", "4", "--eval_steps", "2", "--eval_images", "4", "--threads", "1", *extra]


def launch(args):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", str(ROOT / "training" / "train_srgan.py"), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def test_accelerate_launch_trains_srresnet_then_srgan(tiny_image_dataset, tmp_path):
    pytest.importorskip("efficientnet_lite_pytorch")
    pixel = launch(tiny_train_args(tiny_image_dataset, tmp_path / "pixel", "pixel", "--max_steps", "2"))
    assert pixel.returncode == 0, pixel.stderr[-3000:]
    assert (tmp_path / "pixel" / "checkpoints" / "checkpoint-2" / "complete.json").is_file()
    first = SuperResolutionPipeline.from_pretrained(tmp_path / "pixel" / "pipeline")
    assert first(photo(16, 16)).images[0].size == (64, 64)
    gan = launch(tiny_train_args(tiny_image_dataset, tmp_path / "gan", "gan", "--max_steps", "2", "--init_generator",
                                 str(tmp_path / "pixel" / "pipeline" / "srresnet")))
    assert gan.returncode == 0, gan.stderr[-3000:]
    assert "d_real=" in gan.stdout + gan.stderr and "g_feature=" in gan.stdout + gan.stderr
    second = SuperResolutionPipeline.from_pretrained(tmp_path / "gan" / "pipeline")
    # the folder's srresnet is the phase-1 generator, untouched; its srgan was fine-tuned away from it
    a, b = first.srgan.state_dict(), second.srresnet.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = second.srgan.state_dict()
    assert any(not torch.equal(a[k], c[k]) for k in a)
    assert (tmp_path / "gan" / "pipeline" / "discriminator").is_dir()


def test_phase_gan_without_a_generator_to_fine_tune_is_refused(tiny_image_dataset, tmp_path):
    import train_srgan

    with pytest.raises(SystemExit, match="--init_generator"):
        train_srgan.main(train_srgan.parse_args(tiny_train_args(tiny_image_dataset, tmp_path / "g", "gan")))


def test_decay_steps_lower_both_learning_rates_linearly_over_the_last_steps(tiny_image_dataset, tmp_path):
    """--decay_steps 3 of 4 steps: the optimizers take steps at 1, 1, 2/3 and 1/3 of --lr_g and --lr_d (the rates
    logged are read from the optimizers, as Adam uses them)."""
    import json

    import train_srgan

    out = tmp_path / "run"
    train_srgan.main(train_srgan.parse_args(tiny_train_args(
        tiny_image_dataset, out, "pixel", "--max_steps", "4", "--decay_steps", "3", "--lr_g", "3e-4", "--lr_d", "6e-4")))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rates = {row["step"]: (row["lr_g"], row["lr_d"]) for row in rows if "lr_g" in row}
    factors = [1, 1, 2 / 3, 1 / 3]
    assert sorted(rates) == [1, 2, 3, 4]
    for step, factor in zip(sorted(rates), factors):
        assert rates[step] == (pytest.approx(3e-4 * factor), pytest.approx(6e-4 * factor)), step


def test_the_batches_are_a_function_of_the_step_and_lr_is_the_antialiased_bicubic_downscale():
    import argparse

    import train_srgan

    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    domains = [{"name": "a", "train": images, "held": images[:1]}, {"name": "b", "train": images, "held": images[:1]}]
    args = argparse.Namespace(seed=1, batch_size=5, patch_size=16, domain_shares=None)
    first = train_srgan.hr_patches(domains, 7, args, 0, "cpu")
    assert first.shape == (5, 3, 16, 16) and torch.equal(first, train_srgan.hr_patches(domains, 7, args, 0, "cpu"))
    assert not torch.equal(first, train_srgan.hr_patches(domains, 8, args, 0, "cpu"))
    lr = train_srgan.downscale(first, 4)
    expected = F.interpolate(first, scale_factor=0.25, mode="bicubic", antialias=True).clamp(-1, 1)
    assert lr.shape == (5, 3, 4, 4) and (lr - expected).abs().max() <= 0.5 / 127.5 + 1e-6
    assert torch.allclose(lr * 127.5, (lr * 127.5).round(), atol=1e-4)  # 8-bit levels


def test_domain_shares_split_the_batch_in_proportion():
    import argparse

    import train_srgan

    assert train_srgan.batch_shares(18, [1, 1, 1]) == [6, 6, 6]
    assert train_srgan.batch_shares(18, [1, 1, 2]) == [5, 4, 9]  # 4.5, 4.5, 9: the first tie gets the spare
    assert train_srgan.batch_shares(5, [1, 1]) == [3, 2]
    a = torch.zeros(4, 3, 16, 16, dtype=torch.uint8)
    b = torch.full((4, 3, 16, 16), 255, dtype=torch.uint8)
    domains = [{"name": "a", "train": a, "held": a[:1]}, {"name": "b", "train": b, "held": b[:1]}]
    args = argparse.Namespace(seed=0, batch_size=8, patch_size=16, domain_shares=[1.0, 3.0])
    batch = train_srgan.hr_patches(domains, 0, args, 0, "cpu")
    assert (batch.flatten(1).mean(1) > 0).tolist() == [False] * 2 + [True] * 6
    with pytest.raises(SystemExit):
        train_srgan.parse_args(["--phase", "pixel", "--dataset", "x", "--output_dir", "y", "--domain_shares", "1", "2"])
