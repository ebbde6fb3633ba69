"""What a careless or hostile user sends, to every endpoint of the running app through gradio_client.

The app runs on its embedded weights, launched with the options `python app.py` uses. Each bad
request must get an error whose message says what is wrong (never Gradio's bare "Error"), and
the server must keep serving with bounded memory. Pictures are made here: nothing is downloaded.
"""

from __future__ import annotations

import io
import json
import resource
import socket
import struct
import zlib

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    demo = app.build_demo()
    demo.queue(max_size=app.QUEUE_SIZE, default_concurrency_limit=2)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **app.LAUNCH_OPTIONS)
    yield Client(f"http://127.0.0.1:{port}/", verbose=False), f"http://127.0.0.1:{port}"
    demo.close()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def header_only_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming width x height, with only a few rows of data: a decompression bomb's shape."""
    rows = b"".join(b"\x00" + b"\x00" * (width * 3) for _ in range(4))
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(rows, 9)) + _png_chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    files = {}

    def save(name, writer):
        path = folder / name
        writer(path)
        files[name] = path

    save("1x1.png", lambda p: Image.new("RGB", (1, 1), "red").save(p))
    save("bomb-20000x20000.png", lambda p: p.write_bytes(header_only_png(20_000, 20_000)))
    save("12000x12000.png", lambda p: p.write_bytes(header_only_png(12_000, 12_000)))
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
    assert {"/faces", "/faces_interpolate", "/digits", "/digits_same_style", "/birds", "/birds_vary_word",
            "/maps", "/maps_sketch", "/playground"} <= names


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
    (("", 0, 8, 1.0), "/birds", ["description of a bird"]),
    (("   \n\t ", 0, 8, 1.0), "/birds", ["description of a bird"]),
    (("a red bird", 0, 10**6, 1.0), "/birds", ["maximum"]),
    (("a red bird", -3, 8, 1.0), "/birds", ["minimum", "seed"]),
    (("", 0, 3, 1.0), "/birds_vary_word", ["description of a bird"]),
], ids=lambda v: str(v)[:40])
def test_bad_values_get_a_clear_message(server, args, api_name, fragments):
    client, _ = server
    expect_error(client, args, api_name, *fragments)


@pytest.mark.parametrize("prompt", ["a red bird " * 10_000, "\x00\x01\x1b[31m red bird \x7f", "鳥 🐦 وطائر",
                                    "a red bird \udcff\ud800"], ids=["100KB", "control", "non-latin", "surrogates"])
def test_odd_prompts_are_answered(server, prompt):
    client, _ = server
    try:
        gallery, seed, notes = client.predict(prompt, 0, 2, 1.0, api_name="/birds")
    except (UnicodeEncodeError, ValueError):  # the client cannot even send lone surrogates as UTF-8 JSON
        assert "\udcff" in prompt
        return
    assert len(gallery) == 2
    if len(prompt) > 50_000:
        assert "too long" in notes


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
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    expect_error(client, (handle_file(str(pictures[name])), "a2b", "tiles"), "/maps", *fragments)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200, f"memory grew {grown_mb:.0f} MB on {name}"  # nothing big was decoded


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
