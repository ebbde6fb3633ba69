"""CycleGAN on the Maps tab: the networks (shapes, the paper's sizes), the losses and the pool of fakes, the pipeline
(translation, the way there and back, the hidden-signal view), the training script (unpaired sampling, a two-step
`accelerate launch` run, resume, going on from G + D), both models in one evaluation table, and the tab with the
CycleGAN weights missing and with a tiny folder. Tiny models only; the pictures are drawn by code."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

import train_cyclegan
from conftest import generator_weights
from gan_models.core.checks import InputError
from gan_models.core.modeling import WeightsError
from gan_models.judges.maps_eval import evaluate_maps_models, models_markdown
from gan_models.losses import discriminator_loss
from gan_models.maps.cycle_pipeline import CycleGANPipeline
from gan_models.maps.cyclegan import CycleGANDiscriminator, CycleGANGenerator, PatchGAN, ResnetGenerator
from gan_models.maps.palette import draw_map, flat_colours, synthetic_pair
from gan_models.maps.pipeline import Pix2PixPipeline
from gan_models.maps.pix2pix import Pix2PixGenerator
from gan_models.registry import DEMOS
from tabs.common import Models
from tabs.maps import make_cycle_fns, make_maps_fns, weights_note

ROOT = Path(__file__).resolve().parents[1]
TINY = {"base_channels": 4, "num_blocks": 1}
count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731


def tiny_pipeline(seed: int = 0, tile: int = 32) -> CycleGANPipeline:
    torch.manual_seed(seed)
    return CycleGANPipeline(CycleGANGenerator(a2b=TINY, b2a=TINY, a_name="aerial", b_name="map", tile_size=tile))


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("w") / "cyclegan_maps"
    tiny_pipeline().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def pix2pix_folder(tmp_path_factory):
    torch.manual_seed(1)
    unet = {"base_channels": 4, "num_downs": 5, "max_mult": 2}
    folder = tmp_path_factory.mktemp("w") / "maps"
    Pix2PixPipeline(Pix2PixGenerator(a2b=unet, b2a=unet, a_name="aerial", b_name="map").eval()).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def paired_dataset(tmp_path_factory):
    """24 pairs (fake aerial, drawn map) of 40x40, as parquet with the real data's column names."""
    import datasets

    pairs = [synthetic_pair(i, 40) for i in range(24)]
    features = datasets.Features({"aerial": datasets.Image(), "map": datasets.Image()})
    folder = tmp_path_factory.mktemp("pairs")
    datasets.Dataset.from_dict({"aerial": [a for a, _ in pairs], "map": [m for _, m in pairs]},
                               features=features).to_parquet(str(folder / "train.parquet"))
    return folder


# ----------------------------------------------------------------------------- networks
def test_generator_and_patchgan_shapes_and_the_papers_sizes():
    g = ResnetGenerator(**TINY)
    y = g(torch.rand(2, 3, 32, 48) * 2 - 1)  # fully convolutional: any sides that are multiples of 4
    assert y.shape == (2, 3, 32, 48) and y.abs().max() <= 1
    d = PatchGAN(base_channels=4)
    assert d(torch.zeros(2, 3, 128, 128)).shape == (2, 1, 14, 14)  # the training crops
    assert d(torch.zeros(1, 3, 256, 256)).shape == (1, 1, 30, 30)  # 70x70 patches, as pix2pix's
    # the reference implementation's parameter counts: resnet_9blocks, resnet_6blocks (ngf 64), the basic D (ndf 64)
    assert count(ResnetGenerator(base_channels=64, num_blocks=9)) == 11_378_179
    assert count(ResnetGenerator(base_channels=64, num_blocks=6)) == 7_837_699
    assert count(PatchGAN(base_channels=64)) == 2_764_737
    # the gallery's CPU defaults (train_cyclegan.py): about 1 MB per generator, 1.4 MB per D in fp16
    args = train_cyclegan.parse_args([])
    assert count(ResnetGenerator(base_channels=args.g_channels, num_blocks=args.g_blocks)) == 494_083
    assert count(PatchGAN(base_channels=args.d_channels)) == 694_241


