"""The maps demo (pix2pix): models, one folder for both directions, input handling, the palette
score, training (with resume), merging, evaluation, the tab and its endpoint. Tiny models only;
the paired data is drawn by code in the test, never taken from the real dataset."""

from __future__ import annotations

import json

import gradio as gr
import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from PIL import Image

import common
import merge_pix2pix
import train_pix2pix
from gan_models.core.modeling import WeightsError
from gan_models.judges.maps_eval import evaluate_maps, maps_markdown
from gan_models.maps.palette import (BRUSHES, MAP_CLASSES, MAP_PALETTE, classify_map_pixels, draw_map, pair_columns,
                                     palette_scores, synthetic_pair)
from gan_models.core.checks import InputError
from gan_models.maps.pipeline import Pix2PixPipeline, as_rgb, fast_unet
from gan_models.maps.pix2pix import PatchDiscriminator, Pix2PixDiscriminator, Pix2PixGenerator, UNetGenerator
from gan_models.registry import DEMOS
from tabs.common import Models
from tabs.maps import make_maps_fns
from conftest import generator_weights

TINY = {"base_channels": 4, "num_downs": 5, "max_mult": 2}  # 32x32 tiles


def randomise_batchnorm(model):
    with torch.no_grad():  # non-trivial statistics, so folding them is really tested
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.normal_(1, 0.1)
    return model


@pytest.fixture(scope="module")
def tiny_maps_folder(tmp_path_factory):
    """Both directions, tiny, in one pipeline folder."""
    torch.manual_seed(0)
    g = randomise_batchnorm(Pix2PixGenerator(a2b=TINY, b2a=TINY, a_name="aerial", b_name="map").eval())
    folder = tmp_path_factory.mktemp("w") / "maps"
    Pix2PixPipeline(g).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def pipe(tiny_maps_folder):
    return Pix2PixPipeline.from_pretrained(tiny_maps_folder)


@pytest.fixture(scope="module")
def paired_dataset(tmp_path_factory):
    """24 pairs (fake aerial, drawn map) of 40x40, as parquet with the real data's column names."""
    import datasets

    pairs = [synthetic_pair(i, 40) for i in range(24)]
    features = datasets.Features({"aerial": datasets.Image(), "map": datasets.Image(), "file_name": datasets.Value("string")})
    ds = datasets.Dataset.from_dict({"aerial": [a for a, _ in pairs], "map": [m for _, m in pairs],
                                     "file_name": [f"{i}.jpg" for i in range(24)]}, features=features)
    folder = tmp_path_factory.mktemp("pairs")
    ds.to_parquet(str(folder / "train.parquet"))
    return folder


# ----------------------------------------------------------------------------- models
def test_unet_and_patch_discriminator_shapes():
    g = UNetGenerator(**TINY)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    y = g(x)
    assert y.shape == (2, 3, 32, 32) and y.abs().max() <= 1 and g.tile_size == 32
    d = PatchDiscriminator(6, base_channels=4)
    assert d(torch.zeros(2, 3, 256, 256), torch.zeros(2, 3, 256, 256)).shape == (2, 1, 30, 30)  # 70x70 patches
    full = UNetGenerator()  # the gallery's width: 2.46 M parameters, about 4.9 MB in fp16
    assert 2.4e6 < sum(p.numel() for p in full.parameters()) < 2.5e6 and full.tile_size == 256


def test_folded_fast_path_matches_the_network_as_written():
    torch.manual_seed(1)
    net = randomise_batchnorm(UNetGenerator(**TINY)).eval()
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(fast_unet(net)(x), net(x), atol=1e-5, rtol=1e-4)
    assert not any(isinstance(m, (torch.nn.BatchNorm2d, torch.nn.Dropout)) for m in fast_unet(net).modules())


def test_both_directions_load_from_one_folder(tiny_maps_folder, pipe):
    assert sorted(p.name for p in tiny_maps_folder.iterdir()) == ["generator", "maps_gan.py", "model_index.json"]
    config = json.loads((tiny_maps_folder / "generator" / "config.json").read_text())
    assert config["a2b"] == config["b2a"] == TINY and (config["a_name"], config["b_name"]) == ("aerial", "map")
    assert pipe.directions == ["a2b", "b2a"] and pipe.tile_size == 32
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert not torch.equal(pipe.translate(x, "a2b"), pipe.translate(x, "b2a"))  # two different networks
    assert pipe.describe("a2b") == "aerial -> map" and pipe.describe("b2a") == "map -> aerial"


