"""Serving: one user's long requests cannot lock the others out, projection has a cost cap, and the server starts
without loading a model (first visits are drawn once per process, on the first page load)."""

from __future__ import annotations

import os
import threading
import time
from types import SimpleNamespace

import gradio as gr
import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import ValidationError
from PIL import Image

import app
from gan_models.registry import DEMOS
from tabs.common import Models, first_visit_dir
from tabs.queue_limits import LONG_ID, PER_SESSION, QueueLimits

from conftest import free_port

REFUSED = f"You already have {PER_SESSION} long requests waiting or running"


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    import torch
    from gan_models.faces.dcgan import DCGANGenerator

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("w") / "faces"
    DCGANGenerator(latent_dim=8, base_channels=4, image_size=32).save_pretrained(folder)
    return Models({"faces": (str(folder), None)}, use_hub=False)


@pytest.fixture(scope="module")
def served(tiny_models):
    """The app with a tiny faces model, its queue set up as `python app.py` sets it up -> its URL."""
    demo = app.set_up_queue(app.build_demo(tiny_models))
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture
def held_walks(tiny_models, monkeypatch):
    """Every seed-to-seed walk (/faces_interpolate, a long request) holds until the test lets it go: what a slow
    one does to the queue, in a fraction of a second. -> (number started so far, a function that lets them go)."""
    pipe = tiny_models.get(DEMOS["faces"]).pipeline
    interpolate, gate, started = type(pipe).interpolate, threading.Event(), []

    def held(self, *args, **kwargs):
        started.append(1)
        gate.wait(30)
        return interpolate(self, *args, **kwargs)

    monkeypatch.setattr(type(pipe), "interpolate", held)
    yield started, gate.set
    gate.set()


def wait_for(check, what: str, timeout: float = 20):
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_one_session_over_its_limit_is_refused_with_a_message_and_the_others_are_served(served, held_walks):
    started, let_go = held_walks
    walk = (0, 1, 4, 0.8, "dcgan")  # the tiny DCGAN these tests hold (the default model is the style-based one)
    flooder, other = Client(served, verbose=False), Client(served, verbose=False)
    mine = [flooder.submit(*walk, api_name="/faces_interpolate") for _ in range(PER_SESSION)]
    wait_for(lambda: len(started) == PER_SESSION, "the flooder's long requests to start")
    with pytest.raises(ValidationError, match=REFUSED):  # one more from the same session: refused at once
        flooder.submit(*walk, api_name="/faces_interpolate").result(timeout=10)
    with pytest.raises(ValidationError, match=REFUSED):  # any long endpoint counts, not just the same one
        flooder.submit({"background": None, "layers": [], "composite": None}, 10, 0,
                       api_name="/faces_project").result(timeout=10)
    theirs = other.submit(*walk, api_name="/faces_interpolate")  # another session: queued, not refused
    t0 = time.monotonic()
    gallery, used = other.predict(5, 3, 0.8, "dcgan", api_name="/faces")  # cheap requests: answered while both wait
    assert len(gallery) == 3 and used == 5 and time.monotonic() - t0 < 10
    assert len(flooder.predict(1, 2, 0.8, "dcgan", api_name="/faces")[0]) == 2
    assert not theirs.done()
    let_go()
    for job in mine + [theirs]:
        animation, download = job.result(timeout=30)
        assert Image.open(download).n_frames == 6  # 4 frames there, 2 back
    # the flooder's requests have finished: it may send long ones again
    assert flooder.predict(*walk, api_name="/faces_interpolate")[1]


