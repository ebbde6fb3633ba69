"""The gallery in a real browser: Debian's Chromium, driven by Playwright, on `python app.py` itself.

What a user sees and does, tab by tab: every tab shows something on the first visit; each main
button gives the number of pictures asked for and the browser decodes them (``naturalWidth > 0``);
the example buttons and prompts work; a stroke painted with the mouse becomes an aerial photo; the
playground trains, its frames change, and Stop stops it; long actions show a progress bar; bad
input gets a toast with our message. During every test the browser console must show no error and
no request may fail with 4xx/5xx. A failed test leaves a screenshot of its page (the path is
printed). Skipped, with the reason, when /usr/bin/chromium or the playwright package is missing
(`playwright install` is never needed: the system Chromium is used).
"""

from __future__ import annotations

import io
import os
import re
import time

import pytest

from conftest import CHROMIUM, VIEWPORT, launch_chromium

if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium); the browser tests need it",
                allow_module_level=True)
try:
    from playwright.sync_api import sync_playwright
except ImportError:
    pytest.skip("the playwright package is not installed (pip install -r requirements-dev.txt)",
                allow_module_level=True)

from PIL import Image

from gan_models.birds.prompts import EXAMPLE_PROMPTS
from gan_models.registry import DEMOS, tab_title, tabs
from tabs.faces_style import named_edits

TABS = {tab: tab_title(tab) for tab in tabs()} | {"playground": "GAN playground"}
SLOW = 60_000  # ms: a first request may wait for a model to load while other tabs' first visits run


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


class Watch:
    """What the page reported during one test: console errors, uncaught exceptions, HTTP 4xx/5xx answers.

    Nothing is ignored: Gradio's image editor logs PixiJS deprecation notices and Chromium's software WebGL
    logs "GPU stall" notices, but both are console *warnings*, and only errors are collected.
    """

    def __init__(self, page):
        self.errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"console error: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(f"uncaught exception: {e}"))
        page.on("response", lambda r: r.status >= 400 and self.errors.append(f"HTTP {r.status}: {r.url}"))


@pytest.fixture
def page(browser, app_process, request, tmp_path_factory):
    """A fresh page on the app (its first-visit events run), watched; screenshot kept if the test fails."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(SLOW)
    watch = Watch(page)
    page.goto(app_process.url + "/")
    try:
        yield page
    finally:
        report = getattr(request.node, "rep_call", None)
        if (report is not None and report.failed) or watch.errors:
            folder = tmp_path_factory.getbasetemp() / "browser-screenshots"
            folder.mkdir(exist_ok=True)
            shot = folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', request.node.name)}.png"
            try:
                page.screenshot(path=str(shot), full_page=True)
                print(f"\nscreenshot of the page: {shot}\napp log: {app_process.log_path}")
            except Exception as err:  # a crashed page: say so, keep the test's own failure
                print(f"\nno screenshot ({err}); app log: {app_process.log_path}")
        context.close()
    assert not watch.errors, "the browser reported:\n" + "\n".join(watch.errors)


# ----------------------------------------------------------------------------- helpers
def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=TABS[name], exact=True).click()


def open_accordion(page, title: str) -> None:
    page.get_by_role("button", name=re.compile("^" + re.escape(title))).click()


def visible(locator):
    return locator.filter(visible=True).first


def set_number(page, label: str, value) -> None:
    """Type into the visible number box called ``label`` (a slider's box is "number input for <label>")."""
    box = visible(page.get_by_label(label, exact=True))

    def typed() -> bool:
        if box.input_value() != str(value):  # (a section that has just opened may still reset its boxes)
            box.fill(str(value))
            box.press("Enter")
            box.blur()  # a slider's box commits (and clamps) on blur; then let the page's effects run
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => "
                          "setTimeout(r, 100))))")
        return box.input_value() == str(value)

    wait_until(typed, f"{label} set to {value}", timeout=15)
    page.evaluate("() => new Promise(r => setTimeout(r, 200))")  # and still so a moment later
    assert box.input_value() == str(value), f"{label}: {box.input_value()!r} after setting {value}"