def test_both_directions_in_one_model_and_bad_settings_refused(tiny_folder, tmp_path):
    g = CycleGANPipeline.from_pretrained(tiny_folder).generator
    assert g.directions == ["a2b", "b2a"] and g.tile_size == 32
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert not torch.equal(g(x, "a2b"), g(x, "b2a"))  # two networks
    d = CycleGANDiscriminator(a2b={"base_channels": 4}, b2a={"base_channels": 4})
    assert d(torch.zeros(2, 3, 64, 64), "b2a").shape == (2, 1, 6, 6)
    with pytest.raises(ValueError, match="multiple of 4"):
        CycleGANGenerator(tile_size=30)
    import shutil

    for change, message in [({"b2a": {**TINY, "base_channels": 8}}, "does not match.*wrong shape"),
                            ({"a2b": {**TINY, "width": 3}}, "'width' is not a setting of ResnetGenerator"),
                            ({"tile_size": 30}, "multiple of 4")]:
        folder = tmp_path / "bad"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(tiny_folder, folder)
        config = json.loads((folder / "generator" / "config.json").read_text())
        (folder / "generator" / "config.json").write_text(json.dumps({**config, **change}))
        with pytest.raises(WeightsError, match=message):
            CycleGANPipeline.from_pretrained(folder)


def test_the_defaults_are_the_cpu_runs_and_the_decay_is_the_second_half():
    args = train_cyclegan.parse_args([])
    assert (args.batch_size, args.crop_size, args.eval_size, args.holdout, args.holdout_seed) == (1, 128, 256, 100, 0)
    assert (args.cycle_weight, args.identity_weight, args.pool_size) == (10.0, 0.5, 50)
    assert args.decay_steps == args.max_steps // 2 == 25_000
    assert train_cyclegan.parse_args(["--max_steps", "10", "--decay_steps", "0"]).decay_steps == 0


# ----------------------------------------------------------------------------- losses, the pool of fakes
def test_lsgan_losses_as_the_paper():
    ones, zeros = torch.ones(2, 1, 3, 3), torch.zeros(2, 1, 3, 3)
    assert train_cyclegan.lsgan_g(ones) == 0 and train_cyclegan.lsgan_g(zeros) == 1  # G: (D(G(x)) - 1)^2
    assert discriminator_loss("lsgan", ones, zeros) == 0                              # D: halved (real + fake)
    assert discriminator_loss("lsgan", zeros, ones) == 1


def test_the_pool_shows_older_fakes_and_keeps_what_it_swaps():
    torch.manual_seed(0)
    pool = train_cyclegan.FakePool(4, (1, 1, 1))
    batch = lambda first: torch.arange(first, first + 2, dtype=torch.float32).view(2, 1, 1, 1)  # noqa: E731
    assert torch.equal(pool.query(batch(0)), batch(0)) and torch.equal(pool.query(batch(2)), batch(2))  # filling
    assert sorted(pool.images.flatten().tolist()) == [0, 1, 2, 3] and int(pool.count) == 4
    older = 0
    for first in range(4, 404, 2):  # full: each new fake shown, or swapped for a stored one
        before = pool.images.flatten().tolist()
        out = pool.query(batch(first)).flatten().tolist()
        after = pool.images.flatten().tolist()
        assert sorted(before + [first, first + 1]) == sorted(after + out)  # nothing lost, nothing made up
        older += sum(v < first for v in out)
    assert 150 < older < 250  # about half of the 400 shown were older fakes
    copy = train_cyclegan.FakePool(4, (1, 1, 1))
    copy.load_state_dict(pool.state_dict())  # a resumed run's pool: the same fakes, the same next answers
    state = torch.get_rng_state()
    expected = pool.query(batch(1000))
    torch.set_rng_state(state)
    assert torch.equal(copy.query(batch(1000)), expected)
    assert torch.equal(train_cyclegan.FakePool(0, (1, 1, 1)).query(batch(7)), batch(7))  # --pool_size 0: no pool


def test_aerial_photos_and_maps_are_drawn_from_independent_permutations():
    a, b = train_cyclegan.unpaired_streams(30, batch_size=3, seed=5)
    same, total = 0, 0
    for epoch in range(40):
        ia = torch.cat([a.batch(epoch * 10 + i)[0] for i in range(10)])
        ib = torch.cat([b.batch(epoch * 10 + i)[0] for i in range(10)])
        assert sorted(ia.tolist()) == sorted(ib.tolist()) == list(range(30))  # every place once a side per epoch
        same += int((ia == ib).sum())
        total += len(ia)
    assert same / total < 0.1  # photo and map of the same place together by chance only (1 in 30), never by design
    again, _ = train_cyclegan.unpaired_streams(30, batch_size=3, seed=5)
    assert torch.equal(again.batch(17)[0], a.batch(17)[0])  # a pure function of the step: resumes see the same


