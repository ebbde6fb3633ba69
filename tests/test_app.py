"""The app builds, its endpoints answer through gradio_client, and bad input never kills it."""

from __future__ import annotations

import socket
import threading
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import app
from tabs.common import Models
from tabs.faces import make_faces_fns


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    import torch
    from gan_models.faces.dcgan import DCGANGenerator

    from gan_models.faces.style_pipeline import EditDirection, StyleFacesPipeline
    from gan_models.faces.stylegan import StyleGenerator

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("w")
    DCGANGenerator(latent_dim=8, base_channels=4, image_size=32).save_pretrained(root / "faces")  # 32x32: tells them apart
    style = StyleFacesPipeline(StyleGenerator(latent_dim=8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=16))
    components, sigmas = style.principal_directions(num=2, num_samples=500)
    style.with_edits([EditDirection("first", components[0], (0, 4), float(sigmas[0]), 0, "coarse"),
                      EditDirection("second", components[1], (4, 10), float(sigmas[1]), 1)]).save_pretrained(
        root / "style_faces")
    return Models({"faces": (str(root / "faces"), None), "style_faces": (str(root / "style_faces"), None)},
                  use_hub=False)


@pytest.fixture(scope="module")
def server(tiny_models):
    demo = app.set_up_queue(app.build_demo(tiny_models))
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    demo.close()


def test_faces_function_returns_the_requested_images(tiny_models):
    faces, interpolate = make_faces_fns(tiny_models)
    gallery, used = faces(123, 5, 0.7)
    assert used == 123 and len(gallery) == 5
    assert [caption for _, caption in gallery] == [f"seed {s}" for s in range(123, 128)]
    for path, _ in gallery:
        with Image.open(path) as im:
            assert im.size == (64, 64)  # the default model: the style-based one
    assert len({path for path, _ in gallery}) == 5
    again, _ = faces(123, 5, 0.7)  # the same pictures again: files of their own, never shared with a request in flight
    assert not {p for p, _ in gallery} & {p for p, _ in again}
    gif, download = interpolate(1, 2, 5, 1.0)
    with Image.open(gif) as anim:
        assert anim.format == "GIF" and anim.n_frames == 8  # 5 frames there, 3 back
    assert gif == download


@pytest.mark.parametrize("seed, count, truncation, message", [
    (-1, 4, 0.5, "seed must be between"),
    ("x", 4, 0.5, "seed must be a number"),
    (1, 0, 0.5, "number of faces must be between 1 and 64"),
    (1, 1000, 0.5, "number of faces must be between 1 and 64"),
    (1, 4, 2.0, "truncation must be between"),
    (float("nan"), 4, 0.5, "finite"),
])
def test_faces_function_turns_bad_input_into_a_user_error(tiny_models, seed, count, truncation, message):
    faces, _ = make_faces_fns(tiny_models)
    with pytest.raises(gr.Error, match=message):
        faces(seed, count, truncation)


def test_corrupt_weights_give_an_error_naming_the_file(tmp_path):
    folder = tmp_path / "faces"
    (folder / "generator").mkdir(parents=True)
    (folder / "model_index.json").write_text('{"_class_name": ["faces_gan", "DCGANPipeline"]}')
    (folder / "generator" / "config.json").write_text('{"latent_dim": 8, "base_channels": 4, "image_size": 32}')
    (folder / "generator" / "diffusion_pytorch_model.safetensors").write_bytes(b"not safetensors")
    models = Models({"faces": (str(folder), None)}, use_hub=False)
    import dataclasses
    from gan_models.registry import DEMOS
    broken = dataclasses.replace(DEMOS["faces"], weights_dir=tmp_path)  # the fallback is broken too
    with pytest.raises(gr.Error, match=r"faces/generator/diffusion_pytorch_model.safetensors"):
        models.get(broken)


