"""GAN Gallery: a Gradio app with one tab per GAN demo.

    python app.py                     # http://127.0.0.1:7860, embedded default weights, offline
    python app.py --host 0.0.0.0 --port 8080
    GAN_GALLERY_HUB=1 python app.py   # weights from the Hub repos in spaces.yml (falls back if offline)
    python app.py --mnist FOLDER      # where the Digits tab's classifier section reads MNIST

Every tab's main action is an API endpoint (/faces, ...) that gradio_client can call.
Models load lazily, once, on the first request that needs them; building the page loads
none and imports neither torch nor diffusers, so the server listens first. The Faces tab's first
gallery is ready by then: kept drawn from the embedded weights (tabs/first_gallery/), or drawn
meanwhile by a child process (tabs/first_faces.py). Each tab is built by one function in tabs/.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import threading

from gan_models.hub.weights_source import hub_enabled
from tabs.first_faces import EarlyFaces  # imports neither gradio nor torch

if __name__ == "__main__":
    # First, before gradio's import (4 s of one core): the Faces tab's first gallery, from its cache if that was
    # drawn from the weights the tab will load, else from a child process that draws it on the other core meanwhile
    # (tabs/first_faces.py); main() hands it to the tab, or drops it if the tab is told to use other weights.
    EARLY_FACES = EarlyFaces.start(use_hub=hub_enabled())

import gradio as gr  # noqa: E402  (after the child's start, on purpose)

from gan_models.registry import DEMOS, tab_title
from tabs.common import Models
from tabs.birds import birds_tab
from tabs.digits import digits_tab
from tabs.faces import faces_tab
from tabs.maps import maps_tab, weights_note as maps_weights_note
from tabs.playground import playground_tab
from tabs.queue_limits import QueueLimits
from tabs.superres import INPUT_WRITERS as SUPERRES_INPUT_WRITERS, picked, superres_tab

QUEUE_SIZE = 32  # waiting requests, all users together (tabs/queue_limits.py: each user's share of the long ones)


def build_demo(models: Models | None = None, mnist: str | None = None,
               early_faces: EarlyFaces | None = None) -> gr.Blocks:
    """``mnist``: where the Digits tab's classifier section reads real digits (default: ../shared/data/mnist if
    there, else ylecun/mnist from the Hub). ``early_faces``: the child process drawing the Faces tab's first
    gallery (app.py's start), or None (the tab draws it on the first page load)."""
    models = models or Models()
    with gr.Blocks(title="GAN Gallery", delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# GAN Gallery\nGenerative adversarial networks you can play with, on a CPU. "
                    "Each tab is one model; each says how it works and where its weights came from.")
        with gr.Tabs() as tabs:
            with gr.Tab(tab_title("faces"), id="faces"):
                faces_note, faces_send = faces_tab(models, early_faces)
            demo.load(lambda: " ".join(f"{d.title}: {models.describe(d)}" for d in (DEMOS["style_faces"], DEMOS["faces"])),
                      None, faces_note, api_name=False)
            with gr.Tab(DEMOS["digits"].title, id="digits"):
                digits_note = digits_tab(models, mnist)
            demo.load(lambda: models.describe(DEMOS["digits"]), None, digits_note, api_name=False)
            with gr.Tab(DEMOS["birds"].title, id="birds"):
                birds_note, birds_send = birds_tab(models)
            demo.load(lambda: models.describe(DEMOS["birds"]), None, birds_note, api_name=False)
            with gr.Tab(tab_title("maps"), id="maps"):
                maps_note = maps_tab(models)
            demo.load(lambda: maps_weights_note(models), None, maps_note, api_name=False)
            with gr.Tab(DEMOS["superres"].title, id="superres"):
                superres_note, superres_input = superres_tab(models)
            demo.load(lambda: models.describe(DEMOS["superres"]), None, superres_note, api_name=False)
            with gr.Tab("GAN playground", id="playground"):
                playground_tab(models)
        # "send to super-resolution" beside the Faces and Birds galleries: the picture becomes that tab's input
        for gallery, button, selected in (faces_send, birds_send):
            button.click(lambda value, index: (picked(value, index), gr.Tabs(selected="superres")),
                         [gallery, selected], [superres_input, tabs], api_name=False, **SUPERRES_INPUT_WRITERS)
    return demo


# Uploads capped at 10 MB; only the app's own generated files are served; an error's message
# (ours, or Gradio's when it cannot decode an upload) reaches the user instead of a generic "Error".
LAUNCH_OPTIONS = dict(max_file_size="10mb", allowed_paths=[], show_error=True)


def set_up_queue(demo: gr.Blocks) -> gr.Blocks:
    """The queue as served: QUEUE_SIZE places; each cheap event two at a time; the long requests two at a time
    together, at most two waiting or running per user, and at most half the places (tabs/queue_limits.py); and
    today's calls of an endpoint that has since gained a last parameter answered as before."""
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=2)
    QueueLimits().install(demo)
    accept_shorter_calls(demo)
    return demo