def test_safetensors_round_trip_fp32_and_fp16(tiny_maps_folder, tmp_path):
    a = Pix2PixGenerator.load_strict(tiny_maps_folder / "generator")
    b = Pix2PixGenerator.from_pretrained(tiny_maps_folder, subfolder="generator")  # diffusers' own loader
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        for d in ("a2b", "b2a"):
            assert torch.equal(a(x, d), b(x, d))
    common.save_model(a, tmp_path / "half", fp16=True)
    assert all(t.dtype == torch.float16 for t in load_file(str(tmp_path / "half" / "diffusion_pytorch_model.safetensors")).values()
               if t.is_floating_point())
    c = Pix2PixGenerator.load_strict(tmp_path / "half")
    with torch.no_grad():
        torch.testing.assert_close(c(x, "b2a"), a(x, "b2a"), atol=1e-2, rtol=0)


def test_weights_that_do_not_fit_the_config_are_refused(tiny_maps_folder, tmp_path):
    import shutil

    folder = tmp_path / "bad"
    shutil.copytree(tiny_maps_folder, folder)
    config = json.loads((folder / "generator" / "config.json").read_text())
    config["b2a"] = {**TINY, "base_channels": 8}
    (folder / "generator" / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match="does not match.*wrong shape"):
        Pix2PixPipeline.from_pretrained(folder)
    config.pop("b2a")
    (folder / "generator" / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match="unexpected"):
        Pix2PixPipeline.from_pretrained(folder)


def test_embedded_weights_hold_both_directions_within_the_size_budget():
    demo = DEMOS["maps"]
    pipe = demo.pipeline.from_pretrained(demo.embedded)
    assert pipe.directions == ["a2b", "b2a"] and pipe.tile_size == 256
    assert (demo.embedded / "generator" / "diffusion_pytorch_model.safetensors").stat().st_size < 15e6  # both directions, fp16
    assert not list(demo.embedded.glob("*.png"))  # sample grids hold dataset pictures: never shipped


# ----------------------------------------------------------------------------- the pipeline
def test_same_input_same_output(pipe):
    image = synthetic_pair(3, 90)[0]
    for mode in ("tiles", "fit"):
        a = pipe(image, "a2b", mode=mode, output_type="np").images[0]
        b = pipe(image, "a2b", mode=mode, output_type="np").images[0]
        assert np.array_equal(a, b)


@pytest.mark.parametrize("size, mode, out_size, tiles", [
    ((32, 32), "tiles", (32, 32), 1),
    ((100, 60), "tiles", (100, 60), 8),     # the picture's own size: overlapping tiles, blended
    ((20, 50), "tiles", (32, 80), 3),       # a short side under one tile is scaled up to one tile
    ((100, 60), "fit", (32, 32), 1),        # centre square, one tile
    ((400, 20), "fit", (32, 32), 1),        # any shape fits
])
def test_any_size_and_shape_is_handled(pipe, size, mode, out_size, tiles):
    out = pipe(Image.new("RGB", size, (90, 100, 80)), "b2a", mode=mode)
    assert out.images[0].size == out_size and out.images[0].mode == "RGB"
    assert f"{tiles} tile" in out.messages[0]


def test_large_pictures_are_scaled_down_to_the_pixel_budget(pipe):
    small = Pix2PixPipeline(pipe.generator)
    small.max_pixels = 120 * 90  # the app's budget is 1 megapixel; scaled down here to keep the test fast
    out = small(Image.new("RGB", (1200, 900), (90, 100, 80)), "a2b")
    assert out.images[0].size == (120, 90) and "1200x900 resized to 120x90" in out.messages[0]


def local_translator(num_downs: int = 6, seed: int = 0) -> Pix2PixPipeline:
    """A tiny U-Net that translates locally, as a trained pix2pix mostly does: the outermost decoder level sees
    only the first encoder level (the deeper path is cut), and the weights are large enough for the output to
    follow the picture. A tile's output then depends on the tile only near its edges (zero padding), so the
    translation of any window of a picture is a fair reference for the tiled picture away from the window's edges.
    (A random U-Net's 1x1 bottleneck makes every output pixel depend on the whole tile: no tiling could match.)"""
    import math

    torch.manual_seed(seed)
    g = Pix2PixGenerator(a2b={"base_channels": 4, "num_downs": num_downs, "max_mult": 2},
                         a_name="aerial", b_name="map").eval()
    net = g.nets["a2b"]
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.normal_(0, 1.5 / math.sqrt(m.weight[0].numel()))
            elif isinstance(m, torch.nn.ConvTranspose2d):
                m.weight.normal_(0, 1.5 / math.sqrt(4 * m.weight.shape[0]))
        net.up[0][1].weight[:net.down[0][0].out_channels] = 0  # the deeper levels' input to the last layer
    return Pix2PixPipeline(g)