def test_faces_endpoint_through_gradio_client(server):
    gallery, used = server.predict(7, 3, 0.8, "dcgan", api_name="/faces")
    assert used == 7 and len(gallery) == 3
    for item in gallery:
        with Image.open(item["image"]) as im:
            assert im.size == (32, 32)
    assert [item["caption"] for item in gallery] == ["seed 7", "seed 8", "seed 9"]


def test_bad_requests_get_errors_and_the_server_keeps_serving(server):
    from gradio_client.exceptions import AppError

    for args, message in [((-5, 3, 0.8), "Value -5 is less than minimum value 0."),  # the components' bounds
                          ((1, 1000, 0.8), "Value 1000 is greater than maximum value 64."),
                          ((1, 3, 9.0), "Value 9.0 is greater than maximum value 1.0.")]:
        with pytest.raises(AppError) as info:
            server.predict(*args, api_name="/faces")
        assert str(info.value) == message
    gallery, _ = server.predict(1, 2, 0.8, api_name="/faces")
    assert len(gallery) == 2


def test_same_seed_through_the_api_gives_the_same_faces(server):
    first, _ = server.predict(42, 2, 0.8, api_name="/faces")
    again, _ = server.predict(42, 2, 0.8, api_name="/faces")
    for a, b in zip(first, again):
        assert Image.open(a["image"]).tobytes() == Image.open(b["image"]).tobytes()


def test_interpolation_endpoint(server):
    animation, download = server.predict(3, 4, 6, 1.0, api_name="/faces_interpolate")
    with Image.open(download) as gif:
        assert gif.n_frames == 10


def test_projection_endpoint_through_gradio_client(server, tmp_path):
    """/faces_project with the crop editor's payload, as the page sends it: the photo | face picture, the frames,
    a note and a latent file that loads again (the tiny DCGAN: 32x32 faces, latent 8)."""
    from gradio_client import handle_file
    from safetensors.torch import load_file

    path = tmp_path / "me.png"
    Image.new("RGB", (80, 60), (200, 150, 120)).save(path)
    editor = {"background": handle_file(str(path)), "layers": [], "composite": handle_file(str(path))}
    compared, frames, note, latent_file = server.predict(editor, 20, 3, "dcgan", api_name="/faces_project")
    with Image.open(compared) as im:
        assert im.size == (2 * 192 + 8, 192)
    assert [f["caption"] for f in frames][0] == "start" and frames[-1]["caption"] == "step 20" and len(frames) == 8
    assert note.startswith("PSNR ") and "after 20 steps" in note and "centre square" in note
    assert load_file(latent_file)["latent"].shape == (1, 8)
    again = server.predict(editor, 20, 3, "dcgan", api_name="/faces_project")[3]
    assert load_file(again)["latent"].equal(load_file(latent_file)["latent"])  # same start seed, same latent
    other = server.predict(editor, 20, 4, "dcgan", api_name="/faces_project")[3]
    assert not load_file(other)["latent"].equal(load_file(latent_file)["latent"])  # another start seed, another


