"""The GAN playground: toy data, losses, the coverage metric, rendering, the CLI and the tab's functions."""

from __future__ import annotations

import threading
import time

import gradio as gr
import pytest
import torch
from PIL import Image

from gan_models.core.checks import InputError
from gan_models.playground.__main__ import main
from gan_models.playground.toy_gan import LOSSES, MODE_STD, ToyGAN, mode_coverage, sample_target, target_centres
from gan_models.playground.render import render, to_pixels, to_plane
from tabs import playground as tab


def coverage_by_hand(samples, centres, std=MODE_STD, min_share=0.2):
    """The metric's definition, written out: a sample is good within 3 std of its nearest centre; a mode is covered
    with at least min_share of its fair share of good samples."""
    import math

    import numpy as np

    x, c = np.asarray(samples, np.float64), np.asarray(centres, np.float64)
    dist = np.sqrt(((x[:, None, :] - c[None, :, :]) ** 2).sum(-1))  # N x K
    good = dist.min(1) <= 3 * std
    counts = np.bincount(dist.argmin(1)[good], minlength=len(c))
    need = max(1, math.ceil(min_share * len(x) / len(c)))
    return int((counts >= need).sum()), float(good.mean())


def test_coverage_is_full_on_the_target_and_one_mode_on_a_single_mode():
    centres = target_centres("ring")
    real = sample_target("ring", 2500, torch.Generator().manual_seed(0))
    cov = mode_coverage(real, centres, MODE_STD)  # 1 - exp(-9/2) = 98.9% of a 2-D Gaussian lies within 3 std
    covered, good = coverage_by_hand(real, centres)
    assert (cov["modes_covered"], cov["num_modes"]) == (8, 8) == (covered, 8)
    assert cov["high_quality"] == pytest.approx(good, abs=1e-6) and 0.98 < good < 1  # the share counted here
    one = centres[3] + MODE_STD * torch.randn(2500, 2, generator=torch.Generator().manual_seed(1))
    cov = mode_coverage(one, centres, MODE_STD)
    covered, good = coverage_by_hand(one, centres)
    assert (cov["modes_covered"], cov["num_modes"]) == (1, 8) == (covered, 8)
    assert cov["high_quality"] == pytest.approx(good, abs=1e-6) and 0.98 < good < 1
    far = torch.full((100, 2), 0.0)  # the ring's centre is 2 away from every mode
    assert mode_coverage(far, centres)["high_quality"] == 0.0
    grid = sample_target("grid", 2500, torch.Generator().manual_seed(0))
    assert mode_coverage(grid, target_centres("grid"))["modes_covered"] == 25


@pytest.mark.parametrize("loss", list(LOSSES))
def test_one_discriminator_step_lowers_its_loss_on_a_fixed_batch(loss):
    gan = ToyGAN("ring", loss, lr_d=1e-3, width=16, seed=0)
    gen = torch.Generator().manual_seed(0)
    real = sample_target("ring", 256, gen)
    with torch.no_grad():
        fake = gan.generator(torch.randn(256, gan.latent_dim, generator=gen))
        before = gan.d_loss(real, fake).item()
    assert gan.d_step(real, fake) == pytest.approx(before)
    with torch.no_grad():
        assert gan.d_loss(real, fake).item() < before


def test_training_is_deterministic_per_seed_and_records_losses():
    def run(seed):
        gan = ToyGAN("moons", "ns", width=16, seed=seed, batch_size=64)
        gan.step(5)
        return gan.sample(32), gan.d_losses, gan.g_losses

    a, b, c = run(3), run(3), run(4)
    assert torch.equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2] and len(a[1]) == 5
    assert not torch.equal(a[0], c[0])
    for target in ("ring", "grid", "moons", "spiral"):  # every target is seeded too
        x = sample_target(target, 100, torch.Generator().manual_seed(0))
        assert torch.equal(x, sample_target(target, 100, torch.Generator().manual_seed(0)))
        assert x.shape == (100, 2) and x.abs().max() < 3