def test_tiles_blend_without_seams():
    """A structured picture in 2 x 2 overlapping tiles, against the translation of the window around the seams
    as one tile: equal away from the seams, far closer at them than tiles pasted without blending; every seam
    pixel a mix of the tiles there, fading from one tile into the next."""
    pipe = local_translator()
    t = pipe.tile_size  # 64
    size = 2 * t - 8    # two tiles a side, at 0 and size - t: they overlap in rows and columns [56, 64)
    picture = synthetic_pair(3, 3 * t)[0].crop((0, 0, size, size))  # a drawn aerial view: roads, water, parks
    pixels = torch.from_numpy(np.asarray(picture).copy()).permute(2, 0, 1).float() / 127.5 - 1
    out = pipe(picture, "a2b", output_type="pt")
    assert "4 tiles" in out.messages[0]
    out = out.images[0] * 2 - 1  # "pt" is [0, 1]; the tiles below are in [-1, 1]
    s0 = size - t
    boxes = [(y, x) for y in (0, s0) for x in (0, s0)]
    tiles = pipe.translate(torch.stack([pixels[:, y:y + t, x:x + t] for y, x in boxes]), "a2b")

    c0 = size // 2 - t // 2  # the reference: the window centred on where the four tiles meet, as one tile
    reference = torch.zeros_like(pixels)
    reference[:, c0:c0 + t, c0:c0 + t] = pipe.translate(pixels[None, :, c0:c0 + t, c0:c0 + t], "a2b")[0]
    inner = torch.zeros(size, size, dtype=torch.bool)
    inner[c0 + 4:c0 + t - 4, c0 + 4:c0 + t - 4] = True  # the reference's own edge effects aside
    seams = torch.zeros(size, size, dtype=torch.bool)
    seams[s0:t, :] = seams[:, s0:t] = True
    error = (out - reference).abs().amax(0)
    assert error[inner & ~seams].max() < 1e-5  # one tile there, far from its edges: the same translation
    assert error[inner & seams].max() > 0      # (the tiles' edges do show at the seams ...)

    def pasted(order):  # the tiles pasted one over the other, no blending: a hard cut at each seam
        cut = torch.zeros_like(pixels)
        for (y, x), tile in order:
            cut[:, y:y + t, x:x + t] = tile
        return cut

    hard = min((pasted(order) - reference).abs().amax(0)[inner & seams].max()
               for order in (list(zip(boxes, tiles)), list(zip(boxes, tiles))[::-1]))
    assert error[inner & seams].max() < 0.6 * hard  # (... but blended, much less than where tiles are cut)

    # every seam pixel is a mix of the tiles that cover it, not any one of them (a cut shows one tile's pixel)
    stacks = [torch.full_like(pixels, float("nan")) for _ in boxes]  # each tile's translation, in place
    for k, ((y, x), tile) in enumerate(zip(boxes, tiles)):
        stacks[k][:, y:y + t, x:x + t] = tile
    stack = torch.stack(stacks)                                   # tiles x 3 x H x W, nan where not covered
    low, high = stack.nan_to_num(float("inf")).amin(0), stack.nan_to_num(float("-inf")).amax(0)
    mixed = seams[None] & (high - low > 1e-3)                     # where the covering tiles disagree
    assert mixed.sum() > 1000
    assert ((out > low + 1e-6) & (out < high - 1e-6))[mixed].all()

    # and the mix fades from one tile into the next across the overlap: the share of the tile coming in (the
    # least-squares weight of out = (1 - a) * one + a * other, per column of the overlap) grows steadily
    def share(one, other, axis):  # axis 2: columns of the left/right overlap, 1: rows of the top/bottom one
        rest = slice(0, s0)  # along the seam, where no third tile covers
        o, a, b = (v[:, rest, s0:t] if axis == 2 else v[:, s0:t, rest] for v in (out, one, other))
        dims = (0, 1) if axis == 2 else (0, 2)
        apart = ((b - a) ** 2).sum(dims)
        return (((o - a) * (b - a)).sum(dims) / apart)[apart > 1e-4]  # where the two tiles differ at all

    for one, other, axis in ((stacks[0], stacks[1], 2), (stacks[0], stacks[2], 1)):  # left | right, top / bottom
        a = share(one, other, axis)
        assert len(a) >= 4 and a[0] < 0.25 and a[-1] > 0.75 and (a.diff() > 0.02).all(), a