# ----------------------------------------------------------------------------- the pipeline
def test_pipeline_translates_any_size_in_tiles_like_pix2pix(tiny_folder):
    pipe = CycleGANPipeline.from_pretrained(tiny_folder)
    assert sorted(p.name for p in tiny_folder.iterdir()) == ["cyclegan_maps.py", "generator", "model_index.json"]
    out = pipe(Image.new("RGB", (100, 60), (90, 100, 80)), "b2a")
    assert out.images[0].size == (100, 60) and "map -> aerial: 8 tiles of 32x32" in out.messages[0]
    assert pipe(synthetic_pair(3, 90)[0], "a2b", mode="fit").images[0].size == (32, 32)
    a, b = (np.asarray(pipe(draw_map(2, 64), d, output_type="np").images[0]) for d in ("a2b", "b2a"))
    assert not np.array_equal(a, b)
    with pytest.raises(InputError, match=r"direction must be 'a2b' \(aerial -> map\)"):
        pipe(draw_map(2, 64), "sideways")
    half = CycleGANPipeline.from_pretrained(tiny_folder, torch_dtype=torch.float16)
    assert next(half.generator.parameters()).dtype == torch.float16


def identity() -> torch.nn.Module:
    """A network that changes nothing (a 1x1 convolution with the identity matrix: exact in float32)."""
    conv = torch.nn.Conv2d(3, 3, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(3)[:, :, None, None])
    return conv


def test_the_way_back_of_identity_networks_is_exact_and_the_noise_shows_in_the_error():
    """With networks that change nothing, photo -> map -> photo gives the photo back to the level, PSNR infinite;
    noise of sigma 4 levels on the way back leaves a mean error of about 4 x sqrt(2 / pi) = 3.2 levels."""
    pipe = tiny_pipeline()
    pipe._inference_nets = lambda: {"a2b": identity(), "b2a": identity()}
    photo = synthetic_pair(1, 64)[0]
    clean = pipe.cycle(photo, "a2b", output_type="np")
    assert clean.error == 0 and clean.psnr == float("inf") and len(clean.images) == 4
    assert np.array_equal(clean.images[2], clean.images[0]) and not clean.images[3].any()  # black: no error
    noisy = pipe.cycle(photo, "a2b", noise=4.0, seed=3, output_type="np")
    assert 2.8 < noisy.error < 3.6 and 34 < noisy.psnr < 38, (noisy.error, noisy.psnr)
    assert not np.array_equal(noisy.images[1], noisy.images[0])  # the map as it went back carries the noise
    shown = np.abs(noisy.images[2] - noisy.images[0]).mean(-1) * 4  # the error picture: |difference| x4, grey
    np.testing.assert_allclose(noisy.images[3][..., 0], np.minimum(shown, 1), atol=1 / 255)
    assert pipe.cycle(photo, "a2b", noise=4.0, seed=3).messages == noisy.messages  # seeded
    assert pipe.cycle(photo, "a2b", noise=4.0, seed=4, output_type="np").error != noisy.error
    assert "noise sigma 4 levels on the way back" in noisy.messages[0]


def test_the_cycle_of_a_tiny_model_reports_the_error_of_what_it_shows(tiny_folder):
    pipe = CycleGANPipeline.from_pretrained(tiny_folder)
    out = pipe.cycle(synthetic_pair(2, 70)[0], "a2b", output_type="np")
    assert [im.shape for im in out.images] == [(70, 70, 3)] * 4
    assert out.labels == ["input", "aerial -> map", "map -> aerial", "|input - reconstruction| x4"]
    error = np.abs(out.images[2] - out.images[0]).mean() * 255
    assert out.error == pytest.approx(error, abs=0.01) and out.error > 1
    assert out.messages[0].startswith("aerial -> map -> aerial: reconstruction error")
    with pytest.raises(InputError, match="noise must be between 0.0 and 64.0"):
        pipe.cycle(draw_map(1, 40), "b2a", noise=100)
    with pytest.raises(InputError, match="noise must be a finite number"):
        pipe.cycle(draw_map(1, 40), "b2a", noise=float("nan"))