def test_plain_http_callers_without_a_session_are_limited_by_their_address(served, held_walks):
    """/call/<endpoint> (curl) sends no session: each call would be a session of its own and the limit nothing."""
    started, let_go = held_walks
    def call(**headers):
        return httpx.post(served + "gradio_api/call/faces_interpolate", json={"data": [0, 1, 4, 0.8, "dcgan"]}, headers=headers)

    accepted = [call() for _ in range(PER_SESSION)]
    assert [r.status_code for r in accepted] == [200] * PER_SESSION
    refused = call()
    assert refused.status_code == 422 and REFUSED in refused.json()["detail"][0]["message"]
    refused = call(**{"x-gradio-user": "app"})  # what the page sends: a plain error (the page shows it in a box)
    assert refused.status_code == 400 and refused.json()["detail"].startswith(REFUSED)
    wait_for(lambda: len(started) == PER_SESSION, "the accepted calls to start")
    let_go()
    for reply in accepted:
        stream = httpx.get(served + "gradio_api/call/faces_interpolate/" + reply.json()["event_id"], timeout=30).text
        assert "event: complete" in stream, stream[:300]


def test_a_request_whose_error_has_been_sent_no_longer_counts(served, monkeypatch):
    """Gradio sends a failed request's error, sums its analytics in a thread, then takes the request off its
    running jobs. Here that summing takes 2 s: a user who got two errors and sends again at once is served, not
    told they already have two long requests (the hostile-input tests, sending one bad number after another, met
    this in CI)."""
    import gradio.queueing

    summary = gradio.queueing.Queue.compute_analytics_summary

    def slow_summary(self, *args, **kwargs):
        time.sleep(2)
        return summary(self, *args, **kwargs)

    monkeypatch.setattr(gradio.queueing.Queue, "compute_analytics_summary", slow_summary)
    client = Client(served, verbose=False)
    for _ in range(PER_SESSION):
        with pytest.raises(Exception, match="greater than maximum"):  # 1,000 frames: refused by the slider's range
            client.predict(0, 1, 1000, 0.8, "dcgan", api_name="/faces_interpolate")
    animation, download = client.predict(0, 1, 4, 0.8, "dcgan", api_name="/faces_interpolate")
    assert Image.open(download).n_frames == 6


def test_long_requests_take_at_most_their_share_of_the_queue():
    """Many users with a long request each: once LONG_SHARE of them wait, the next long one is refused, so that
    cheap requests always find a place in the queue (the queue's state as Gradio 6.31 keeps it)."""
    limits = QueueLimits(per_session=2, long_share=3)

    def event(session, group=LONG_ID):
        return SimpleNamespace(session_hash=session, _id="id-" + session, fn=SimpleNamespace(concurrency_id=group),
                               request=None)

    waiting = [event("b"), event("c")]
    queue = SimpleNamespace(active_jobs=[[event("a")], None], event_queue_per_concurrency_id={
        LONG_ID: SimpleNamespace(queue=waiting), "faces": SimpleNamespace(queue=[event("d", "faces")] * 10)})
    assert limits.refusal(queue, "e") is None  # 2 long ones waiting (the running one and cheap ones do not count)
    waiting.append(event("a"))
    assert limits.refusal(queue, "a").startswith("You already have 2 long requests waiting or running")
    assert limits.refusal(queue, "e").startswith("The server is busy: 3 long requests are waiting")


def test_long_requests_share_one_group_of_two_and_cheap_ones_run_in_their_own():
    demo = app.build_demo(Models(use_hub=False))
    long = [fn for fn in demo.fns.values() if fn.concurrency_id == LONG_ID]
    assert sorted(fn.fn.__name__ for fn in long) == ["compare", "cycle", "gan_train", "interpolate", "project",
                                                     "translate", "upscale", "walk"]
    assert sorted(fn.api_name for fn in long if fn.api_visibility != "private") == [  # walk: on the page only
        "digits_gan_train", "faces_interpolate", "faces_project", "maps", "maps_compare", "maps_cycle", "upscale"]
    assert {fn.concurrency_limit for fn in long} == {2}
    cheap = [fn for fn in demo.fns.values() if fn.api_name in ("faces", "digits", "digits_same_style", "birds",
                                                                   "birds_vary_word", "maps_sketch")]
    assert len(cheap) == 6 and len({fn.concurrency_id for fn in cheap}) == 6 and LONG_ID not in {
        fn.concurrency_id for fn in cheap}