@pytest.mark.parametrize("make", [
    lambda: Image.new("RGBA", (40, 40), (255, 0, 0, 0)),
    lambda: Image.new("LA", (40, 40), (100, 128)),
    lambda: Image.new("L", (40, 40), 100),
    lambda: Image.new("1", (40, 40), 1),
    lambda: Image.new("P", (40, 40), 3),
    lambda: Image.new("CMYK", (40, 40), (10, 20, 30, 40)),
    lambda: Image.new("I;16", (40, 40), 40000),
    lambda: Image.new("I", (40, 40), 70000),
    lambda: Image.new("F", (40, 40), 0.5),
    lambda: Image.new("YCbCr", (40, 40), (100, 120, 130)),
    lambda: np.full((40, 40, 3), 200, np.uint8),
    lambda: np.full((40, 40, 4), 200, np.uint8),
    lambda: np.full((40, 40), 50000, np.uint16),
    lambda: np.full((40, 40, 3), 0.5, np.float32),
])
def test_every_image_mode_is_read_as_rgb(pipe, make):
    out = pipe(make(), "a2b", mode="fit")
    assert out.images[0].mode == "RGB" and out.images[0].size == (32, 32)


def test_mode_conversions_keep_the_picture():
    assert as_rgb(Image.new("RGBA", (4, 4), (255, 0, 0, 0))).getpixel((0, 0)) == (255, 255, 255)  # transparent: white
    assert as_rgb(Image.new("I;16", (4, 4), 65535)).getpixel((0, 0)) == (255, 255, 255)           # 16-bit: scaled
    assert as_rgb(Image.new("I;16", (4, 4), 32896)).getpixel((0, 0)) == (128, 128, 128)
    assert as_rgb(np.full((4, 4), 1.0, np.float32)).getpixel((0, 0)) == (255, 255, 255)             # float: [0, 1]
    assert as_rgb(Image.new("CMYK", (4, 4), (0, 0, 0, 0))).getpixel((0, 0)) == (255, 255, 255)


def test_a_file_path_is_read(pipe, tmp_path):
    path = tmp_path / "in.png"
    synthetic_pair(1, 48)[1].save(path)
    assert pipe(str(path), "b2a").images[0].size == (48, 48)
    (tmp_path / "not-an-image.png").write_text("hello")
    with pytest.raises(InputError, match="cannot read the image file"):
        pipe(str(tmp_path / "not-an-image.png"), "b2a")


@pytest.mark.parametrize("image, kwargs, message", [
    (Image.new("RGB", (1, 1)), {}, r"the image is 1x1 pixels, too small to translate: give at least 16x16"),
    (Image.new("RGB", (300, 10)), {}, r"too small"),
    (Image.new("RGB", (400, 20)), {}, r"400x20 pixels, too long and thin to tile.*mode 'fit'"),
    (Image.new("L", (9000, 8000)), {}, r"the image is 9000x8000 pixels; the largest accepted is 64 megapixels"),
    (None, {}, r"give an image \(PIL image, numpy array or file path\), got NoneType"),
    ("no/such/file.png", {}, r"cannot read the image file"),
    (np.zeros((5, 5, 2), np.uint8), {}, r"H x W or H x W x 1/3/4, got shape \(5, 5, 2\)"),
    (Image.new("RGB", (40, 40)), {"direction": "sideways"}, r"direction must be 'a2b' \(aerial -> map\) or 'b2a'"),
    (Image.new("RGB", (40, 40)), {"mode": "stretch"}, r"mode must be 'tiles' or 'fit'"),
    (Image.new("RGB", (40, 40)), {"output_type": "jpeg"}, r"output_type"),
])
def test_bad_input_gets_a_clear_message(pipe, image, kwargs, message):
    with pytest.raises(InputError, match=message):
        pipe(image, **{"direction": "a2b", **kwargs})


def test_a_folder_with_one_direction_names_what_it_can_do(tmp_path):
    Pix2PixGenerator(a2b=TINY, a_name="aerial", b_name="map").save_pretrained(tmp_path / "one")
    pipe = Pix2PixPipeline.from_pretrained(tmp_path / "one")
    assert pipe.directions == ["a2b"]
    with pytest.raises(InputError, match="these weights translate only aerial -> map"):
        pipe(Image.new("RGB", (32, 32)), "b2a")
    with pytest.raises(ValueError, match="at least one direction"):
        Pix2PixGenerator()