def editor_ready(page, selector: str) -> None:
    """Wait until an ImageEditor has drawn its canvases (its zoom figure shows). Opened in an accordion, it takes a
    moment (1.7 s here under load); a file given before that is lost and Gradio's editor throws ("reading
    'reset_layers'"), as a user dropping a picture at once would see (README, Limits)."""
    wait_until(lambda: page.evaluate("""sel => [...document.querySelectorAll(sel + ' canvas')]
        .filter(c => c.width > 0).length""", selector) >= 1, f"the image editor {selector} ready")


def images(page, selector: str) -> list[dict]:
    return page.evaluate("""sel => [...document.querySelectorAll(sel + ' img')].map(i => (
        {w: i.naturalWidth, h: i.naturalHeight, done: i.complete, alt: i.alt, src: i.src}))""", selector)


def wait_until(check, what: str, timeout: float = SLOW / 1000, every: float = 0.1):
    """Poll ``check()`` until it returns something truthy; fail saying what was awaited and what was last seen."""
    end, last = time.monotonic() + timeout, None
    while time.monotonic() < end:
        try:
            last = check()
        except Exception as err:  # the element is being re-rendered
            last = err
        if last and not isinstance(last, Exception):
            return last
        time.sleep(every)
    pytest.fail(f"{what}: not within {timeout:g} s (last seen: {last!r})")


def decoded(page, selector: str, count: int | None = None, first_alt: str | None = None,
            timeout: float = SLOW / 1000) -> list[dict]:
    """The <img> elements under ``selector`` once there are ``count`` of them (any, if None), the first with
    alt text ``first_alt`` if given, and every one decoded by the browser (naturalWidth > 0)."""
    seen = []

    def check():
        found = seen[:] = images(page, selector)
        if not found or (count is not None and len(found) != count):
            return None
        if first_alt is not None and found[0]["alt"] != first_alt:
            return None
        return found if all(i["done"] and i["w"] > 0 for i in found) else None

    what = f"{count if count is not None else 'some'} decoded images in {selector}" + (
        f" starting with {first_alt!r}" if first_alt else "")
    try:
        return wait_until(check, what, timeout)
    except pytest.fail.Exception as err:
        shown = [(i["alt"], i["w"]) for i in seen]
        pytest.fail(f"{err}; the page has {len(seen)} (alt text, naturalWidth): {shown}")


def picture(page, src: str) -> Image.Image:
    """The picture the page shows at ``src``, fetched through the page's own session."""
    reply = page.request.get(src)
    assert reply.ok, (reply.status, src)
    return Image.open(io.BytesIO(reply.body())).convert("RGB")


def toast(page) -> str:
    visible(page.locator(".toast-body")).wait_for()
    return " ".join(page.locator(".toast-body").all_inner_texts())


def no_error_toast(page) -> None:
    assert page.locator(".toast-body").count() == 0, page.locator(".toast-body").all_inner_texts()


PROGRESS_WATCH = """() => { window.__progress = [];
  new MutationObserver(() => { for (const bar of document.querySelectorAll('[role=progressbar]')) {
      const seen = (bar.getAttribute('aria-label') || '') + ' | ' + (bar.closest('.wrap')?.innerText || '');
      if (!window.__progress.includes(seen)) window.__progress.push(seen); } })
    .observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true}); }"""


# ----------------------------------------------------------------------------- first visit
def test_every_tab_opens_and_shows_something_on_first_visit(page, app_process):
    decoded(page, "#faces-gallery", 16, "seed 0")
    # those 16 faces were taken early: from the cache drawn from the embedded weights (tabs/first_gallery/), or
    # drawn by the child process that app.py started before importing gradio
    assert "make_faces_fns.<locals>.faces taken early" in app_process.log_path.read_text()
    open_tab(page, "digits")
    decoded(page, "#digits-gallery", 8, "7 · seed 0")
    open_tab(page, "birds")
    decoded(page, "#birds-gallery", 8, "seed 0")
    open_tab(page, "maps")
    source, = decoded(page, "#maps-input", 1)
    result, = decoded(page, "#maps-output", 1)
    assert (source["w"], result["w"]) == (256, 256)
    assert picture(page, source["src"]).getpixel((0, 0)) != picture(page, result["src"]).getpixel((0, 0))
    assert page.get_by_label("Map → aerial photo").is_checked()  # the direction that fits the example map
    visible(page.get_by_text("map -> aerial: 1 tile of 256x256")).wait_for()
    # the first click on the default screen translates again, with no error
    page.get_by_role("button", name="Translate", exact=True).click()
    wait_until(lambda: images(page, "#maps-output")[0]["src"] != result["src"], "a new translation")
    decoded(page, "#maps-output", 1)
    open_tab(page, "superres")
    small, = decoded(page, "#superres-input", 1)
    assert small["w"] == 64  # a face made by the Faces tab's DCGAN, upscaled three ways, and their zoom crops
    for method in ("bicubic", "srresnet", "srgan"):
        big, = decoded(page, f"#superres-{method}", 1)
        assert big["w"] == 256
        decoded(page, f"#superres-zoom-{method}", 1)
    open_tab(page, "playground")
    decoded(page, "#playground-plot", 1)
    no_error_toast(page)
    assert page.locator("span.error").filter(visible=True).count() == 0  # no red "Error" badge on any output


