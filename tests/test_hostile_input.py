"""What a careless or hostile user sends, to every endpoint of the running app.

The app runs as users start it: `python app.py` in a process of its own (the `app_process` fixture),
with its launch options and embedded weights. Each bad request must get an error whose message says
what is wrong (never Gradio's bare "Error"), the server must keep serving, and a request must not make
the server's own memory jump (read from /proc for that process and that request alone). Pictures are
made here: nothing is downloaded.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from conftest import editor_upload, header_only_png, solid_png
from gradio_client import Client, handle_file
from PIL import Image


@pytest.fixture(scope="module")
def server(app_process):
    yield Client(app_process.url + "/", verbose=False), app_process.url


def raw_call(base: str, api_name: str, body: str) -> str:
    """POST a hand-written JSON body (NaN, lone surrogates: what gradio_client will not send); the result stream,
    read up to its first result, error or completion (a playground run streams frames for up to a minute)."""
    import httpx

    reply = httpx.post(f"{base}/gradio_api/call/{api_name}", content=body,
                       headers={"Content-Type": "application/json"}, timeout=60)
    if reply.status_code != 200:
        return f"HTTP {reply.status_code}: {reply.text}"
    event_id = reply.json()["event_id"]
    text = ""
    with httpx.stream("GET", f"{base}/gradio_api/call/{api_name}/{event_id}", timeout=120) as stream:
        for line in stream.iter_lines():
            text += line + "\n"
            if line.startswith("data:") and any(f"event: {e}" in text for e in ("error", "complete", "generating")):
                break
    return text


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    files = {}

    def save(name, writer):
        path = folder / name
        writer(path)
        files[name] = path

    save("1x1.png", lambda p: Image.new("RGB", (1, 1), "red").save(p))
    save("13000x13000-rgba.png", lambda p: p.write_bytes(solid_png(13_000, 13_000, (40, 90, 160, 255))))
    save("bomb-20000x20000.png", lambda p: p.write_bytes(header_only_png(20_000, 20_000)))
    save("12000x12000.png", lambda p: p.write_bytes(header_only_png(12_000, 12_000)))
    save("16-bit-6600x6000.png", lambda p: p.write_bytes(solid_png(6_600, 6_000, b"\x80\x00", color_type=0, bit_depth=16)))
    buf = io.BytesIO()
    Image.new("RGB", (300, 300), "blue").save(buf, "PNG")
    save("truncated.png", lambda p: p.write_bytes(buf.getvalue()[:200]))
    save("text-named.png", lambda p: p.write_text("this is not a picture\n" * 50))
    save("empty.png", lambda p: p.write_bytes(b""))
    frames = [Image.new("RGB", (300, 300), c) for c in ("red", "green", "blue")]
    save("animated.gif", lambda p: frames[0].save(p, save_all=True, append_images=frames[1:], duration=100))
    rng = np.random.default_rng(0)
    save("16-bit.png", lambda p: Image.fromarray(rng.integers(0, 65535, (300, 300)).astype(np.uint16)).save(p))
    save("cmyk.jpg", lambda p: Image.new("CMYK", (300, 300), (0, 255, 255, 0)).save(p))
    save("rgba.png", lambda p: Image.new("RGBA", (300, 200), (0, 0, 255, 90)).save(p))
    save("palette.png", lambda p: Image.new("P", (257, 300), 3).save(p))
    return files


def expect_error(client, args, api_name, *fragments):
    with pytest.raises(Exception) as info:
        client.predict(*args, api_name=api_name)
    message = str(info.value)
    assert "show_error=True" not in message, message  # never the bare, say-nothing error
    assert any(f.lower() in message.lower() for f in fragments), message
    return message


def test_every_endpoint_is_covered(server):
    client, _ = server
    names = {name for name in client.view_api(print_info=False, return_format="dict")["named_endpoints"]}
    assert {"/faces", "/faces_interpolate", "/faces_project", "/faces_mix", "/faces_edit", "/digits", "/digits_same_style", "/digits_gan_train",
            "/birds", "/birds_vary_word", "/maps", "/maps_sketch", "/maps_compare", "/maps_cycle", "/upscale",
            "/playground"} <= names


@pytest.mark.parametrize("args, api_name, fragments", [
    ((-5, 3, 0.8), "/faces", ["minimum", "seed"]),
    ((2**40, 3, 0.8), "/faces", ["maximum", "seed"]),
    ((1, 0, 0.8), "/faces", ["minimum", "number"]),
    ((1, 10**9, 0.8), "/faces", ["maximum"]),
    ((1, 3, 9.0), "/faces", ["maximum"]),
    (("abc", 3, 0.8), "/faces", ["number", "index 0"]),
    ((None, None, None), "/faces", ["index", "must be"]),
    ((0, 1, 10**6, 1.0), "/faces_interpolate", ["maximum"]),
    ((-1, 1, 10, 1.0), "/faces_interpolate", ["minimum", "seed"]),
    (("11", 0, 1, 1.0), "/digits", ["choices"]),
    (("", 0, 1, 1.0), "/digits", ["choices"]),
    (("all", 0, 10**6, 1.0), "/digits", ["maximum"]),
    ((0, 10**6, 1.0), "/digits_same_style", ["maximum"]),
    ((7, 100, 200, 0), "/digits_gan_train", ["choices"]),
    ((10, 10**6, 200, 0), "/digits_gan_train", ["maximum"]),
    ((10, 100, 1, 0), "/digits_gan_train", ["minimum"]),
    ((10, 100, 200, -1), "/digits_gan_train", ["minimum", "seed"]),
    (("", 0, 8, 1.0), "/birds", ["description of a bird"]),
    (("   \n\t ", 0, 8, 1.0), "/birds", ["description of a bird"]),
    (("a red bird", 0, 10**6, 1.0), "/birds", ["maximum"]),
    (("a red bird", -3, 8, 1.0), "/birds", ["minimum", "seed"]),
    (("", 0, 3, 1.0), "/birds_vary_word", ["description of a bird"]),
], ids=lambda v: str(v)[:40])
def test_bad_values_get_a_clear_message(server, args, api_name, fragments):
    client, _ = server
    expect_error(client, args, api_name, *fragments)


@pytest.mark.parametrize("prompt", ["a red bird " * 10_000, "\x00\x01\x1b[31m red bird \x7f", "鳥 🐦 وطائر"],
                         ids=["100KB", "control", "non-latin"])
def test_odd_prompts_are_answered(server, prompt):
    client, _ = server
    gallery, seed, notes = client.predict(prompt, 0, 2, 1.0, api_name="/birds")
    assert len(gallery) == 2 and seed == 0
    assert ("too long" in notes) == (len(prompt) > 50_000)


def test_a_prompt_with_lone_surrogates_is_answered(server):
    """gradio_client cannot send a lone surrogate (not UTF-8); JSON can, as an escape: sent by hand."""
    _, base = server
    body = '{"data": ["a red bird \\udcff\\ud800 with wings", 0, 2, 1.0]}'
    assert "\\udcff" in body and json.loads(body)["data"][0].endswith("\udcff\ud800 with wings")
    stream = raw_call(base, "birds", body)
    assert "event: complete" in stream, stream[:400]
    data = json.loads(stream.split("event: complete", 1)[1].split("data:", 1)[1].strip())
    assert len(data[0]) == 2 and data[1] == 0  # two birds, seed 0


# Every number an endpoint takes, with arguments that work; each is replaced in turn by NaN, +-inf and 1e300.
GOOD_ARGS = {
    "faces": [1, 2, 0.8], "faces_interpolate": [0, 1, 3, 0.8], "digits": ["7", 0, 2, 1.0],
    "digits_same_style": [0, 2, 1.0], "birds": ["a red bird", 0, 2, 1.0], "birds_vary_word": ["a red bird", 0, 1, 1.0],
    "digits_gan_train": [5, 10, 50, 0],
    "playground": ["ring", "ns", 0.001, 0.001, 1, 64, 0],
    "faces_project": [{"background": None, "layers": [], "composite": None}, 10, 0],  # numbers are checked first
    "maps_cycle": [None, "a2b", "tiles", "pix2pix", 2.0, 25.0],  # numbers are checked first
    "faces_mix": ["0-1", "2", ["coarse"], 0.8], "faces_edit": [0, 0.8, 1.0, 0, 0, 0, 0, 0],
}
# Sliders and float Numbers reach our code with NaN (Gradio's range check lets NaN through): our message.
OUR_NAN_MESSAGES = {
    ("faces", 1): "number of faces must be a finite number", ("faces", 2): "truncation must be a finite number",
    ("faces_interpolate", 2): "num_frames must be a finite number",
    ("faces_interpolate", 3): "truncation must be a finite number",
    ("digits", 2): "number of images per digit must be a finite number", ("digits", 3): "truncation must be a finite",
    ("digits_same_style", 1): "number of styles must be a finite number",
    ("digits_same_style", 2): "truncation must be a finite number",
    ("digits_gan_train", 1): "GAN digits per class must be a finite number",
    ("digits_gan_train", 2): "training steps must be a finite number",
    ("birds", 2): "number of birds must be a finite number", ("birds", 3): "truncation must be a finite number",
    ("birds_vary_word", 2): "number of rows must be a finite number",
    ("birds_vary_word", 3): "truncation must be a finite number",
    ("playground", 2): "G learning rate must be a finite number", ("playground", 3): "D learning rate must be a finite",
    ("playground", 4): "D steps per G step must be a finite number", ("playground", 5): "network width must be a finite",
    ("faces_project", 1): "steps must be a finite number",
    ("maps_cycle", 4): "noise must be a finite number", ("maps_cycle", 5): "gain must be a finite number",
    ("faces_mix", 3): "truncation must be a finite number", ("faces_edit", 1): "truncation must be a finite number",
    **{("faces_edit", i): f"strength_{i - 1} must be a finite number" for i in range(2, 8)},
}
NUMBER_SLOTS = [(name, i) for name, args in GOOD_ARGS.items() for i, v in enumerate(args)
                if isinstance(v, (int, float)) and not isinstance(v, bool)]
# Numbers picked from a list (a Radio): Gradio refuses any value not in it, and says which ones are.
NUMBER_CHOICES = {("digits_gan_train", 0)}


def test_every_number_parameter_is_in_the_table(server):
    client, _ = server
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    numbers = {(name.strip("/"), i) for name, ep in api.items() for i, p in enumerate(ep["parameters"])
               if p["component"] in ("Number", "Slider")}
    assert numbers == set(NUMBER_SLOTS) - NUMBER_CHOICES
    floats = {(name.strip("/"), i) for name, ep in api.items() for i, p in enumerate(ep["parameters"])
              if p["component"] == "Slider" or p["python_type"]["type"] == "float"}
    assert floats == set(OUR_NAN_MESSAGES)


@pytest.mark.parametrize("name, index", NUMBER_SLOTS, ids=lambda v: str(v))
def test_nan_infinity_and_huge_numbers_get_a_clear_message(server, name, index):
    _, base = server
    for bad in ("NaN", "Infinity", "-Infinity", "1e300"):
        args = [json.dumps(v) for v in GOOD_ARGS[name]]
        args[index] = bad
        stream = raw_call(base, name, '{"data": [%s]}' % ",".join(args))
        assert "event: error" in stream, (bad, stream[:300])
        error = json.loads(stream.split("event: error", 1)[1].split("data:", 1)[1].strip())["error"]
        assert error and error != "Error", (bad, error)
        if (name, index) in NUMBER_CHOICES:
            assert "is not in the list of choices" in error, (bad, error)
        elif bad == "NaN" and (name, index) in OUR_NAN_MESSAGES:
            assert OUR_NAN_MESSAGES[name, index] in error, error      # our check, not a crash further in
        elif bad != "NaN":
            assert any(w in error for w in ("maximum", "minimum", "between", "preprocess")), (bad, error)
    reply = raw_call(base, "faces", '{"data": %s}' % json.dumps(GOOD_ARGS["faces"]))  # and the server still serves
    assert "event: complete" in reply, reply[:300]


@pytest.mark.parametrize("name, fragments", [
    ("1x1.png", ["too small"]),
    ("bomb-20000x20000.png", ["too many pixels"]),
    ("12000x12000.png", ["megapixels"]),
    ("truncated.png", ["not a readable image"]),
    ("text-named.png", ["not a readable image"]),
    ("empty.png", ["not a readable image", "empty"]),
])
def test_bad_pictures_get_a_clear_message(server, pictures, name, fragments):
    client, _ = server
    expect_error(client, (handle_file(str(pictures[name])), "a2b", "tiles"), "/maps", *fragments)


@pytest.mark.parametrize("name, fragments", [
    ("1x1.png", ["too small"]),
    ("bomb-20000x20000.png", ["too many pixels"]),
    ("12000x12000.png", ["megapixels"]),
    ("truncated.png", ["not a readable image"]),
    ("text-named.png", ["not a readable image"]),
    ("empty.png", ["not a readable image", "empty"]),
])
def test_bad_photos_to_project_get_a_clear_message(server, pictures, name, fragments):
    client, _ = server
    photo = handle_file(str(pictures[name]))
    expect_error(client, ({"background": photo, "layers": [], "composite": photo}, 10, 0), "/faces_project", *fragments)


@pytest.mark.parametrize("name, fragments", [
    ("1x1.png", ["too small"]),
    ("bomb-20000x20000.png", ["too many pixels"]),
    ("12000x12000.png", ["262,144 pixels"]),
    ("truncated.png", ["not a readable image"]),
    ("text-named.png", ["not a readable image"]),
    ("empty.png", ["not a readable image", "empty"]),
])
def test_bad_pictures_to_upscale_get_a_clear_message(server, pictures, name, fragments):
    client, _ = server
    expect_error(client, (handle_file(str(pictures[name])),), "/upscale", *fragments)


def error_of(stream: str) -> str:
    assert "event: error" in stream, stream[:400]
    return json.loads(stream.split("event: error", 1)[1].split("data:", 1)[1].strip())["error"]


# Each way a picture reaches a tab's code: an ordinary upload (a file path for each picture: what gradio_client and
# the page send) and an ImageEditor's blobs (posted to the component server first, then only {"id": ...} submitted:
# what a page sends for an editor with a change or input listener, and any client can send by hand).
SENDS = {
    ("/maps", "upload"): lambda client, base, path: client.predict(handle_file(str(path)), "a2b", "tiles",
                                                                   api_name="/maps"),
    ("/upscale", "upload"): lambda client, base, path: client.predict(handle_file(str(path)), api_name="/upscale"),
    ("/faces_project", "upload"): lambda client, base, path: client.predict(
        {"background": handle_file(str(path)), "layers": [], "composite": handle_file(str(path))}, 10, 0,
        api_name="/faces_project"),
    ("/faces_project", "blobs"): lambda client, base, path: error_of(raw_call(
        base, "faces_project", json.dumps({"data": [editor_upload(base, "faces-photo", path.read_bytes()), 10, 0]}))),
    ("/maps_sketch", "blobs"): lambda client, base, path: error_of(raw_call(
        base, "maps_sketch", json.dumps({"data": [editor_upload(base, "maps-canvas", path.read_bytes())]}))),
}


def refusal(client, base, api_name, way, path) -> str:
    """The error message for sending ``path`` to ``api_name`` this ``way`` (an answer instead fails the test)."""
    send = SENDS[api_name, way]
    if way == "blobs":
        return send(client, base, path)
    with pytest.raises(Exception) as info:
        send(client, base, path)
    return str(info.value)


@pytest.mark.parametrize("api_name, way, name, fragments", [
    ("/maps", "upload", "13000x13000-rgba.png", ["13000x13000", "64 megapixels"]),
    ("/faces_project", "upload", "13000x13000-rgba.png", ["13000x13000", "16.8 megapixels (4096x4096)"]),
    ("/faces_project", "blobs", "13000x13000-rgba.png", ["13000x13000", "16.8 megapixels (4096x4096)"]),
    ("/maps_sketch", "blobs", "13000x13000-rgba.png", ["13000x13000", "16.8 megapixels (4096x4096)"]),
    ("/upscale", "upload", "16-bit-6600x6000.png", ["6600x6000", "262,144 pixels"]),
], ids=["maps-upload", "faces_project-upload", "faces_project-blobs", "maps_sketch-blobs", "upscale-upload"])
def test_a_big_picture_that_really_holds_its_pixels_is_refused_before_it_is_decoded(
        server, pictures, app_process, api_name, way, name, fragments):
    """Pictures that are small to send and big to decode, on every way in: 13000x13000 RGBA (169 megapixels, under
    PIL's bomb limit) is 0.7 MB as a PNG and 676 MB decoded; a 6600x6000 16-bit grey PNG is 0.1 MB and 79 MB decoded
    (more once widened). Each is refused from its header, with the server's own peak memory read from /proc."""
    client, base = server
    path = pictures[name]
    assert path.stat().st_size < 1_000_000
    with Image.open(path) as im:
        assert "x".join(map(str, im.size)) == fragments[0]
    refusal(client, base, api_name, way, pictures["12000x12000.png"])  # the same way once first: the code is warm
    app_process.reset_peak_memory()
    baseline = app_process.peak_memory_mb()
    message = refusal(client, base, api_name, way, path)
    grown = app_process.peak_memory_mb() - baseline
    assert grown < 150, f"the server's peak memory grew {grown:.0f} MB for one refused upload ({message})"
    assert message.startswith("The upload is refused") and all(f in message for f in fragments), message


def test_a_map_sent_as_editor_blobs_is_translated(server):
    """The blob way (posted to the component server, then {"id": ...}) still reaches the tab's code."""
    _, base = server
    canvas = Image.new("RGBA", (256, 256), (0, 0, 0, 0))
    canvas.paste((255, 255, 255, 255), (0, 120, 256, 136))  # a street across a transparent (unpainted) canvas
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG")
    payload = editor_upload(base, "maps-canvas", buffer.getvalue())
    stream = raw_call(base, "maps_sketch", json.dumps({"data": [payload]}))
    assert "event: complete" in stream, stream[:400]
    image, note = json.loads(stream.split("event: complete", 1)[1].split("data:", 1)[1].strip())
    assert image["path"].endswith(".png") and "256x256" in note, note


def test_an_upload_over_10_mb_is_refused_by_the_launch_options(server, tmp_path):
    client, _ = server
    big = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (2000, 2000, 3), dtype=np.uint8)).save(big)
    assert big.stat().st_size > 10 * 2**20  # 12 MB of incompressible pixels
    with pytest.raises(Exception, match="maximum file size of 10485760 bytes"):  # gradio_client reads the limit
        client.predict(handle_file(str(big)), "a2b", "tiles", api_name="/maps")
    import httpx

    _, base = server  # and the server enforces it against a client that does not look
    with big.open("rb") as f:
        reply = httpx.post(f"{base}/gradio_api/upload", files={"files": ("noise.png", f, "image/png")}, timeout=60)
    assert reply.status_code == 413 and "10" in reply.text, (reply.status_code, reply.text[:200])