@pytest.mark.parametrize("target", ["ring", "grid", "moons", "spiral"])
def test_the_target_the_tab_shows_before_training_is_the_one_g_learns(target):
    """The plot's first picture is drawn with numpy (plane.target_points: building the page imports no torch), the
    training batches with torch (sample_target): the same distribution, so every point of either lies close to a
    point of the other (a ring of radius 2.2 instead of 2 is 0.23 away)."""
    import numpy as np

    from gan_models.playground.plane import target_points

    shown = target_points(target, 2000, seed=0)
    learnt = sample_target(target, 2000, torch.Generator().manual_seed(0)).numpy()
    distances = np.sqrt(((shown[:, None] - learnt[None]) ** 2).sum(-1))  # 2000 x 2000
    assert shown.shape == (2000, 2) and shown.dtype == np.float32
    assert distances.min(1).max() < 0.2 and distances.min(0).max() < 0.2
    assert np.array_equal(shown, target_points(target, 2000, seed=0))
    with pytest.raises(InputError, match="target must be one of"):
        target_points("custom", 10)


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr_g=1.0), "G learning rate must be between"),
    (dict(lr_d=0.0), "D learning rate must be between"),
    (dict(lr_d=float("nan")), "finite"),
    (dict(width=2), "network width must be between 4 and 256"),
    (dict(width=1000), "network width must be between 4 and 256"),
    (dict(d_steps=0), "D steps per G step must be between 1 and 10"),
    (dict(d_steps=2.5), "whole number"),
    (dict(loss="bogus"), "loss must be one of"),
    (dict(target="square"), "target must be one of"),
    (dict(target="custom", points=[(0, 0)]), "at least 2 points"),
    (dict(target="custom", points=[(0, 0)] * 2001), "at most 2000"),
    (dict(target="custom", points=[(0, 0), (float("inf"), 0)]), "finite"),
    (dict(target="custom", points=[(0, 0), (9, 0)]), r"must lie in"),
])
def test_bad_settings_are_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(InputError, match=message):
        ToyGAN(**kwargs)


def test_custom_points_become_the_modes():
    gan = ToyGAN("custom", points=[(-1, 1), (1, -1), (0.5, 0.5)], width=8)
    assert gan.centres.shape == (3, 2) and gan.coverage(300)["num_modes"] == 3
    assert to_plane(*to_pixels(gan.centres[:1].numpy(), 400)[0], 400) == pytest.approx((-1, 1), abs=0.02)


@pytest.mark.parametrize("loss", list(LOSSES))
def test_render_gives_a_frame_of_the_expected_size(loss):
    gan = ToyGAN("ring", loss, width=16)
    assert render(gan, size=200, loss_height=60).size == (200, 260)  # before any step: no curves yet
    gan.step(3)
    frame = render(gan)
    assert isinstance(frame, Image.Image) and frame.mode == "RGB" and frame.size == (400, 500)


def test_cli_trains_prints_coverage_and_writes_a_png(tmp_path, capsys):
    out = tmp_path / "frame.png"
    result = main(["--target", "ring", "--loss", "ns", "--steps", "200", "--seed", "0", "--width", "16",
                   "--batch_size", "64", "--out", str(out)])
    # the same training in-process, its samples scored by hand: what the CLI must report and print
    gan = ToyGAN("ring", "ns", lr_g=1e-3, lr_d=1e-3, d_steps=1, width=16, seed=0, batch_size=64)
    gan.step(200)
    covered, good = coverage_by_hand(gan.sample(2500).detach(), target_centres("ring"))
    assert result["steps"] == 200 and result["num_modes"] == 8 and result["modes_covered"] == covered
    assert result["high_quality"] == pytest.approx(good, abs=1e-6)
    assert (result["d_loss"], result["g_loss"]) == (round(gan.d_losses[-1], 4), round(gan.g_losses[-1], 4))
    assert f"modes covered: {covered}/8, high-quality samples: {100 * good:.1f}% (of 2500)" in capsys.readouterr().out
    with Image.open(out) as im:
        assert im.size == (400, 500)