def test_send_a_face_and_a_bird_to_super_resolution(page):
    """The button beside each gallery sends the selected picture (the first if none is) to the Super-resolution tab,
    which opens; Upscale 4x then makes three pictures 4x its size."""
    faces = decoded(page, "#faces-gallery", 16, "seed 0")
    page.locator("#faces-gallery button.thumbnail-item").nth(2).click()  # select seed 2's face
    visible(page.get_by_role("button", name="Send the selected face to Super-resolution")).click()
    wait_until(lambda: images(page, "#superres-input") and images(page, "#superres-input")[0]["w"] == 64,
               "the face in the Super-resolution input")
    sent, = decoded(page, "#superres-input", 1)
    assert picture(page, sent["src"]).tobytes() == picture(page, faces[2]["src"]).tobytes()
    before = images(page, "#superres-srgan")
    page.get_by_role("button", name="Upscale 4x", exact=True).click()
    wait_until(lambda: images(page, "#superres-srgan") and images(page, "#superres-srgan") != before, "a new upscale")
    big, = decoded(page, "#superres-srgan", 1)
    assert big["w"] == 256
    open_tab(page, "birds")
    birds = decoded(page, "#birds-gallery", 8, "seed 0")
    visible(page.get_by_role("button", name="Send the selected bird to Super-resolution")).click()
    wait_until(lambda: images(page, "#superres-input") and images(page, "#superres-input")[0]["src"] != sent["src"],
               "the bird in the Super-resolution input")
    bird, = decoded(page, "#superres-input", 1)
    assert picture(page, bird["src"]).tobytes() == picture(page, birds[0]["src"]).tobytes()
    no_error_toast(page)


def test_the_faces_model_choice_mixing_and_editing(page):
    """The same seeds in the other model; the style-mixing figure; an edit slider moves the face (the embedded
    style-based model's named edits)."""
    style = decoded(page, "#faces-gallery", 16, "seed 0")
    page.locator("#faces-model").get_by_text("DCGAN (2016)").click()
    wait_until(lambda: images(page, "#faces-gallery")[0]["src"] != style[0]["src"], "the DCGAN's faces")
    dcgan = decoded(page, "#faces-gallery", 16, "seed 0")
    assert picture(page, dcgan[0]["src"]).tobytes() != picture(page, style[0]["src"]).tobytes()

    open_accordion(page, "Style mixing")
    visible(page.get_by_role("button", name="Mix", exact=True)).click()
    figure, = decoded(page, "#faces-mix-figure", 1)
    assert (figure["w"], figure["h"]) == (2 * (4 + 5 * 68), 2 * (4 + 5 * 68))  # seeds 0-3 down, 10-13 across
    visible(page.locator("#faces-mix-note").get_by_text("taken from the columns: coarse")).wait_for()

    open_accordion(page, "Edit a face")
    first = named_edits(DEMOS["style_faces"].embedded)[0]["name"]
    set_number(page, f"number input for {first}", 3)  # (the opening section may reset a box typed into at once)
    visible(page.get_by_role("button", name="Edit", exact=True)).click()
    visible(page.locator("#faces-edit-note").get_by_text(f"{first} +3")).wait_for()
    shown, = decoded(page, "#faces-edited", 1)
    both = picture(page, shown["src"])
    assert both.size == (2 * 192 + 8, 192)
    assert both.crop((0, 0, 192, 192)).tobytes() != both.crop((200, 0, 392, 192)).tobytes()
    no_error_toast(page)