@pytest.mark.parametrize("name", ["animated.gif", "16-bit.png", "cmyk.jpg", "rgba.png", "palette.png"])
def test_odd_but_valid_pictures_are_translated(server, pictures, name):
    client, _ = server
    image, download, note = client.predict(handle_file(str(pictures[name])), "b2a", "tiles", api_name="/maps")
    with Image.open(image) as out:
        assert out.mode == "RGB" and min(out.size) >= 256


def test_bad_direction_and_mode_are_named(server, pictures):
    client, _ = server
    expect_error(client, (handle_file(str(pictures["rgba.png"])), "sideways", "tiles"), "/maps", "choices")
    expect_error(client, (handle_file(str(pictures["rgba.png"])), "a2b", "zoom"), "/maps", "choices")
    expect_error(client, ({"background": None, "layers": [], "composite": None},), "/maps_sketch", "paint")


def test_raw_requests_with_nan_or_garbage_do_not_hurt_the_server(server):
    """What gradio_client refuses to send (NaN, not JSON at all) sent by hand, then a normal request."""
    import httpx

    client, base = server
    for body in ['{"data": [NaN, 3, 0.8]}', '{"data": [1, Infinity, 0.8]}', "not json at all", '{"data": "x"}']:
        reply = httpx.post(f"{base}/gradio_api/call/faces", content=body,
                           headers={"Content-Type": "application/json"}, timeout=30)
        if reply.status_code == 200:  # accepted into the queue: its result must be an error event
            event_id = reply.json()["event_id"]
            stream = httpx.get(f"{base}/gradio_api/call/faces/{event_id}", timeout=30).text
            assert "event: error" in stream, stream[:300]
        else:
            assert 400 <= reply.status_code < 500, reply.status_code
    gallery, _ = client.predict(1, 2, 0.8, api_name="/faces")
    assert len(gallery) == 2
    assert json.dumps(gallery)  # a normal answer