# ----------------------------------------------------------------------------- palette score, drawn maps
def test_palette_colours_classify_as_their_class():
    for k, name in enumerate(MAP_CLASSES):
        colours = torch.tensor(MAP_PALETTE[name], dtype=torch.uint8)       # C x 3
        images = colours[:, :, None, None].expand(-1, -1, 2, 2)             # one 2x2 image per colour
        assert (classify_map_pixels(images) == k).all(), name


def test_palette_scores_on_hand_made_maps():
    real = np.asarray(draw_map(5, 64))
    same = palette_scores(torch.from_numpy(real.copy()).permute(2, 0, 1)[None],
                          torch.from_numpy(real.copy()).permute(2, 0, 1)[None])
    assert same["miou"] == 1.0 and same["pixel_accuracy"] == 1.0
    blank = np.broadcast_to(np.array(MAP_PALETTE["background"][0], np.uint8), real.shape)
    worse = palette_scores(torch.from_numpy(blank.copy()).permute(2, 0, 1)[None],
                           torch.from_numpy(real.copy()).permute(2, 0, 1)[None])
    assert worse["iou"]["roads"] == 0.0 and 0 < worse["iou"]["background"] < 1
    assert worse["pixel_accuracy"] == pytest.approx(worse["real_class_share"]["background"], abs=1e-3)
    assert worse["miou"] < 0.5
    with pytest.raises(ValueError, match="differ in shape"):
        palette_scores(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), torch.zeros(1, 3, 5, 5, dtype=torch.uint8))


def test_drawn_maps_are_deterministic_and_in_the_palette():
    a, b = np.asarray(draw_map(7)), np.asarray(draw_map(7))
    assert np.array_equal(a, b) and not np.array_equal(a, np.asarray(draw_map(8)))
    colours = torch.tensor([c for cs in MAP_PALETTE.values() for c in cs], dtype=torch.float32)
    distance = torch.cdist(torch.from_numpy(a.reshape(-1, 3).astype(np.float32)), colours).min(1).values
    assert (distance < 20).float().mean() > 0.95  # edges aside, every pixel is a palette colour
    assert set(BRUSHES) >= {"street", "water", "park", "building", "background"}


def test_pair_columns_find_both_namings():
    assert pair_columns(["aerial", "map", "file_name"]) == ("aerial", "map")
    assert pair_columns(["imageA", "imageB"]) == ("imageA", "imageB")
    assert pair_columns(["x", "y"], "y", "x") == ("y", "x")
    with pytest.raises(ValueError, match="--a_column and --b_column"):
        pair_columns(["photo", "label"])
    with pytest.raises(ValueError, match="no column 'maps'"):
        pair_columns(["aerial", "map"], "aerial", "maps")


# ----------------------------------------------------------------------------- training, merging, evaluation
def tiny_args(dataset, out, direction, *extra):
    return ["--dataset", str(dataset), "--output_dir", str(out), "--direction", direction, "--load_size", "36",
            "--num_downs", "5", "--g_channels", "4", "--g_max_mult", "2", "--d_channels", "4", "--batch_size", "4",
            "--holdout", "6", "--report_to", "none", "--log_steps", "1", "--sample_steps", "2",
            "--checkpointing_steps", "2", "--num_sample_pairs", "3", "--threads", "1", *extra]