# ----------------------------------------------------------------------------- main buttons
def test_each_main_button_gives_the_pictures_asked_for(page):
    decoded(page, "#faces-gallery", 16)
    set_number(page, "Seed", 100)
    set_number(page, "number input for Number of faces", 5)
    visible(page.get_by_role("button", name="Generate", exact=True)).click()
    faces = decoded(page, "#faces-gallery", 5, "seed 100")
    assert [f["alt"] for f in faces] == [f"seed {s}" for s in range(100, 105)]

    open_tab(page, "digits")
    decoded(page, "#digits-gallery", 8)
    set_number(page, "Seed", 7)
    set_number(page, "number input for Images per digit", 3)
    visible(page.get_by_role("button", name="Generate", exact=True)).click()
    decoded(page, "#digits-gallery", 3, "7 · seed 7")
    open_accordion(page, "Same style, every digit")
    set_number(page, "number input for Styles (rows)", 2)
    page.get_by_role("button", name="Draw every digit in each style").click()
    grid, = decoded(page, "#digits-style-grid", 1)
    assert (grid["w"], grid["h"]) == (10 * 58 + 2, 2 * 58 + 2)  # 10 digits x 2 styles, 28 px at 2x, 2 px gaps

    open_tab(page, "birds")
    decoded(page, "#birds-gallery", 8)
    set_number(page, "Seed", 11)
    set_number(page, "number input for Number of birds", 4)
    visible(page.get_by_role("button", name="Generate", exact=True)).click()
    decoded(page, "#birds-gallery", 4, "seed 11")

    open_tab(page, "maps")
    decoded(page, "#maps-output", 1)
    before = images(page, "#maps-output")[0]["src"]
    page.get_by_role("button", name="Translate", exact=True).click()
    wait_until(lambda: images(page, "#maps-output")[0]["src"] != before, "a new translation")
    assert len(decoded(page, "#maps-output", 1)) == 1
    no_error_toast(page)


def test_example_buttons_and_example_prompts(page):
    open_tab(page, "maps")
    decoded(page, "#maps-output", 1)  # the first visit's translation is done
    first, = decoded(page, "#maps-input", 1)
    set_number(page, "Example seed", 3)
    page.get_by_role("button", name="Example map (drawn by code)").click()
    wait_until(lambda: images(page, "#maps-input")[0]["src"] != first["src"], "seed 3's example map")
    drawn, = decoded(page, "#maps-input", 1)
    assert page.get_by_label("Map → aerial photo").is_checked()
    assert picture(page, drawn["src"]).tobytes() != picture(page, first["src"]).tobytes()  # seed 3's, not seed 0's
    page.get_by_role("button", name="Example aerial photo (made by the model)").click()
    wait_until(lambda: images(page, "#maps-input")[0]["src"] != drawn["src"], "seed 3's aerial photo")
    aerial, = decoded(page, "#maps-input", 1)
    assert aerial["w"] == 256 and page.get_by_label("Aerial photo → map").is_checked()
    page.get_by_role("button", name="Translate", exact=True).click()  # the aerial photo back into a map
    visible(page.get_by_text("aerial -> map: 1 tile of 256x256")).wait_for()
    decoded(page, "#maps-output", 1)

    open_tab(page, "birds")
    decoded(page, "#birds-gallery", 8, "seed 0")
    first_birds = images(page, "#birds-gallery")[0]["src"]
    page.locator("button.gallery-item", has_text=EXAMPLE_PROMPTS[2]).click()
    box = visible(page.get_by_label("Describe a bird"))  # (the example fills the box a moment later under load)
    wait_until(lambda: box.input_value() == EXAMPLE_PROMPTS[2], "the example prompt in the box")
    visible(page.get_by_role("button", name="Generate", exact=True)).click()
    wait_until(lambda: images(page, "#birds-gallery")[0]["src"] != first_birds, "birds for the example prompt")
    blue, = decoded(page, "#birds-gallery", 8, "seed 0")[:1]
    assert picture(page, blue["src"]).tobytes() != picture(page, first_birds).tobytes()  # same seed, other words
    no_error_toast(page)