def trailing_defaults(fn) -> list:
    """The defaults of an event function's last parameters that are inputs (a Progress or Request is Gradio's, not
    an input): [] when its last input has no default."""
    params = [p for p in inspect.signature(fn.fn).parameters.values()
              if not isinstance(p.default, gr.Progress) and p.annotation not in (gr.Request, "gr.Request")]
    params = params[:len(fn.inputs)]
    defaults = []
    for p in reversed(params):
        if p.default is inspect.Parameter.empty:
            break
        defaults.insert(0, p.default)
    return defaults


def accept_shorter_calls(demo: gr.Blocks) -> None:
    """An API call that leaves out an endpoint's last parameters gets their defaults, as gradio_client's calls do.

    The Faces and Maps tabs' model choice is a parameter added at the end of /faces, /faces_interpolate,
    /faces_project and /maps, with a default (the default model). gradio_client fills it in; a plain HTTP call
    (``POST /gradio_api/call/faces`` with today's three values) would be refused by Gradio ("didn't receive enough
    input values"), so the values it leaves out are added here, before the request is queued."""
    push = demo._queue.push
    defaults = {i: trailing_defaults(fn) for i, fn in demo.fns.items() if fn.api_name and fn.fn is not None}

    async def padded_push(body, request, username):
        missing = len(demo.fns[body.fn_index].inputs) - len(body.data) if body.fn_index in defaults else 0
        if isinstance(body.data, list) and 0 < missing <= len(defaults[body.fn_index]):
            body.data = body.data + defaults[body.fn_index][-missing:]
        return await push(body, request, username)

    demo._queue.push = padded_push


PRELOAD_WAIT_S = 10.0  # the longest the model's preload waits for the first visitor to take the first gallery


def preload(models: Models, demo, early_faces: EarlyFaces | None = None) -> None:
    """Load ``demo``'s model, after the first gallery's child (if any) has drawn: until then it has a core to itself,
    and the first visit's faces need nothing else. Then it waits for the first visit to take that gallery (at most
    PRELOAD_WAIT_S): the model's imports hold the interpreter's lock, and would slow the page that shows it."""
    if early_faces is not None:
        early_faces.wait()
        early_faces.taken.wait(PRELOAD_WAIT_S)
    try:
        models.get(demo)
    except Exception as err:  # the tab says so when it is opened; the server keeps starting
        logging.getLogger("gan_gallery").warning("preloading %s failed: %s", demo.name, err)


def loads_as(models: Models, name: str, use_hub: bool) -> bool:
    """Whether ``models`` loads demo ``name`` from no source of its own, with the Hub switched on or off as
    ``use_hub`` says (so as the first gallery's child loads it)."""
    return name not in models.sources and (hub_enabled() if models.use_hub is None else models.use_hub) == use_hub


def main(argv=None, early_faces: EarlyFaces | None = None):
    parser = argparse.ArgumentParser(description="Run the GAN Gallery app.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--hub", action="store_true", help="load weights from the Hub repos in spaces.yml")
    for name in DEMOS:
        parser.add_argument(f"--{name}-weights", default=None, metavar="FOLDER_OR_REPO",
                            help=f"weights for the {name} tab (a folder, or a Hub repo id[@revision])")
    parser.add_argument("--mnist", default=None, metavar="FOLDER_OR_DATASET",
                        help="real digits for the Digits tab's classifier section (default: ../shared/data/mnist "
                             "if there, else ylecun/mnist from the Hub)")
    try:
        args = parser.parse_args(argv)
    except SystemExit:  # --help, or a mistyped option: nobody will want the child's faces
        if early_faces is not None:
            early_faces.cancel()
        raise
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sources = {}
    for name in DEMOS:
        value = getattr(args, f"{name}_weights")
        if value:
            repo, _, rev = value.partition("@")
            sources[name] = (repo, rev or None)
    models = Models(sources, use_hub=True if args.hub else None)
    if early_faces is not None and not loads_as(models, "style_faces", early_faces.use_hub):
        early_faces.cancel()  # it drew other weights' faces than the tab is told to use
        early_faces = None
    demo = set_up_queue(build_demo(models, args.mnist, early_faces))  # loads no model: the first visits are
    # page-load events (the Faces tab's first gallery is the child's, if it drew one)
    demo.launch(server_name=args.host, server_port=args.port, prevent_thread_lock=True, **LAUNCH_OPTIONS)
    # Listening: now the first tab's model (with torch and diffusers: seconds of imports) loads, before anyone asks
    # for it (the other tabs load on their first use). A request that arrives first waits for this same load.
    # (Started any earlier, it would only delay listening: imports hold the interpreter's lock, so they do not
    # overlap.)
    threading.Thread(target=preload, args=(models, DEMOS["style_faces"], early_faces), daemon=True,
                     name="preload-faces").start()
    demo.block_thread()


if __name__ == "__main__":
    main(early_faces=EARLY_FACES)