def test_the_hidden_signal_view_shows_a_faint_pattern_in_a_flat_map():
    """A map drawn in flat colours with a pattern of +-2 levels added: invisible, but its difference from its flat
    colours, amplified, is the pattern (where the drawn map itself is flat); the clean map's is not."""
    pipe = tiny_pipeline()
    drawn = torch.from_numpy(np.asarray(draw_map(5, 128)).copy()).permute(2, 0, 1)  # uint8 3 x 128 x 128
    flat_area = (drawn.int() - flat_colours(drawn).int()).abs().amax(0) == 0        # away from the drawn edges
    assert flat_area.float().mean() > 0.3
    pattern = torch.from_numpy(np.random.default_rng(0).integers(-2, 3, (1, 128, 128))).expand(3, -1, -1)
    hidden = (drawn.int() + pattern).clamp(0, 255).to(torch.uint8)

    def amplified(picture):  # what the view shows, back in levels of difference
        out = pipe.hidden_signal(Image.fromarray(picture.permute(1, 2, 0).numpy()), gain=30, output_type="np")
        return (torch.from_numpy(out.images[1]).permute(2, 0, 1) * 255 - 127.5) / 30, out.messages[0]

    seen, message = amplified(hidden)
    truth = pattern[:, flat_area].double().flatten()
    assert np.corrcoef(seen[:, flat_area].double().flatten(), truth)[0, 1] > 0.95
    clean, _ = amplified(drawn)
    assert clean[:, flat_area].abs().max() < 0.02  # the clean map's flat areas: mid-grey, nothing there
    assert message.startswith("the map differs from its flat colours by") and "30 times larger" in message
    with pytest.raises(InputError, match="gain must be between 1.0 and 1000.0"):
        pipe.hidden_signal(draw_map(1, 32), gain=0)


# ----------------------------------------------------------------------------- training
def tiny_args(dataset, out, *extra):
    return ["--dataset", str(dataset), "--output_dir", str(out), "--load_size", "36", "--crop_size", "32",
            "--eval_size", "40", "--g_channels", "4", "--g_blocks", "1", "--d_channels", "4", "--batch_size", "2",
            "--holdout", "6", "--pool_size", "3", "--report_to", "none", "--log_steps", "1", "--sample_steps", "2",
            "--checkpointing_steps", "2", "--num_sample_pairs", "2", "--threads", "1", *extra]


def test_accelerate_launch_two_steps_then_resume(paired_dataset, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", str(ROOT / "training" / "train_cyclegan.py"),
           *tiny_args(paired_dataset, out, "--max_steps", "2")]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "18 training places (6 held-out pairs), unpaired: aerial <-> map" in result.stdout
    assert (out / "checkpoints" / "checkpoint-2" / "complete.json").is_file()
    folder = out / "pipeline"
    pipe = CycleGANPipeline.from_pretrained(folder)
    assert pipe.directions == ["a2b", "b2a"] and pipe.tile_size == 40
    assert CycleGANDiscriminator.load_strict(folder / "discriminator")  # D shipped with the weights
    assert json.loads((folder / "training_state.json").read_text()) == {"step": 2, "ema_updates": 2}
    scores = json.loads((folder / "metrics.json").read_text())
    assert scores["step"] == 2 and scores["num_pairs"] == 6 and 0 <= scores["miou"] <= 1
    assert {"l1_a2b", "l1_b2a", "cycle_l1_a2b2a", "pixel_accuracy"} <= set(scores)
    card = (folder / "README.md").read_text()
    assert "palette mIoU" in card and "Training never saw a pair" in card and "trust_remote_code=True" in card
    with Image.open(out / "samples" / "step-0000002.png") as grid:  # rows: a | G(a) | F(G(a)) | b | F(b) | G(F(b))
        assert grid.size == (6 * 42 + 2, 2 * 42 + 2)

    train_cyclegan.main(train_cyclegan.parse_args(tiny_args(paired_dataset, out, "--max_steps", "4",
                                                            "--resume_from_checkpoint", "latest")))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "d_loss" in r] == [1, 2, 3, 4]  # resumed at step 2, not from scratch
    assert {"g_adv", "g_cycle", "g_idt", "d_real", "d_fake"} <= set(rows[0])


def test_a_resumed_run_ends_where_an_uninterrupted_run_ends(paired_dataset, tmp_path):
    """The pools of fakes, the EMA and both data streams are in the checkpoint: 2 + 2 steps = 4 steps."""
    straight = train_cyclegan.main(train_cyclegan.parse_args(tiny_args(paired_dataset, tmp_path / "a",
                                                                       "--max_steps", "4", "--holdout", "0")))
    train_cyclegan.main(train_cyclegan.parse_args(tiny_args(paired_dataset, tmp_path / "b", "--max_steps", "2",
                                                            "--holdout", "0")))
    resumed = train_cyclegan.main(train_cyclegan.parse_args(tiny_args(
        paired_dataset, tmp_path / "b", "--max_steps", "4", "--holdout", "0", "--resume_from_checkpoint", "latest")))
    a, b = generator_weights(straight), generator_weights(resumed)
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-4, msg=key)