def test_projection_steps_are_capped(served, tmp_path):
    """The issue's flood was 1,000-step projections (61 s each): refused now, with the range in the message."""
    from gradio_client import handle_file

    from tabs.faces_projection import MAX_STEPS

    assert MAX_STEPS <= 400
    path = tmp_path / "me.png"
    Image.new("RGB", (48, 48), (200, 150, 120)).save(path)
    editor = {"background": handle_file(str(path)), "layers": [], "composite": handle_file(str(path))}
    client = Client(served, verbose=False)
    with pytest.raises(Exception, match=f"Value 1000 is greater than maximum value {MAX_STEPS}"):
        client.predict(editor, 1000, 0, api_name="/faces_project")


def test_building_the_app_loads_no_model(monkeypatch):
    """The server listens first: building the page must not load a pipeline (nor import diffusers for one)."""
    import tabs.common

    load_demo, loads = tabs.common.load_demo, []

    def recorded(demo, *args, **kwargs):
        loads.append(demo.name)
        return load_demo(demo, *args, **kwargs)

    monkeypatch.setattr(tabs.common, "load_demo", recorded)
    demo = app.build_demo(Models(use_hub=False))
    assert isinstance(demo, gr.Blocks) and loads == []


def test_a_second_page_load_serves_the_first_visit_pictures_of_the_first():
    """Every tab's first visit, twice, as two page loads send it (each input's default, through the component):
    the second gets the same files and draws nothing."""
    demo = app.build_demo(Models(use_hub=False))
    loads = [fn for fn in demo.fns.values() if any(event == "load" for _, event in fn.targets)
             and any(getattr(out, "elem_id", None) for out in fn.outputs)]
    by_output = {out.elem_id: fn for fn in loads for out in fn.outputs if getattr(out, "elem_id", None)}
    assert {"faces-gallery", "faces-framing", "digits-gallery", "birds-gallery", "maps-input",
            "superres-input"} <= set(by_output)

    def page_load(fn):
        return fn.fn(*[c.preprocess(c.postprocess(c.value)) for c in fn.inputs])

    def files(value):
        if isinstance(value, (list, tuple)):
            return [f for item in value for f in files(item)]
        return [value] if isinstance(value, str) and value.startswith(str(first_visit_dir())) else []

    for name in ("faces-gallery", "faces-framing", "digits-gallery", "birds-gallery", "maps-input", "superres-input"):
        fn = by_output[name]
        first, second = page_load(fn), page_load(fn)
        assert files(first) and files(second) == files(first), name  # the same files, kept where pruning never goes
        assert fn.fn.runs == 1, name
    gallery, used = page_load(by_output["faces-gallery"])
    assert len(gallery) == 16 and used == 0 and gallery[0][1] == "seed 0"


def test_first_visit_files_stay_while_other_processes_old_ones_are_pruned(tmp_path, monkeypatch):
    """Pruning (every request) leaves this process's first-visit folder, however old, and removes another
    process's once it has been untouched for OUTPUT_TTL_S: a stopped server's first visits do not pile up."""
    import tabs.common
    from tabs.common import FIRST_VISIT_PREFIX, OUTPUT_TTL_S, prune_outputs

    monkeypatch.setattr(tabs.common, "OUTPUT_DIR", tmp_path)
    long_ago = time.time() - OUTPUT_TTL_S - 60
    mine, stopped, live = (f"{FIRST_VISIT_PREFIX}{pid}" for pid in (os.getpid(), 1234567, 7654321))
    for name in (mine, stopped, live):
        (tmp_path / name).mkdir()
        (tmp_path / name / "face.png").write_bytes(b"png")
        if name != live:  # the live one was touched lately: a process serving from it
            os.utime(tmp_path / name / "face.png", (long_ago, long_ago))
            os.utime(tmp_path / name, (long_ago, long_ago))
    (tmp_path / "old.png").write_bytes(b"png")
    os.utime(tmp_path / "old.png", (long_ago, long_ago))
    prune_outputs()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine, live])
    assert (tmp_path / mine / "face.png").is_file()