def test_train_resume_merge_and_evaluate(paired_dataset, tmp_path):
    out = tmp_path / "a2b"
    train_pix2pix.main(train_pix2pix.parse_args(tiny_args(paired_dataset, out, "a2b", "--max_steps", "2")))
    assert [p.name for p in common.list_checkpoints(out)] == ["checkpoint-2"]
    with Image.open(out / "samples" / "step-0000002.png") as grid:
        assert grid.size == (3 * 34 + 2, 3 * 34 + 2)  # rows: input | output | target of 3 held-out pairs
    a2b = train_pix2pix.main(train_pix2pix.parse_args(
        tiny_args(paired_dataset, out, "a2b", "--max_steps", "4", "--resume_from_checkpoint", "latest")))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "d_loss" in r] == [1, 2, 3, 4]  # resumed at step 2, not from scratch
    assert {"g_adv", "g_l1", "d_real", "d_fake"} <= set(rows[0])
    final = json.loads((a2b / "metrics.json").read_text())
    assert final["step"] == 4 and final["num_pairs"] == 6 and 0 <= final["miou"] <= 1  # target "map": palette score
    assert "palette mIoU" in (a2b / "README.md").read_text()

    b2a = train_pix2pix.main(train_pix2pix.parse_args(tiny_args(paired_dataset, tmp_path / "b2a", "b2a",
                                                                "--max_steps", "2")))
    assert "miou" not in json.loads((b2a / "metrics.json").read_text())  # the target is a photo: L1 only
    merged = merge_pix2pix.merge([a2b, b2a], tmp_path / "merged", fp16=True)
    pipe = Pix2PixPipeline.from_pretrained(merged)
    assert pipe.directions == ["a2b", "b2a"] and pipe.tile_size == 32
    assert not list(merged.glob("*.png"))
    single = Pix2PixPipeline.from_pretrained(a2b)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(pipe.translate(x, "a2b"), single.translate(x, "a2b"), atol=2e-2, rtol=0)  # fp16
    with pytest.raises(SystemExit, match="direction a2b is in both"):
        merge_pix2pix.merge([a2b, a2b], tmp_path / "twice")

    result = evaluate_maps(pipe, str(paired_dataset), holdout=6, fid=True, features=PixelFeatures())
    a, b = result["directions"]["a2b"], result["directions"]["b2a"]
    assert result["num_pairs"] == 6 and set(a["iou"]) == set(MAP_CLASSES) and 0 <= a["miou"] <= 1
    assert b["fid_kid"]["num_fake"] == 6 and "fid_kid_two_real_sets" in b and b["l1"] > 0
    table = maps_markdown(result)
    assert "palette mIoU" in table and "IoU water" in table and "FID / KID, training vs held-out photos" in table


def test_one_direction_continues_from_the_merged_folder_and_the_other_rides_along(paired_dataset, tmp_path):
    a2b = train_pix2pix.main(train_pix2pix.parse_args(tiny_args(paired_dataset, tmp_path / "a2b", "a2b",
                                                                "--max_steps", "2", "--d_warmup_steps", "100")))
    assert json.loads((a2b / "metrics.json").read_text())["step"] == 2  # a D-only run's scores are of step 2 too
    b2a = train_pix2pix.main(train_pix2pix.parse_args(tiny_args(paired_dataset, tmp_path / "b2a", "b2a",
                                                                "--max_steps", "3")))
    merged = merge_pix2pix.merge([a2b, b2a], tmp_path / "merged", fp16=True)
    d_before = load_file(merged / "discriminator" / "diffusion_pytorch_model.safetensors")
    assert {k.split(".")[1] for k in d_before} == {"a2b", "b2a"}  # both PatchGANs, as the U-Nets
    assert json.loads((merged / "training_state.json").read_text())["step"] == 3
    g_before = generator_weights(merged)

    out = train_pix2pix.main(train_pix2pix.parse_args(tiny_args(
        paired_dataset, tmp_path / "more", "a2b", "--max_steps", "5", "--resume_from_weights", str(merged))))
    rows = [json.loads(line) for line in (tmp_path / "more" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "d_loss" in r] == [4, 5]  # the merged folder's step count goes on
    g_after, d_after = generator_weights(out), load_file(out / "discriminator" / "diffusion_pytorch_model.safetensors")
    for key in g_before:
        same = torch.equal(g_before[key].float(), g_after[key].float())
        if key.startswith("nets.b2a."):  # carried untouched, BatchNorm statistics included
            assert same, key
    assert any(not torch.equal(g_before[k].float(), g_after[k].float()) for k in g_before if ".a2b." in k)
    for key in d_before:
        if key.startswith("nets.b2a."):
            assert torch.equal(d_before[key].float(), d_after[key].float()), key
    assert any(not torch.equal(d_before[k].float(), d_after[k].float()) for k in d_before if ".a2b." in k)
    assert Pix2PixPipeline.from_pretrained(out).directions == ["a2b", "b2a"]  # the app's folder again

    import attach_discriminator  # the same join for D-only runs attached to a folder that had no D
    attach_discriminator.attach(tmp_path / "merged", [a2b, b2a], step=9)
    joined = Pix2PixDiscriminator.load_strict(merged / "discriminator")
    assert joined.directions == ["a2b", "b2a"]
    with pytest.raises(SystemExit, match="in another run"):
        attach_discriminator.attach(tmp_path / "merged", [a2b, a2b], step=9)

    (merged / "discriminator" / "config.json").write_text(json.dumps({"a2b": json.loads(
        (merged / "discriminator" / "config.json").read_text())["a2b"]}))
    with pytest.raises(SystemExit, match="must match"):
        train_pix2pix.main(train_pix2pix.parse_args(tiny_args(
            paired_dataset, tmp_path / "bad", "a2b", "--max_steps", "5", "--resume_from_weights", str(merged))))


def test_training_goes_on_from_the_embedded_maps_weights(paired_dataset, tmp_path):
    """Either direction continues from the gallery's folder (its PatchGANs are --d_channels 32); the other rides along."""
    folder = DEMOS["maps"].embedded
    step = json.loads((folder / "training_state.json").read_text())["step"]
    out = tmp_path / "more"
    result = train_pix2pix.main(train_pix2pix.parse_args([
        "--dataset", str(paired_dataset), "--output_dir", str(out), "--direction", "b2a", "--load_size", "256",
        "--d_channels", "32", "--resume_from_weights", str(folder), "--batch_size", "1", "--max_steps", str(step + 1),
        "--report_to", "none", "--log_steps", "1", "--sample_steps", "100000", "--checkpointing_steps", "100000",
        "--snapshot_steps", "0", "--num_sample_pairs", "1", "--threads", "1"]))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [step + 1] and "g_adv" in rows[0]
    before, after = generator_weights(folder), generator_weights(result)
    assert all(torch.equal(before[k].float(), after[k].float()) for k in before if k.startswith("nets.a2b."))


def test_merged_discriminator_needs_every_folder_to_carry_one(tmp_path):
    g = Pix2PixGenerator(a2b=TINY)
    common.save_pipeline(Pix2PixPipeline(g), tmp_path / "a")  # no discriminator
    d = Pix2PixDiscriminator(b2a=dict(base_channels=4, num_layers=2))
    common.save_pipeline(Pix2PixPipeline(Pix2PixGenerator(b2a=TINY)), tmp_path / "b", discriminator=d, step=7,
                         ema_updates=7)
    assert merge_pix2pix.merge_discriminators([tmp_path / "a", tmp_path / "b"]) == (None, {})
    merged, state = merge_pix2pix.merge_discriminators([tmp_path / "b"])
    assert merged.directions == ["b2a"] and state == {"step": 7, "ema_updates": 7}


def test_resumed_run_ends_where_an_uninterrupted_run_ends(paired_dataset, tmp_path):
    straight = train_pix2pix.main(train_pix2pix.parse_args(tiny_args(paired_dataset, tmp_path / "a", "b2a",
                                                                     "--max_steps", "4")))
    train_pix2pix.main(train_pix2pix.parse_args(tiny_args(paired_dataset, tmp_path / "b", "b2a", "--max_steps", "2")))
    resumed = train_pix2pix.main(train_pix2pix.parse_args(tiny_args(
        paired_dataset, tmp_path / "b", "b2a", "--max_steps", "4", "--resume_from_checkpoint", "latest")))
    a, b = generator_weights(straight), generator_weights(resumed)
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-4, msg=key)