def test_the_exported_folder_ships_d_in_fp16_and_training_goes_on_from_it(paired_dataset, tmp_path):
    """export_cyclegan.py makes the folder the gallery embeds (G and D in fp16, no sample grid); --resume_from_weights
    goes on from it with its step count."""
    import export_cyclegan
    from safetensors.torch import load_file

    first = train_cyclegan.main(train_cyclegan.parse_args(tiny_args(paired_dataset, tmp_path / "a", "--max_steps", "2",
                                                                    "--identity_weight", "0")))
    folder = export_cyclegan.export(first, tmp_path / "cyclegan_maps")
    assert not list(folder.glob("*.png")) and (folder / "README.md").is_file() and (folder / "metrics.json").is_file()
    for part in ("generator", "discriminator"):
        tensors = load_file(str(folder / part / "diffusion_pytorch_model.safetensors"))
        assert {t.dtype for t in tensors.values()} == {torch.float16}
    assert CycleGANPipeline.from_pretrained(folder).directions == ["a2b", "b2a"]
    more = train_cyclegan.main(train_cyclegan.parse_args(tiny_args(
        paired_dataset, tmp_path / "b", "--max_steps", "3", "--resume_from_weights", str(folder))))
    rows = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "d_loss" in r] == [3]  # the folder's step count goes on
    before, after = generator_weights(folder), generator_weights(more)
    assert any(not torch.equal(before[k].float(), after[k].float()) for k in before)
    with pytest.raises(SystemExit, match="carries no discriminator/"):
        export_cyclegan.export(tmp_path / "b" / "checkpoints", tmp_path / "x")
    with pytest.raises(SystemExit, match="the generator does not fit"):
        train_cyclegan.main(train_cyclegan.parse_args(tiny_args(
            paired_dataset, tmp_path / "c", "--max_steps", "3", "--g_channels", "8", "--resume_from_weights",
            str(first))))
    with pytest.raises(SystemExit, match="--crop_size 30 is not a multiple of 4"):
        train_cyclegan.main(train_cyclegan.parse_args(tiny_args(paired_dataset, tmp_path / "d", "--crop_size", "30")))


# ----------------------------------------------------------------------------- evaluation
def test_both_models_in_one_table(paired_dataset, tiny_folder, pix2pix_folder):
    from conftest import PixelFeatures

    pipes = {"pix2pix": Pix2PixPipeline.from_pretrained(pix2pix_folder),
             "CycleGAN": CycleGANPipeline.from_pretrained(tiny_folder)}
    result = evaluate_maps_models(pipes, str(paired_dataset), holdout=6, features=PixelFeatures())
    assert list(result["models"]) == ["pix2pix", "CycleGAN"] and result["num_pairs"] == 6
    for one in result["models"].values():
        a2b, b2a = one["directions"]["a2b"], one["directions"]["b2a"]
        assert 0 <= a2b["miou"] <= 1 and a2b["cycle_l1"] > 0 and b2a["cycle_l1"] > 0 and b2a["fid_kid"]["num_fake"] == 6
    table = models_markdown(result)
    assert "| | pix2pix | CycleGAN |" in table
    miou = table.split("| aerial → map: palette mIoU | ")[1].split(" |")[0]
    assert miou == str(result["models"]["pix2pix"]["directions"]["a2b"]["miou"])
    assert "aerial → map → aerial: L1 to the input" in table and "the floor at this count" in table


# ----------------------------------------------------------------------------- the tab
def test_the_tab_with_the_cyclegan_weights_not_installed(pix2pix_folder, tmp_path, monkeypatch):
    monkeypatch.setitem(DEMOS, "cyclegan_maps", dataclasses.replace(DEMOS["cyclegan_maps"], weights_dir=tmp_path))
    models = Models({"maps": (str(pix2pix_folder), None)}, use_hub=False)
    translate, _, _ = make_maps_fns(models)
    compare, cycle = make_cycle_fns(models)
    picture = synthetic_pair(4, 48)[0]
    with pytest.raises(gr.Error, match="weights are not installed yet: training/train_cyclegan.py makes them"):
        translate(picture, "a2b", "tiles", "cyclegan", progress=None)
    assert translate(picture, "a2b", "tiles", progress=None)[2].startswith("aerial -> map:")  # pix2pix, as before
    paired, unpaired, note = compare(picture, "a2b", "tiles", progress=None)
    assert Image.open(paired).size == (48, 48) and unpaired is None
    assert "paired (pix2pix): aerial -> map" in note and "unpaired (CycleGAN): " in note and "not installed" in note
    gallery, note = cycle(picture, "a2b", "tiles", "pix2pix", 0.0, 25.0, progress=None)  # pix2pix goes there and back
    assert len(gallery) == 5 and note.startswith("paired (pix2pix): aerial -> map -> aerial")
    foot = weights_note(models)
    assert foot.startswith(f"paired (pix2pix): Weights: folder {pix2pix_folder}") and "not installed yet" in foot