def test_projection_bad_input_gets_our_messages_and_the_server_keeps_serving(server, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    text = tmp_path / "photo.png"
    text.write_text("not a picture at all")
    small = tmp_path / "small.png"
    Image.new("RGB", (20, 20)).save(small)
    cases = [({"background": None, "layers": [], "composite": None}, "Upload, paste or take a photo first"),
             ({"background": handle_file(str(text)), "layers": [], "composite": handle_file(str(text))},
              "not a readable image"),
             ({"background": handle_file(str(small)), "layers": [], "composite": handle_file(str(small))},
              "too small")]
    for editor, message in cases:
        with pytest.raises(AppError, match=message):
            server.predict(editor, 10, 0, api_name="/faces_project")
    gallery, _ = server.predict(1, 2, 0.8, api_name="/faces")
    assert len(gallery) == 2


class NoProgress:
    """Stands for Gradio's progress argument when a section's function is called directly."""

    def __call__(self, *args, **kwargs):
        pass

    def tqdm(self, iterable, **kwargs):
        return iterable


def test_projection_functions_walk_and_latent_files(tiny_models, tmp_path):
    """The section's functions without the server: a walk from the projected latent, a latent file loaded
    back, and bad latent files refused with a message (what was on the page stays: nothing is returned)."""
    import torch
    from safetensors.torch import save_file

    from tabs.faces import save_walk_gif
    from tabs.faces_projection import make_projection_fns

    project, load, walk = make_projection_fns(tiny_models, save_walk_gif)
    path = tmp_path / "me.png"
    Image.new("RGB", (40, 40), (90, 120, 200)).save(path)
    *_, final = project(str(path), 10, 0, "dcgan", progress=NoProgress())
    compared, frames, note, latent_file, latent = final
    gif, download = walk(latent, 5, 4, 1.0, "dcgan", progress=NoProgress())
    with Image.open(gif) as im:
        assert im.n_frames == 6 and gif == download  # 4 frames there and 2 back
    loaded, face, message = load(latent_file, "dcgan")
    assert torch.equal(loaded, latent) and message.startswith("Loaded a latent")
    with Image.open(face) as im:
        assert im.size == (192, 192)
    with pytest.raises(gr.Error, match="Find the closest face to a photo first"):
        walk(None, 5, 4, 1.0, "dcgan", progress=NoProgress())
    *_, (_, _, _, style_file, style_latent) = project(str(path), 5, 0, progress=NoProgress())  # the default: W+
    assert style_latent.shape == (1, 10, 8)
    loaded, _, message = load(style_file)
    assert torch.equal(loaded, style_latent) and "W+" in message
    with pytest.raises(gr.Error, match="must have shape"):  # a latent of one model is refused by the other
        load(style_file, "dcgan")
    bad = {"nan.safetensors": {"latent": torch.full((1, 8), float("nan"))},
           "shape.safetensors": {"latent": torch.zeros(1, 128)},
           "ints.safetensors": {"latent": torch.zeros(1, 8, dtype=torch.int32)},
           "name.safetensors": {"weights": torch.zeros(1, 8)}}
    for name, tensors in bad.items():
        save_file(tensors, str(tmp_path / name))
        with pytest.raises(gr.Error, match="The latent file is refused"):
            load(str(tmp_path / name), "dcgan")
    (tmp_path / "pickle.pt").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(gr.Error, match="must be .safetensors"):
        load(str(tmp_path / "pickle.pt"))


def test_the_projection_functions_hold_their_own_limits(tiny_models):
    """Steps 0-400 (the cost cap) and walk frames 2-60 (the README's figures), checked by the functions themselves:
    the sliders hold them only for what comes through Gradio. (The limits are the same for both models.)"""
    import torch

    from tabs.faces_projection import make_projection_fns

    project, _, walk = make_projection_fns(tiny_models, lambda images, progress: len(images))  # frames, no GIF
    for model in ("dcgan", "style"):
        with pytest.raises(gr.Error, match="steps must be between 0 and 400, got 401"):
            next(project(None, 401, 0, model, progress=NoProgress()))
        with pytest.raises(gr.Error, match="Upload, paste or take a photo first"):  # 400 steps pass (no photo: no run)
            next(project(None, 400, 0, model, progress=NoProgress()))
    latent = torch.randn(1, 8)
    with pytest.raises(gr.Error, match="frames must be between 2 and 60, got 61"):
        walk(latent, 5, 61, 1.0, "dcgan", progress=NoProgress())
    assert walk(latent, 5, 60, 1.0, "dcgan", progress=NoProgress()) == (60, 60)


def test_command_line_options(monkeypatch):
    captured = {}

    class FakeDemo:
        fns, _queue = {}, SimpleNamespace(push=None, send_message=None)  # what set_up_queue's limits wrap

        def queue(self, **kw):
            captured["queue"] = kw
            return self

        def launch(self, **kw):
            captured["launch"] = kw
            order.append("listening")

        def block_thread(self):
            order.append("serving")

    order, preloaded = [], threading.Event()
    monkeypatch.setattr(app, "build_demo", lambda models, mnist=None, early_faces=None:
                        captured.update(mnist=mnist, early=early_faces) or FakeDemo())
    monkeypatch.setattr(app, "preload", lambda models, demo, early=None: (order.append("preload"), preloaded.set()))
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7999")
    app.main([])
    assert captured["launch"]["server_port"] == 7999 and captured["mnist"] is None
    assert preloaded.wait(10) and order.index("listening") < order.index("preload")  # the server listens first
    app.main(["--host", "0.0.0.0", "--port", "8123", "--mnist", "/data/my-mnist"])
    assert captured["launch"]["server_name"] == "0.0.0.0" and captured["launch"]["server_port"] == 8123
    assert captured["queue"]["max_size"] == app.QUEUE_SIZE and captured["mnist"] == "/data/my-mnist"


def test_preload_waits_for_the_first_gallery_to_be_taken_and_then_loads_once(tmp_path, monkeypatch):
    """The first visit's faces go out before the model's imports take the interpreter; with no visitor, the model
    loads after PRELOAD_WAIT_S all the same."""
    from tabs.first_faces import EarlyFaces

    loads = []
    models = SimpleNamespace(get=lambda demo: loads.append(demo))
    early = EarlyFaces(tmp_path, None)
    thread = threading.Thread(target=app.preload, args=(models, "style", early))
    thread.start()
    thread.join(0.5)
    assert thread.is_alive() and loads == []  # no visitor yet
    assert early.take() is None and early.taken.is_set()  # the first visit asked (nothing there: it draws itself)
    thread.join(10)
    assert not thread.is_alive() and loads == ["style"]
    monkeypatch.setattr(app, "PRELOAD_WAIT_S", 0.1)
    app.preload(models, "style", EarlyFaces(tmp_path, None))  # nobody comes: it loads anyway
    assert loads == ["style", "style"]


class FakeEarlyFaces:
    cancelled, use_hub = False, False

    def cancel(self):
        self.cancelled = True


@pytest.mark.parametrize("argv, env, child_hub, kept", [
    ([], {}, False, True),                                           # both load the embedded weights
    (["--mnist", "/data/my-mnist"], {}, False, True),
    (["--style_faces-weights", "someone/faces"], {}, False, False),  # other weights: the child drew the wrong faces
    (["--hub"], {}, False, False),                                   # the child loaded without the Hub, the tab with
    ([], {"GAN_GALLERY_HUB": "1"}, True, True),                      # both with the Hub (in a Space, say)
    (["--hub"], {"GAN_GALLERY_HUB": "1"}, True, True),
    (["--faces-weights", "someone/dcgan"], {}, False, True),         # the DCGAN's weights are not the first gallery's
])
def test_the_first_gallerys_child_is_handed_to_the_tab_only_if_it_loaded_the_same_weights(
        monkeypatch, argv, env, child_hub, kept):
    captured = {}

    class FakeDemo:
        fns, _queue = {}, SimpleNamespace(push=None, send_message=None)
        queue = lambda self, **kw: self  # noqa: E731
        launch = block_thread = lambda self, **kw: None  # noqa: E731

    monkeypatch.delenv("GAN_GALLERY_HUB", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(app, "build_demo", lambda models, mnist=None, early_faces=None:
                        captured.update(early=early_faces) or FakeDemo())
    monkeypatch.setattr(app, "preload", lambda models, demo, early=None: None)
    early = FakeEarlyFaces()
    early.use_hub = child_hub
    app.main(argv, early_faces=early)
    assert (captured["early"] is early) is kept and early.cancelled is not kept


def test_help_or_a_wrong_option_stops_the_first_gallerys_child(capsys):
    for argv in (["--help"], ["--no-such-option"]):
        early = FakeEarlyFaces()
        with pytest.raises(SystemExit):
            app.main(argv, early_faces=early)
        assert early.cancelled


# The endpoints and their parameters as before the progress bars and the first-visit defaults (/digits_gan_train
# came later, beside them): a ``progress`` or ``request`` argument is Gradio's, never an API parameter, and page-load
# events are not endpoints.
API = {
    # the Faces tab's model choice is a last parameter with a default: today's calls (without it) still work
    "/faces": [("seed", "Number"), ("num_images", "Slider"), ("truncation", "Slider"), ("model", "Radio")],
    "/faces_interpolate": [("seed_a", "Number"), ("seed_b", "Number"), ("num_frames", "Slider"),
                           ("truncation", "Slider"), ("model", "Radio")],
    "/faces_project": [("editor", "Imageeditor"), ("num_steps", "Slider"), ("start_seed", "Number"),
                       ("model", "Radio")],
    "/faces_mix": [("rows", "Textbox"), ("cols", "Textbox"), ("layers", "Checkboxgroup"), ("truncation", "Slider")],
    "/faces_edit": [("seed", "Number"), ("truncation", "Slider")] + [(f"strength_{i + 1}", "Slider") for i in range(6)],
    "/digits": [("digit", "Dropdown"), ("seed", "Number"), ("count", "Slider"), ("truncation", "Slider")],
    "/digits_same_style": [("seed", "Number"), ("num_styles", "Slider"), ("truncation", "Slider")],
    "/digits_gan_train": [("real_per_class", "Radio"), ("gan_per_class", "Slider"), ("steps", "Slider"),
                          ("seed", "Number")],
    "/birds": [("prompt", "Textbox"), ("seed", "Number"), ("count", "Slider"), ("truncation", "Slider")],
    "/birds_vary_word": [("prompt", "Textbox"), ("seed", "Number"), ("num_rows", "Slider"), ("truncation", "Slider")],
    "/maps": [("image", "Image"), ("direction", "Radio"), ("mode", "Radio"), ("model", "Radio")],  # model: optional
    "/maps_compare": [("image", "Image"), ("direction", "Radio"), ("mode", "Radio")],
    "/maps_cycle": [("image", "Image"), ("direction", "Radio"), ("mode", "Radio"), ("model", "Radio"),
                    ("noise", "Slider"), ("gain", "Slider")],
    "/maps_sketch": [("editor", "Imageeditor")],
    "/upscale": [("image", "Image")],
    "/playground": [("target", "Dropdown"), ("loss", "Dropdown"), ("lr_g", "Number"), ("lr_d", "Number"),
                    ("d_steps", "Slider"), ("width", "Slider"), ("seed", "Number")],
}


def test_todays_faces_calls_get_the_style_based_model_and_the_dcgan_is_one_argument_away(server):
    """Clients of /faces, /faces_interpolate and /faces_project call with today's arguments, and get the default
    model (the tiny style-based one draws 64x64, the tiny DCGAN 32x32)."""
    gallery, used = server.predict(7, 3, 0.8, api_name="/faces")
    assert used == 7 and [Image.open(item["image"]).size for item in gallery] == [(64, 64)] * 3
    dcgan, _ = server.predict(7, 3, 0.8, "dcgan", api_name="/faces")
    assert [Image.open(item["image"]).size for item in dcgan] == [(32, 32)] * 3
    style, _ = server.predict(7, 3, 0.8, "style", api_name="/faces")
    assert [open(a["image"], "rb").read() for a in style] == [open(a["image"], "rb").read() for a in gallery]
    animation, _ = server.predict(3, 4, 4, 1.0, api_name="/faces_interpolate")
    with Image.open(animation) as gif:
        assert gif.size == (128, 128) and gif.n_frames == 6       # 4 frames there, 2 back
    photo = server.predict(7, 1, 1.0, "dcgan", api_name="/faces")[0][0]["image"]
    editor = {"background": handle_file(photo), "layers": [], "composite": handle_file(photo)}
    compared, _, note, latent_file = server.predict(editor, 10, 0, api_name="/faces_project")
    from safetensors.torch import load_file

    assert load_file(latent_file)["latent"].shape == (1, 10, 8)  # W+ of the style-based model: the default
    from test_hostile_input import raw_call

    base = server.src.rstrip("/")

    def sizes(stream: str) -> list:  # the faces a raw call's result stream names, opened from the server's files
        import json

        assert "event: complete" in stream, stream[-500:]
        gallery = json.loads(stream.split("event: complete", 1)[1].split("data:", 1)[1].strip())[0]
        return [Image.open(item["image"]["path"]).size for item in gallery]

    assert sizes(raw_call(base, "faces", '{"data": [7, 3, 0.8]}')) == [(64, 64)] * 3  # today's three values
    assert sizes(raw_call(base, "faces", '{"data": [7, 3, 0.8, "dcgan"]}')) == [(32, 32)] * 3
    with pytest.raises(Exception, match="not in the list of choices: \\['style', 'dcgan'\\]"):  # Gradio's check
        server.predict(7, 3, 0.8, "biggan", api_name="/faces")
    from tabs.face_models import model_demo

    with pytest.raises(gr.Error, match="model must be one of style, dcgan, got 'biggan'"):  # ours, for direct calls
        model_demo("biggan")


def test_style_mixing_and_editing_endpoints(server):
    figure, note = server.predict("0-2", "5, 6", ["coarse", "middle"], 1.0, api_name="/faces_mix")
    assert Image.open(figure).size == (2 * (4 + 3 * 68), 2 * (4 + 4 * 68)) and "coarse, middle" in note
    with pytest.raises(Exception, match="at most 8 seeds"):
        server.predict("0-20", "5", ["coarse"], 1.0, api_name="/faces_mix")
    with pytest.raises(Exception, match="not a seed or a range"):
        server.predict("zero", "5", ["coarse"], 1.0, api_name="/faces_mix")
    before_after, note = server.predict(4, 1.0, 2.0, 0, 0, 0, 0, 0, api_name="/faces_edit")
    assert Image.open(before_after).size == (2 * 192 + 8, 192) and "first +2" in note
    unchanged, note = server.predict(4, 1.0, 0, 0, 0, 0, 0, 0, api_name="/faces_edit")
    pixels = np.asarray(Image.open(unchanged))
    assert np.array_equal(pixels[:, :192], pixels[:, 200:]) and "no edit" in note
    with pytest.raises(Exception, match="greater than maximum value 5"):  # the slider's bound, through Gradio
        server.predict(4, 1.0, 9, 0, 0, 0, 0, 0, api_name="/faces_edit")
    with pytest.raises(Exception, match="has 2 named edits; strength_3 has none"):
        server.predict(4, 1.0, 0, 0, 1, 0, 0, 0, api_name="/faces_edit")


def test_the_api_keeps_its_endpoints_and_parameters(server):
    api = server.view_api(print_info=False, return_format="dict")
    named = api["named_endpoints"]
    assert set(named) == set(API)
    for name, parameters in API.items():
        assert [(p["parameter_name"], p["component"]) for p in named[name]["parameters"]] == parameters, name
    assert not api["unnamed_endpoints"]


def emoji_in(text: str) -> list[str]:
    """Characters that need an emoji font (or show as a box without one): pictographs, dingbats, symbols
    that phones draw as emoji (the play triangle), the emoji variation selector and joiner."""
    def needs_emoji_font(c: str) -> bool:
        o = ord(c)
        return (o >= 0x1F000 or 0x2600 <= o <= 0x27BF or 0x2B00 <= o <= 0x2BFF or 0x23E9 <= o <= 0x23FA
                or o in (0x25B6, 0x25C0, 0xFE0F, 0x200D, 0x20E3))
    return [c for c in text if needs_emoji_font(c)]


def test_no_control_depends_on_an_emoji_font(tiny_models):
    """Labels, button texts, choices, infos, placeholders and tab names of every tab (the explanatory
    Markdown may use anything)."""
    demo = app.build_demo(tiny_models)
    found = []
    for component in demo.config["components"]:
        props = component.get("props", {})
        texts = [props.get(k) for k in ("label", "info", "placeholder")]
        if component.get("type") == "button":
            texts.append(props.get("value"))
        texts += [str(choice[0]) for choice in props.get("choices") or []]
        for text in filter(None, texts):
            if isinstance(text, str) and emoji_in(text):
                found.append((component.get("type"), text))
    assert not found, found
    assert emoji_in("🎲 Randomize seed") and emoji_in("▶ Train") and emoji_in("⚠️ note")  # the check can fail
    assert not emoji_in("Map ↔ aerial photo → map, truncation ψ")                           # arrows, Greek: text fonts


def test_everything_that_writes_the_superres_input_runs_in_one_ordered_queue():
    """The first visit's example face (queued at page load, slow on a busy CPU) must not land after a picture the
    user sent from Faces or Birds: a browser run under load saw the sent bird replaced by it. Every event that writes
    the input shares one concurrency group of one, which Gradio's queue serves in order."""
    demo = app.build_demo(Models(use_hub=False))
    writers = [fn for fn in demo.fns.values()
               if any(getattr(out, "elem_id", None) == "superres-input" for out in fn.outputs)]
    kinds = sorted(event for fn in writers for _, event in fn.targets)
    assert kinds == ["click", "click", "click", "click", "load"]  # 2 examples, 2 send buttons, the first visit
    assert {(fn.concurrency_id, fn.concurrency_limit) for fn in writers} == {("superres-input", 1)}


def test_nothing_cancels_the_playground_run_and_train_waits_behind_a_press_mark():
    """Stop and the others end a live run themselves and wait for its last frame (tests/test_playground.py); a
    cancel sent beside them would kill the run before that frame, and its stale "Training" frame could land last."""
    demo = app.build_demo(Models(use_hub=False))
    run, = [fn for fn in demo.fns.values() if fn.api_name == "playground"]
    assert not any(run._id in (fn.cancels or []) for fn in demo.fns.values())
    pressed = demo.fns[run.trigger_after]
    assert pressed.fn.__name__ == "press" and pressed.queue is False and [e for _, e in pressed.targets] == ["click"]


def test_every_tab_shows_something_on_first_visit_without_an_error():
    """The page-load events of Digits, Birds and Maps (the browser test sees them on the page), run here with
    their inputs' default values and the embedded weights: what a first visit shows, and no error."""
    demo = app.build_demo(Models(use_hub=False))
    loads = {out.elem_id: fn for fn in demo.fns.values() if any(event == "load" for _, event in fn.targets)
             for out in fn.outputs if getattr(out, "elem_id", None)}
    assert all(loads[name].api_visibility == "private" for name in ("digits-gallery", "birds-gallery", "maps-input"))
    run = lambda fn: fn.fn(*[c.value for c in fn.inputs])  # noqa: E731
    gallery, used = run(loads["digits-gallery"])
    assert len(gallery) == 8 and used == 0 and gallery[0][1] == "7 · seed 0"
    gallery, used, notes = run(loads["birds-gallery"])
    assert len(gallery) == 8 and used == 0 and notes == ""
    source, direction, result, download, note = run(loads["maps-input"])
    assert direction == "b2a" and result == download and note.startswith("map -> aerial: 1 tile")
    with Image.open(source) as drawn, Image.open(result) as photo:
        assert drawn.size == photo.size == (256, 256)
        assert drawn.convert("RGB").getpixel((128, 128)) != photo.convert("RGB").getpixel((128, 128))


def test_the_preload_waits_for_the_first_gallerys_child_before_loading():
    order = []

    class FakeEarly:
        taken = SimpleNamespace(wait=lambda timeout: order.append("first gallery taken"))

        def wait(self):
            order.append("child drawn")

    class FakeModels:
        def get(self, demo):
            order.append(f"load {demo.name}")

    app.preload(FakeModels(), app.DEMOS["style_faces"], FakeEarly())
    app.preload(FakeModels(), app.DEMOS["faces"])  # no child: loads at once
    assert order == ["child drawn", "first gallery taken", "load style_faces", "load faces"]