def test_train_generator_yields_frames_and_respects_its_bounds():
    frames = list(tab.train(None, "ring", "ns", 1e-3, 1e-3, 1, 16, 0, max_seconds=30, max_steps=40))
    assert len(frames) >= 2 and all(isinstance(f, Image.Image) and f.size == (400, 500) for f, _, _ in frames)
    session = frames[-1][1]
    assert session.gan.steps == 40 and "Stopped at step 40" in frames[-1][2]
    # a second press continues the same networks; a change of width starts fresh ones
    list(tab.train(session, "ring", "hinge", 1e-3, 1e-3, 1, 16, 0, max_seconds=30, max_steps=5))
    assert session.gan.steps == 45 and session.gan.loss == "hinge"
    frame, session, _ = tab.step_once(session, "ring", "ns", 1e-3, 1e-3, 1, 8, 0)
    assert session.gan.steps == 1 and session.gan.width == 8


def test_stop_ends_a_run_and_closing_the_generator_stops_the_worker():
    gen = tab.train(None, "grid", "ns", 1e-3, 1e-3, 1, 16, 0)
    _, session, _ = next(gen)
    threading.Timer(0.3, tab.stop_training, [session]).start()
    t0 = time.monotonic()
    rest = list(gen)  # ends soon after Stop, with a final frame
    assert time.monotonic() - t0 < 5 and "Stopped" in rest[-1][2]

    gen = tab.train(session, "grid", "ns", 1e-3, 1e-3, 1, 16, 0)
    next(gen)
    gen.close()  # what happens when gradio cancels the event
    assert session.stop.is_set()
    time.sleep(0.5)
    assert not any(t.name == "playground-worker" for t in threading.enumerate())


def test_stop_returns_only_after_the_runs_own_last_frame_so_nothing_of_the_run_lands_after_it():
    """Under load a cancelled run's last "Training" frame reached the page after Stop's "Stopped" (a browser run
    in CI saw it). Now Stop ends the run and waits: by the time it returns, the run's generator has handed over its
    final "Stopped at step N (Stop)" frame, in the run's own ordered stream, and Stop itself writes nothing."""
    got, gen = [], tab.train(None, "ring", "ns", 1e-3, 1e-3, 1, 16, 0)
    got.append(next(gen))
    session = got[0][1]
    consumer = threading.Thread(target=lambda: got.extend(gen))
    consumer.start()
    time.sleep(0.3)
    assert session.ended.is_set() is False and tab.stop_training(session) == gr.skip()
    assert "Stopped at step" in got[-1][2] and "(Stop)" in got[-1][2]  # already there when Stop returned
    consumer.join(5)
    assert not consumer.is_alive() and all("Training" in g[2] for g in got[:-1])
    assert "Not training" in tab.stop_training(session)  # nothing live: says so, changes nothing


def test_a_press_still_waiting_for_a_slot_is_dropped_by_stop_and_reset():
    for ender in (tab.stop_training, lambda s: tab.reset(s, "ring", "ns", 1e-3, 1e-3, 1, 16, 0)):
        session = tab.press(None)  # what a Train click does at once; the run itself waits in the queue
        assert session.waiting
        said = ender(session)
        if ender is tab.stop_training:
            assert said.startswith("Stopped before it started")
        frames = list(tab.train(session, "ring", "ns", 1e-3, 1e-3, 1, 16, 0))
        assert frames == [(gr.skip(), session, gr.skip())]  # it did not start, and wrote nothing
        assert not any(t.name == "playground-worker" for t in threading.enumerate())
        assert not session.drop and not session.waiting  # the next press trains
        assert len(list(tab.train(session, "ring", "ns", 1e-3, 1e-3, 1, 16, 0, max_steps=3))) >= 1
        assert session.gan.steps >= 3