def test_max_minutes_stops_with_a_checkpoint_and_snapshots_load(paired_dataset, tmp_path):
    out = tmp_path / "run"
    folder = train_pix2pix.main(train_pix2pix.parse_args(tiny_args(
        paired_dataset, out, "a2b", "--max_steps", "1000", "--max_minutes", "1e-9", "--checkpointing_steps", "1000",
        "--sample_steps", "1000", "--snapshot_steps", "25", "--log_steps", "25", "--batch_size", "2")))
    assert [p.name for p in common.list_checkpoints(out)] == ["checkpoint-25"]  # stopped at the first check
    assert Pix2PixPipeline.from_pretrained(out / "snapshots" / "step-0000025").directions == ["a2b"]
    assert json.loads((folder / "metrics.json").read_text())["step"] == 25


class PixelFeatures:  # a stand-in for Inception (not a test dependency): cheap per-image statistics
    name = "pixels"

    def __call__(self, images):
        x = images.float().flatten(2)
        return torch.cat([x.mean(2), x.std(2), x.amax(2), x.amin(2)], 1).double().numpy()


# ----------------------------------------------------------------------------- the tab and the endpoint
@pytest.fixture(scope="module")
def maps_models(tiny_maps_folder):
    return Models({"maps": (str(tiny_maps_folder), None)}, use_hub=False)