def test_the_tab_with_a_tiny_cyclegan(pix2pix_folder, tiny_folder):
    models = Models({"maps": (str(pix2pix_folder), None), "cyclegan_maps": (str(tiny_folder), None)}, use_hub=False)
    translate, _, _ = make_maps_fns(models)
    compare, cycle = make_cycle_fns(models)
    picture = synthetic_pair(4, 48)[0]
    path, _, note = translate(picture, "a2b", "tiles", "cyclegan", progress=None)
    assert note.startswith("unpaired (CycleGAN), aerial -> map: 4 tiles of 32x32") and Image.open(path).size == (48, 48)
    paired, unpaired, note = compare(picture, "b2a", "fit", progress=None)
    with Image.open(paired) as p, Image.open(unpaired) as u:
        assert p.size == u.size == (32, 32) and p.tobytes() != u.tobytes()
    gallery, note = cycle(picture, "a2b", "tiles", "cyclegan", 2.0, 40.0, progress=None)
    assert [caption for _, caption in gallery] == ["input", "aerial -> map", "map -> aerial",
                                                   "|input - reconstruction| x4",
                                                   "the map (with the noise) minus its flat colours, x40"]
    assert note.startswith("unpaired (CycleGAN): aerial -> map -> aerial: reconstruction error")
    assert "noise sigma 2 levels" in note and "The map differs from its flat colours by" in note
    gallery, note = cycle(draw_map(3, 48), "b2a", "fit", "cyclegan", 0.0, 25.0, progress=None)
    assert len(gallery) == 4 and "needs a map in the middle" in note
    for args, message in [((picture, "a2b", "tiles", "cyclegan", float("nan"), 25.0), "noise must be a finite"),
                          ((picture, "a2b", "tiles", "cyclegan", 1.0, 500.0), "gain must be between 1.0 and 200.0"),
                          ((None, "a2b", "tiles", "cyclegan", 1.0, 25.0), "Upload or paste a picture first"),
                          ((picture, "a2b", "tiles", "stylegan", 1.0, 25.0), "model must be one of pix2pix, cyclegan")]:
        with pytest.raises(gr.Error, match=message):
            cycle(*args, progress=None)
    assert "folder " + str(tiny_folder) in weights_note(models)


def test_the_maps_endpoints_through_gradio_client(pix2pix_folder, tiny_folder, tmp_path):
    """/maps as existing clients call it (three values: pix2pix), with the model, and the two new endpoints."""
    import socket

    from gradio_client import Client, handle_file

    import app

    models = Models({"maps": (str(pix2pix_folder), None), "cyclegan_maps": (str(tiny_folder), None)}, use_hub=False)
    demo = app.build_demo(models)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.queue(max_size=app.QUEUE_SIZE, default_concurrency_limit=2)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        upload = tmp_path / "aerial.png"
        synthetic_pair(5, 64)[0].save(upload)
        _, download, note = client.predict(handle_file(str(upload)), "a2b", "tiles", api_name="/maps")
        assert note.startswith("aerial -> map: 9 tiles") and Image.open(download).size == (64, 64)
        _, _, note = client.predict(handle_file(str(upload)), "a2b", "fit", "cyclegan", api_name="/maps")
        assert note.startswith("unpaired (CycleGAN), aerial -> map:") and "1 tile of 32x32" in note
        paired, unpaired, note = client.predict(handle_file(str(upload)), "a2b", "fit", api_name="/maps_compare")
        assert Image.open(paired).size == Image.open(unpaired).size == (32, 32)
        gallery, note = client.predict(handle_file(str(upload)), "a2b", "fit", "cyclegan", 1.0, 25.0,
                                       api_name="/maps_cycle")
        assert len(gallery) == 5 and "reconstruction error" in note
    finally:
        demo.close()