def test_a_stop_pressed_while_the_run_builds_its_networks_stops_that_run(monkeypatch):
    """The press became the run in two steps (no longer waiting, then a new stop flag, with the network build
    between): a Stop in that window found nothing waiting and nothing live, said "Press Train." and the run
    trained to its bound. The build is slowed here, and Stop pressed from another thread inside it."""
    building, real_gan = threading.Event(), ToyGAN

    def slow_build(*args, **kwargs):
        building.set()
        # hold the build until Stop has set the session's stop flag (it does, whether or not it finds the run)
        deadline = time.monotonic() + 5
        while not session.stop.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        return real_gan(*args, **kwargs)

    monkeypatch.setattr("gan_models.playground.toy_gan.ToyGAN", slow_build)  # where the tab imports it from
    session = tab.press(None)  # the Train click; its run leaves the queue now
    said = []
    stopper = threading.Thread(target=lambda: building.wait(5) and said.append(tab.stop_training(session)))
    stopper.start()
    frames = list(tab.train(session, "ring", "ns", 1e-3, 1e-3, 1, 16, 0, max_seconds=5, max_steps=200))
    stopper.join(10)
    assert building.is_set() and said == [gr.skip()]  # Stop found the run live; the run says it stopped
    assert len(frames) == 1 and "Stopped at step 0 (Stop)" in frames[0][2]  # nothing trained
    assert session.gan.steps == 0 and session.ended.is_set()


def test_a_second_train_press_ends_the_live_run_before_its_own_starts():
    """One run per session: the second press ends the first (whose stream closes with its last frame), and only
    then trains; two workers never step the same networks at once."""
    first_frames, gen = [], tab.train(None, "ring", "ns", 1e-3, 1e-3, 1, 16, 0, max_seconds=30)
    first_frames.append(next(gen))
    session, first_stop = first_frames[0][1], first_frames[0][1].stop
    consumer = threading.Thread(target=lambda: first_frames.extend(gen))
    consumer.start()
    try:
        second = tab.train(tab.press(session), "ring", "ns", 1e-3, 1e-3, 1, 16, 0, max_seconds=30)
        frame, _, status = next(second)
        consumer.join(5)
        assert not consumer.is_alive(), "the first run was still training after the second press started"
        assert first_stop.is_set() and "Stopped at step" in first_frames[-1][2] and "Training" in status
        assert sum(t.name == "playground-worker" for t in threading.enumerate()) == 1
        rest = []
        consumer = threading.Thread(target=lambda: rest.extend(second))
        consumer.start()
        assert tab.stop_training(session) == gr.skip() and rest[-1][2].startswith("Stopped")
    finally:
        first_stop.set()
        session.stop.set()
        consumer.join(5)


def test_tab_functions_refuse_bad_input_and_handle_clicks():
    with pytest.raises(gr.Error, match="network width"):
        next(tab.train(None, "ring", "ns", 1e-3, 1e-3, 1, 1000, 0))
    with pytest.raises(gr.Error, match="at least 2 points"):
        tab.step_once(None, "custom", "ns", 1e-3, 1e-3, 1, 16, 0)
    session = None
    for x, y in ((100, 100), (300, 300)):
        evt = gr.SelectData(None, {"index": [x, y], "value": None})
        preview, session, status = tab.add_point(session, "custom", evt)
    assert len(session.points) == 2 and "press Train" in status
    frame, session, _ = tab.step_once(session, "custom", "ns", 1e-3, 1e-3, 1, 16, 0)
    assert session.gan.centres.shape == (2, 2)
    assert all(len(tab.apply_preset(name)) == 7 for name in tab.PRESETS)


def test_tab_builds_with_its_api_endpoint():
    from tabs.common import Models

    with gr.Blocks() as demo:
        note = tab.playground_tab(Models())
    assert isinstance(note, gr.Markdown)
    assert "/playground" in demo.get_api_info()["named_endpoints"]