def test_a_painted_stroke_becomes_an_aerial_photo(page):
    open_tab(page, "maps")
    canvas = page.locator("#maps-canvas")
    canvas.scroll_into_view_if_needed()
    paint = page.get_by_role("button", name="Make it an aerial photo")
    paint.click()  # the blank canvas first: the photo of no map at all
    blank, = decoded(page, "#maps-painted", 1)
    box = canvas.locator("canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 100, cy - 40)
    page.mouse.down()
    page.mouse.move(cx + 100, cy + 40, steps=6)  # a street across the canvas, in the default (street) colour
    page.mouse.up()
    paint.click()
    wait_until(lambda: images(page, "#maps-painted")[0]["src"] != blank["src"], "the painted map's photo")
    painted, = decoded(page, "#maps-painted", 1)
    assert (painted["w"], painted["h"]) == (256, 256)
    a, b = picture(page, blank["src"]), picture(page, painted["src"])
    changed = sum(1 for p, q in zip(a.getdata(), b.getdata()) if max(abs(x - y) for x, y in zip(p, q)) > 40)
    assert changed > 500, f"the stroke changed only {changed} pixels of the photo"
    visible(page.get_by_text("map -> aerial: 1 tile of 256x256")).wait_for()


def test_maps_model_choice_both_models_and_the_cycle_view(page):
    """The Maps tab's CycleGAN controls: the model choice (unpaired, with its weights not installed yet, says so),
    both models side by side, and the way there and back, whose error the noise slider raises."""
    open_tab(page, "maps")
    decoded(page, "#maps-output", 1)
    page.get_by_role("button", name="Translate with both models").click()
    decoded(page, "#maps-paired", 1)
    if DEMOS["cyclegan_maps"].not_installed:
        visible(page.locator("#maps-both-note").get_by_text("weights are not installed yet")).wait_for()
        page.get_by_label("unpaired (CycleGAN)").check()
        page.get_by_role("button", name="Translate", exact=True).click()
        assert "weights are not installed yet" in toast(page)
        page.get_by_label("paired (pix2pix)").check()  # the cycle view with the model that is there
    else:
        decoded(page, "#maps-unpaired", 1)
    open_accordion(page, "There and back: photo")

    def error_in_note() -> float:
        text = page.locator("#maps-cycle-note").inner_text()
        found = re.search(r"reconstruction error (\d+\.\d+) levels", text)
        return float(found.group(1)) if found else None

    page.get_by_role("button", name="Go there and back").click()
    decoded(page, "#maps-cycle", 4)  # input, map, photo again, error (the first visit's input is a map: b2a)
    clean = wait_until(error_in_note, "the reconstruction error")
    set_number(page, "number input for Noise on the map before the way back (σ, levels of 255)", 16)
    page.get_by_role("button", name="Go there and back").click()
    wait_until(lambda: "noise sigma 16" in page.locator("#maps-cycle-note").inner_text(), "the noisy way back")
    noisy = error_in_note()
    assert noisy != clean, (clean, noisy)
    decoded(page, "#maps-cycle", 4)


# ----------------------------------------------------------------------------- do GAN digits train a classifier?
def test_gan_digits_train_a_classifier_live(page):
    """The Digits tab's classifier section on the app's made-up MNIST (conftest's app_process passes --mnist): with 5
    real and 10 cGAN digits per class and 50 steps, the three accuracies come side by side with the learning curves'
    plot and a note on what was done, and the progress bar showed the training steps."""
    open_tab(page, "digits")
    decoded(page, "#digits-gallery", 8)
    open_accordion(page, "Do GAN digits train a classifier?")
    page.locator("#digits-gan-real").get_by_label("5", exact=True).check()
    set_number(page, "number input for cGAN digits per class", 10)
    set_number(page, "number input for Training steps (each classifier)", 50)
    page.evaluate(PROGRESS_WATCH)
    page.get_by_role("button", name="Train the three classifiers").click()
    note = visible(page.locator("#digits-gan-note"))
    wait_until(lambda: "Training took" in note.inner_text(), "the run's note")
    assert "Each classifier: 50 steps of 64, on 50 real digits; the same + 100 cGAN digits; 100 cGAN digits only" \
        in note.inner_text()
    texts = "sel => [...document.querySelectorAll(sel)].map(t => t.textContent.replace('\u22ee', '').trim())"
    headers = page.evaluate(texts, "#digits-gan-accuracies th")  # (a header ends with its menu button's glyph)
    cells = page.evaluate(texts, "#digits-gan-accuracies td")
    assert [h for h in headers if h] == ["Real only", "Real + GAN", "GAN only"], headers
    accuracies = [float(c) for c in cells if c]
    assert len(accuracies) == 3 and all(0 <= a <= 100 for a in accuracies), cells
    lines = wait_until(lambda: page.evaluate("""() => [...document.querySelectorAll(
        '#digits-gan-curves svg.marks .mark-line path')].filter(p => p.getAttribute('d')).length"""), "three curves")
    assert lines == 3
    legend = page.locator("#digits-gan-curves svg.marks").text_content()
    assert all(t in legend for t in ("Real only", "Real + GAN", "GAN only")), legend
    seen = page.evaluate("() => window.__progress")
    assert any(re.search(r"(Real only|Real \+ GAN|GAN only): step \d+/50", s) for s in seen), seen
    no_error_toast(page)


# ----------------------------------------------------------------------------- playground
def test_playground_trains_its_frames_advance_and_stop_stops_it(page):
    open_tab(page, "playground")
    start, = decoded(page, "#playground-plot", 1)
    page.get_by_role("button", name="Train", exact=True).click()
    frames = {start["src"]}
    wait_until(lambda: frames.add(images(page, "#playground-plot")[0]["src"]) or len(frames) >= 4,
               "three new frames while training", timeout=30)
    visible(page.get_by_text(re.compile(r"Training: step \d+"))).wait_for()
    page.get_by_role("button", name="Stop", exact=True).click()
    visible(page.get_by_text(re.compile(r"Stopped at step \d+"))).wait_for(timeout=10_000)
    time.sleep(0.5)  # a frame already on its way may still arrive
    last = images(page, "#playground-plot")[0]["src"]
    time.sleep(2.0)  # about 12 frames' time: none may come
    assert images(page, "#playground-plot")[0]["src"] == last, "frames kept coming after Stop"
    decoded(page, "#playground-plot", 1)
    no_error_toast(page)


def test_playground_reset_during_a_run_shows_fresh_networks_and_nothing_of_the_run_lands_after_it(page):
    open_tab(page, "playground")
    start, = decoded(page, "#playground-plot", 1)
    page.get_by_role("button", name="Train", exact=True).click()
    wait_until(lambda: images(page, "#playground-plot")[0]["src"] != start["src"], "a frame while training")
    page.get_by_role("button", name="Reset", exact=True).click()
    fresh = visible(page.get_by_text("Fresh networks: step 0."))
    fresh.wait_for(timeout=15_000)
    last = images(page, "#playground-plot")[0]["src"]
    time.sleep(2.0)  # a frame of the run arriving now would replace both
    assert images(page, "#playground-plot")[0]["src"] == last and fresh.is_visible()
    no_error_toast(page)


# ----------------------------------------------------------------------------- progress
def test_long_actions_show_a_progress_bar(page, tmp_path):
    decoded(page, "#faces-gallery", 16)
    page.evaluate(PROGRESS_WATCH)
    open_accordion(page, "Interpolate between two seeds")
    set_number(page, "number input for Frames", 60)
    page.get_by_role("button", name="Animate").click()
    decoded(page, "#faces-walk", 1)
    # Gradio sends progress about every 0.1 s, so on a fast machine a short stage can pass unseen: one of the
    # stages must be seen (the drawing, the pipeline's 8 batches of frames, the 118 GIF frames: 60 there, 58 back)
    seen = page.evaluate("() => window.__progress")
    assert any("Drawing the frames" in s or re.search(r"\d+/8 steps", s)
               or ("Encoding the GIF" in s and "/118 frames" in s) for s in seen), seen

    open_tab(page, "birds")
    decoded(page, "#birds-gallery", 8)
    page.evaluate(PROGRESS_WATCH)
    open_accordion(page, "Vary one word: same noise, the colour word swapped")
    page.get_by_role("button", name="Swap the colour word").click()
    grid, = decoded(page, "#birds-swap-grid", 1)
    assert (grid["w"], grid["h"]) == (9 * 130 + 2, 16 + 3 * 130 + 2)  # 9 colour words x 3 seeds
    seen = page.evaluate("() => window.__progress")
    assert any("Drawing 3 x 9 birds" in s or "Laying out the grid" in s for s in seen), seen

    from gan_models.maps.palette import draw_map

    big = tmp_path / "big-map.png"
    draw_map(5, 256).resize((1024, 1024), Image.Resampling.NEAREST).save(big)  # 25 tiles: 4 batches of 8
    open_tab(page, "maps")
    decoded(page, "#maps-output", 1)
    page.evaluate(PROGRESS_WATCH)
    page.locator("#maps-input").get_by_role("button", name="Remove Image").click()
    page.locator("#maps-input input[type=file]").set_input_files(str(big))
    decoded(page, "#maps-input", 1)
    page.get_by_label("Map → aerial photo").check()
    page.get_by_role("button", name="Translate", exact=True).click()
    visible(page.get_by_text("25 tiles of 256x256")).wait_for()
    seen = page.evaluate("() => window.__progress")
    assert any(re.search(r"\d/4 steps", s) for s in seen), seen
    no_error_toast(page)


# ----------------------------------------------------------------------------- bad input
def test_an_out_of_range_number_gets_our_message(page):
    open_tab(page, "playground")
    decoded(page, "#playground-plot", 1)
    set_number(page, "Seed", 3_000_000_000)  # the box has no maximum: our check answers
    page.get_by_role("button", name="Train", exact=True).click()
    assert "seed must be between 0 and 2147483647, got 3000000000" in toast(page)


def test_a_file_that_is_not_a_picture_gets_our_message(page, tmp_path):
    notes = tmp_path / "notes.png"  # named like a picture, so the browser's file filter lets it through
    notes.write_text("these are my notes, not a picture\n")
    open_tab(page, "maps")
    decoded(page, "#maps-output", 1)
    page.locator("#maps-input").get_by_role("button", name="Remove Image").click()
    page.locator("#maps-input input[type=file]").set_input_files(str(notes))
    wait_until(lambda: images(page, "#maps-input"), "the upload shown (as a broken picture)")
    page.get_by_role("button", name="Translate", exact=True).click()
    assert "The upload is not a readable image: use a PNG, JPEG, WebP or GIF file" in toast(page)


# ----------------------------------------------------------------------------- bring your own face
def test_a_photo_is_projected_and_walked_from(page, tmp_path):
    """The projection section: the framing example is there; a photo set in the crop editor (a face the model
    drew, at 100x100) gets the photo | face picture, the optimisation's frames, a note and a latent file; the
    walk from it to a seed gives a GIF. The progress bar shows the steps."""
    from gan_models.faces.pipeline import DCGANPipeline

    me = tmp_path / "me.png"
    DCGANPipeline.from_pretrained(DEMOS["faces"].embedded)(seeds=[77]).images[0].resize((100, 100)).save(me)
    decoded(page, "#faces-gallery", 16)
    open_accordion(page, "Bring your own face")
    decoded(page, "#faces-framing", 1)
    page.evaluate(PROGRESS_WATCH)
    editor_ready(page, "#faces-photo")
    page.locator("#faces-photo input[type=file]").first.set_input_files(str(me))
    wait_until(lambda: "Upload an image" not in page.locator("#faces-photo").inner_text(), "the photo in the editor")
    set_number(page, "number input for Steps", 20)
    page.get_by_role("button", name="Find the closest face").click()
    compared, = decoded(page, "#faces-projected", 1)
    assert (compared["w"], compared["h"]) == (2 * 192 + 8, 192)
    decoded(page, "#faces-projection-frames", 8)
    visible(page.get_by_text(re.compile(r"PSNR \d+\.\d dB against your photo at 64x64 after 20 steps"))).wait_for()
    seen = page.evaluate("() => window.__progress")
    assert any(re.search(r"Step \d+/20", s) for s in seen), seen
    visible(page.locator("#faces-latent-file a")).wait_for()  # the download link
    page.get_by_role("button", name="Walk from here to seed N").click()
    decoded(page, "#faces-photo-walk", 1)
    no_error_toast(page)