def test_tab_functions(maps_models):
    translate, sketch, example = make_maps_fns(maps_models)
    path, download, note = translate(Image.new("RGB", (70, 50), (80, 90, 70)), "a2b", "tiles")
    assert path == download and note.startswith("aerial -> map:") and "70x50 out" in note
    with Image.open(path) as im:
        assert im.size == (70, 50) and im.format == "PNG"
    again, _, _ = translate(Image.new("RGB", (70, 50), (80, 90, 70)), "a2b", "tiles")
    assert again != path  # a file of its own per request
    drawn, direction = example("map", 4)
    assert direction == "b2a" and drawn.size == (32, 32)
    aerial, direction = example("aerial", 4)
    assert direction == "a2b" and aerial.size == (32, 32)
    canvas = Image.new("RGBA", (32, 32), (0, 0, 0, 0))  # nothing painted: map background
    painted, painted_note = sketch({"background": None, "layers": [], "composite": canvas})
    assert Image.open(painted).size == (32, 32) and painted_note.startswith("map -> aerial")
    painted, _ = sketch({"background": draw_map(2, 40), "layers": [], "composite": None})  # set by a button, unpainted
    assert Image.open(painted).size == (40, 40)


@pytest.mark.parametrize("call, message", [
    (lambda f: f[0](None, "a2b", "tiles"), "Upload or paste a picture first"),
    (lambda f: f[0](Image.new("RGB", (1, 1)), "a2b", "tiles"), "too small to translate"),
    (lambda f: f[0](Image.new("RGB", (40, 40)), "up", "tiles"), "direction must be"),
    (lambda f: f[1]({"background": None, "layers": [], "composite": None}), "Paint a map first"),
    (lambda f: f[1](None), "Paint a map first"),
    (lambda f: f[2]("map", -1), "seed must be between"),
])
def test_tab_turns_bad_input_into_a_user_error(maps_models, call, message):
    with pytest.raises(gr.Error, match=message):
        call(make_maps_fns(maps_models))


def test_maps_endpoint_through_gradio_client(maps_models, tmp_path):
    import socket

    from gradio_client import Client, handle_file

    import app

    demo = app.build_demo(maps_models)
    names = {dep.get("api_name") for dep in demo.config["dependencies"]}
    assert {"maps", "maps_sketch", "faces", "digits"} <= names
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.queue(max_size=app.QUEUE_SIZE, default_concurrency_limit=2)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        upload = tmp_path / "aerial.png"
        Image.new("RGBA", (64, 40), (60, 80, 60, 255)).save(upload)
        image, download, note = client.predict(handle_file(str(upload)), "a2b", "tiles", api_name="/maps")
        with Image.open(download) as im:
            assert im.size == (64, 40)
        assert "aerial -> map" in note
        with pytest.raises(Exception, match="too small|1x1"):
            Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
            client.predict(handle_file(str(tmp_path / "dot.png")), "a2b", "tiles", api_name="/maps")
        image, _, _ = client.predict(handle_file(str(upload)), "b2a", "fit", api_name="/maps")  # still serving
        assert Image.open(image).size == (32, 32)
    finally:
        demo.close()


def test_eval_steps_keep_the_best_generator(paired_dataset, tmp_path, monkeypatch):
    """The held-out mIoUs are fixed by the test (the best at step 2 of 4: neither the first nor the last), so which
    generator is kept is known: the one judged at step 2, recorded as it was judged."""
    real_judge, judged = train_pix2pix.Judge.__call__, []
    mious = [0.2, 0.6, 0.4, 0.3]  # steps 1, 2, 3, 4

    def scripted(self, generator, direction):
        judged.append({k: v.detach().clone() for k, v in generator.state_dict().items()})
        return {**real_judge(self, generator, direction), "miou": mious[len(judged) - 1]}

    monkeypatch.setattr(train_pix2pix.Judge, "__call__", scripted)
    out = tmp_path / "best"
    folder = train_pix2pix.main(train_pix2pix.parse_args(
        tiny_args(paired_dataset, out, "a2b", "--max_steps", "4", "--eval_steps", "1")))
    evals = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if "eval/l1" in line]
    assert [e["step"] for e in evals] == [1, 2, 3, 4] and [e["eval/miou"] for e in evals] == mious
    assert len(judged) == 4 and any(not torch.equal(judged[1][k], judged[3][k]) for k in judged[1])  # G moved
    saved = json.loads((folder / "metrics.json").read_text())
    assert saved["step"] == 2 and saved["miou"] == 0.6
    assert json.loads((out / "best_generator" / "metrics.json").read_text())["step"] == 2
    kept = generator_weights(out / "best_generator")
    assert kept.keys() == judged[1].keys() and all(torch.equal(kept[k], judged[1][k]) for k in kept)
    final = generator_weights(folder)  # generator/: the same weights (BatchNorm re-estimated)
    params = [k for k in kept if "running" not in k and "num_batches" not in k]
    assert params and all(torch.equal(final[k], judged[1][k]) for k in params)
    assert Pix2PixPipeline.from_pretrained(folder).directions == ["a2b"]
