"""The Playground tab: watch a vanilla GAN learn a 2-D distribution, live.

Each Train press starts a background worker thread for this session that trains in
short chunks and hands frames to the event's generator, several a second. Bounds: at
most MAX_SECONDS and MAX_STEPS per press. The worker stops when Stop is pressed, when the
user leaves (gradio's unload), or when nobody has taken a frame for IDLE_S seconds (the
event was cancelled or the client vanished). Other tabs come first: all workers share a
semaphore of (cores - 1) compute slots, so however many people train at once at least one
core stays free; each worker thread runs at a lower OS priority (nice +10, Linux); and the
training chunk per frame shrinks as more sessions train, so everyone still sees frames.

Building the page imports no torch (the app builds every page before it listens): the target shown before any
training is drawn with numpy (gan_models/playground/plane.py), and the networks and their frames (toy_gan.py,
render.py) are imported by the first request that builds or draws them.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import defaultdict
from typing import TYPE_CHECKING

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw

from gan_models.core.checks import InputError, check_int
from gan_models.playground.plane import LOSSES, MAX_POINTS, REAL, dots, target_points, to_pixels, to_plane

if TYPE_CHECKING:
    from gan_models.playground.toy_gan import ToyGAN

from .common import Models, user_error
from .queue_limits import PLAYGROUND_ID

MAX_SECONDS, MAX_STEPS = 60.0, 20_000
FRAME_S, CHUNK_S, IDLE_S = 0.15, 0.12, 10.0  # ~6 frames a second; training time per frame, shared
END_S = 10.0  # how long Stop, Reset and the others wait for a live run to send its last frame
SIZE = 400  # the plot panel, in pixels
WORKER_NICE = 10
COMPUTE = threading.BoundedSemaphore(max(1, (os.cpu_count() or 2) - 1))
TARGET_CHOICES = [("ring of 8 Gaussians", "ring"), ("5 x 5 grid", "grid"), ("two moons", "moons"),
                  ("spiral", "spiral"), ("your points (click the plot)", "custom")]
LOSS_CHOICES = [(label, key) for key, label in LOSSES.items()]

# name -> (target, loss, lr_g, lr_d, d_steps, width, explanation). The outcomes quoted are
# measured with the command line (docs/playground.md), seeds 0-2, 2000 steps.
PRESETS = {
    "Baseline: non-saturating loss, balanced players": (
        "ring", "ns", 1e-3, 1e-3, 1, 64,
        "The textbook recipe: one D step per G step, equal learning rates, G maximises log D(G(z)). "
        "The purple points spread towards the ring and hop between modes as D's verdict moves: "
        "a vanilla GAN rarely holds all eight at once, which is what the mode counter shows."),
    "Failure: saturating loss with a too-strong D": (
        "ring", "minimax", 1e-3, 3e-3, 5, 64,
        "D learns faster (3x the learning rate, 5 steps per G step) and soon rejects every fake "
        "with confidence, where the original minimax loss log(1 - D(G(z))) is flat: G's arrows "
        "shrink to nothing and it stalls or collapses onto one mode. This is why the 2014 paper "
        "already recommends the non-saturating loss."),
    "Half a fix: non-saturating loss, same strong D": (
        "ring", "ns", 1e-3, 3e-3, 5, 64,
        "Only the loss changes: -log D(G(z)) is steepest exactly where G is losing, so the arrows "
        "stay long and G moves. But against so strong a D it chases one mode at a time: mode "
        "collapse, the other classic failure."),
    "Fix: WGAN-GP critic, 5 critic steps": (
        "ring", "wgan-gp", 1e-3, 1e-3, 5, 64,
        "A Wasserstein critic with a gradient penalty keeps useful, bounded gradients everywhere, "
        "even when it is far ahead, so a strong critic helps instead of hurting. The points reach "
        "all eight modes and stay there (the background is the critic's score, not a probability)."),
    "Failure: oscillation with high learning rates": (
        "ring", "ns", 3e-2, 3e-2, 1, 64,
        "With learning rates 30x too high each player overshoots its best reply to the other: the "
        "points swing across the plane and the loss curves oscillate without settling. Gradient "
        "descent on a two-player game need not converge; small steps are what keep it near balance."),
    "Fix: learning rates 30x lower": (
        "ring", "ns", 1e-3, 1e-3, 1, 64,
        "Same loss and networks, steps of 1e-3: the points now move smoothly and settle on the "
        "ring, and the losses hover around their balance (log 4 = 1.39 for D's, summed over real and fake). "
        "What remains is the vanilla GAN's slow mode hopping; the WGAN-GP preset shows one cure."),
    "Custom: draw your own modes": (
        "custom", "wgan-gp", 1e-3, 1e-3, 5, 64,
        "Click the plot to place modes (at least two), then press Train. Try modes far apart, or "
        "one lone mode beside a crowd: the lone one is the first a collapsing GAN forgets."),
}

PLAYGROUND_HOW = """
### How it works
This is the lectures' **vanilla GAN** on 2-D points instead of pictures. The *generator*
G is a small network (3 hidden layers) that turns 8 random numbers into a point (x, y);
the *discriminator* D is another small network that scores a point: real (drawn from the
target) or fake (made by G). They train in turns: `D steps per G step` updates of D on a
batch of 256 real and 256 fake points, then one update of G to make D say "real".

What you see: the background is D's opinion of every point of the plane (green: real,
purple: fake, white: unsure); dark green dots are real samples, purple dots are G's. The
black arrows show where G's loss pushes some of G's points (minus its gradient): G moves
its points up D's slope towards green. Short arrows mean G gets little signal: that is
the saturating (minimax) loss's problem when D is confident. The title counts the
**modes covered** (a mode counts if it gets a fair fraction of samples within 3 standard
deviations of its centre) and the share of **good** samples. Below: D's and G's losses;
a GAN's losses do not go to zero: they oscillate while the two players balance.
"""


class Session:
    """One browser session's playground: the GAN, clicked points, and the current run's stop flag."""

    def __init__(self):
        self.gan: ToyGAN | None = None
        self.key: tuple | None = None  # what the GAN was built with; a change means a new GAN
        self.points: list[tuple[float, float]] = []
        self.stop = threading.Event()
        self.ended = threading.Event()  # set while no Train run of this session is live
        self.ended.set()
        self.waiting = False  # a Train press waits in gradio's queue for a training slot
        self.drop = False  # ... and Stop (or Reset, a click, ...) came meanwhile: it must not start
        self.lock = threading.Lock()  # one mutation of the GAN at a time (a Step during a Train)
        # Guards waiting, drop, stop and ended: a press becomes its run, and Stop reads what to end and signals it,
        # each in one step, so that a Stop always finds the press waiting or its run live, never neither. Held for
        # a few assignments only (never while computing or waiting), so Stop, outside the queue, answers at once.
        self.run_lock = threading.Lock()

    def close(self) -> None:
        self.stop.set()


_ACTIVE, _ACTIVE_LOCK = [0], threading.Lock()  # workers training now, in all sessions
_LIVE: dict[str, set[threading.Event]] = defaultdict(set)  # session hash -> its running workers' stop flags


def _stop_session(request: gr.Request | None) -> None:
    """gradio's unload: the user closed or reloaded the page, so stop their training."""
    if request is not None and request.session_hash:
        for stop in _LIVE.pop(request.session_hash, set()):
            stop.set()


def _signal_end(session: Session) -> tuple[bool, bool, threading.Event]:
    """Drop a press still waiting for a slot and tell the live run to stop, in one step under the run lock.

    Returns (a press was waiting, a run was live, the event set when that run has sent its last frame).
    """
    with session.run_lock:
        waiting, live = session.waiting, not session.ended.is_set()
        if waiting:
            session.drop = True
        session.stop.set()
        return waiting, live, session.ended


def _end_run(session: Session | None, timeout: float = END_S) -> bool:
    """Stop the session's live run and wait until its generator has sent its last frame; False on timeout.

    Whatever writes the plot or the status after a run must wait for this: the run's messages and
    the next event's output would otherwise race to the page, and a frame sent a moment before Stop
    could land after it and overwrite "Stopped" with "Training" (seen under load).
    """
    if session is None:
        return True
    return _signal_end(session)[2].wait(timeout)


def press(session: Session | None) -> Session:
    """Train's first step, at once and outside the queue: mark the press as waiting for a slot."""
    session = session or Session()
    with session.run_lock:
        session.waiting, session.drop = True, False
    return session


def prepare(session: Session | None, target, loss, lr_g, lr_d, d_steps, width, seed) -> Session:
    """The session's GAN for these settings: new if the target, width, seed or points changed, else reconfigured."""
    from gan_models.playground.toy_gan import ToyGAN

    session = session or Session()
    width = check_int(width, "network width", 4, 256)  # before it is a key: int(NaN) raised a bare ValueError
    key = (target, width, seed, tuple(session.points))
    with session.lock:
        if session.gan is None or key != session.key:
            session.gan = ToyGAN(target, loss, lr_g, lr_d, d_steps, width, seed=0 if seed is None else seed,
                                 points=session.points if target == "custom" else None)
            session.key = key
        else:
            session.gan.configure(loss, lr_g, lr_d, d_steps)
    return session


def _draw(gan: ToyGAN) -> Image.Image:
    """A frame of ``gan`` (render.py, imported here: the networks exist, so torch is imported already)."""
    from gan_models.playground.render import render

    return render(gan, SIZE)


def _frame(session: Session) -> Image.Image:
    with COMPUTE, session.lock:
        return _draw(session.gan)


def _worker(session: Session, gan: ToyGAN, stop: threading.Event, frames: queue.Queue,
            max_seconds: float, max_steps: int) -> None:
    import torch

    torch.set_num_threads(1)  # tiny networks: one thread is fastest, and leaves the others' cores alone
    try:  # a lower OS priority for this thread only (Linux): the other tabs' requests come first
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICE)
    except (AttributeError, OSError):
        pass
    start, deadline = gan.steps, time.monotonic() + max_seconds
    with _ACTIVE_LOCK:
        _ACTIVE[0] += 1
    try:
        while not stop.is_set():
            began = time.monotonic()
            with COMPUTE, session.lock:  # the chunk shrinks as more sessions train, so frames keep coming
                chunk_end = time.monotonic() + CHUNK_S / max(1, _ACTIVE[0])
                while time.monotonic() < chunk_end and gan.steps - start < max_steps and not stop.is_set():
                    gan.step(1)
                frame = _draw(gan)
            done = gan.steps - start >= max_steps or time.monotonic() >= deadline
            frames.put((frame, done), timeout=IDLE_S)  # queue.Full: nobody is watching any more
            if done:
                return
            stop.wait(max(0.0, FRAME_S - (time.monotonic() - began)))
    except queue.Full:
        return
    except Exception as err:  # hand it to the event, which shows it
        try:
            frames.put(err, timeout=IDLE_S)
        except queue.Full:
            pass
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE[0] -= 1


def train(session, target, loss, lr_g, lr_d, d_steps, width, seed, request: gr.Request | None = None,
          max_seconds: float = MAX_SECONDS, max_steps: int = MAX_STEPS):
    """Train live: yields (frame, session, status) several times a second until done or stopped."""
    session = session or Session()
    # The press becomes this run in one step: from here on a Stop finds the run live (and ends it, even while its
    # networks are still being built below); before it, the press waiting. Never neither, which lost a Stop.
    with session.run_lock:
        session.waiting, dropped, session.drop = False, session.drop, False
        if not dropped:
            previous = session.stop, session.ended
            session.stop = stop = threading.Event()
            session.ended = ended = threading.Event()
    if dropped:  # stopped while it waited for a slot: show nothing, what stopped it has spoken
        yield gr.skip(), session, gr.skip()
        return
    hash_ = getattr(request, "session_hash", None)
    if hash_:
        _LIVE[hash_].add(stop)
    try:
        previous[0].set()  # a second press while a run is live: that run ends first
        previous[1].wait(END_S)
        try:
            session = prepare(session, target, loss, lr_g, lr_d, d_steps, width, seed)
        except InputError as err:
            raise user_error(err) from err
        frames: queue.Queue = queue.Queue(maxsize=1)
        worker = threading.Thread(target=_worker, args=(session, session.gan, stop, frames, max_seconds, max_steps),
                                  daemon=True, name="playground-worker")
        began, first, done = time.monotonic(), session.gan.steps, False
        worker.start()  # (stopped during the build: it ends at once, and the run says "Stopped at step N (Stop)")
        while True:
            try:
                item = frames.get(timeout=0.2)
            except queue.Empty:
                if worker.is_alive():
                    continue
                break
            if isinstance(item, Exception):
                raise gr.Error(f"training failed: {item}")
            frame, done = item
            rate = (session.gan.steps - first) / max(time.monotonic() - began, 1e-6)
            yield frame, session, f"Training: step {session.gan.steps} ({rate:.0f} steps/s)"
            if done:
                break
        why = f"the bound of {max_seconds:g} s and {max_steps:,} steps a press" if done else "Stop"
        yield _frame(session), session, f"Stopped at step {session.gan.steps} ({why}). Press Train to go on."
    finally:  # also runs when the event is cancelled and the generator closed
        stop.set()
        ended.set()
        if hash_ and hash_ in _LIVE:
            _LIVE[hash_].discard(stop)
            if not _LIVE[hash_]:
                _LIVE.pop(hash_, None)


def step_once(session, target, loss, lr_g, lr_d, d_steps, width, seed):
    """One G update (after its D updates), then a frame."""
    try:
        session = prepare(session, target, loss, lr_g, lr_d, d_steps, width, seed)
    except InputError as err:
        raise user_error(err) from err
    with COMPUTE, session.lock:
        session.gan.step(1)
        frame = _draw(session.gan)
    return frame, session, f"Step {session.gan.steps}."


def reset(session, target, loss, lr_g, lr_d, d_steps, width, seed):
    """Fresh networks with these settings; stops a run in progress."""
    if session is not None:
        _end_run(session)
        session.gan = None
    try:
        session = prepare(session, target, loss, lr_g, lr_d, d_steps, width, seed)
    except InputError as err:
        raise user_error(err) from err
    return _frame(session), session, "Fresh networks: step 0."


def stop_training(session):
    """Stop the live run and let its own last message say so (with its last frame), in its own stream.

    A press still waiting for a training slot is dropped: it will not start.
    """
    if session is None:
        return "Press Train."
    waiting, live, ended = _signal_end(session)  # drops a waiting press, ends a live run
    if not ended.wait(END_S):
        return f"Stopping at step {session.gan.steps if session.gan is not None else 0}..."
    if live:
        return gr.skip()  # "Stopped at step N (Stop)" has come from the run itself
    if waiting:
        return "Stopped before it started (it was waiting for a training slot). Press Train to go on."
    return "Press Train." if session.gan is None else f"Not training (step {session.gan.steps}). Press Train to go on."


def preview(target, points=()) -> Image.Image:
    """The target alone (before training), same layout as a frame: clicks map to the same coordinates. Drawn with
    numpy: the page shows the default target's when it is built."""
    canvas = np.full((SIZE, SIZE, 3), 246, np.uint8)
    centres = np.asarray(points, np.float32).reshape(-1, 2)
    if target != "custom":
        dots(canvas, to_pixels(target_points(target, 512, seed=12345), SIZE), REAL, 1)
    elif len(centres):
        dots(canvas, to_pixels(centres, SIZE), REAL, 3)
    image = Image.new("RGB", (SIZE, SIZE + 100), (255, 255, 255))
    image.paste(Image.fromarray(canvas), (0, 0))
    caption = ("Click the plot to place modes (at least 2), then press Train." if target == "custom"
               else "The target: press Train to watch G learn it.")
    ImageDraw.Draw(image).text((4, SIZE + 4), caption, fill=(60, 60, 60))
    return image


def show_target(session, target):
    """A new target choice: stop any run and show the target (or the clicked points)."""
    _end_run(session)
    points = session.points if session is not None else []
    return preview(target, points), session, "Press Train."


def add_point(session, target, evt: gr.SelectData):
    """A click on the plot adds a mode there (custom target only); training restarts from scratch."""
    session = session or Session()
    if target != "custom":
        return gr.skip(), session, "Choose the target “your points” to place modes by clicking the plot."
    x, y = evt.index[0], evt.index[1]
    if not (0 <= x < SIZE and 0 <= y < SIZE):
        return gr.skip(), session, "Click inside the plot, not on the loss curves."
    if len(session.points) >= MAX_POINTS:
        raise user_error(InputError(f"at most {MAX_POINTS} points"))
    _end_run(session)
    session.points.append(tuple(round(v, 3) for v in to_plane(x, y, SIZE)))
    session.gan = None
    n = len(session.points)
    return preview("custom", session.points), session, f"{n} point{'s' * (n != 1)}" + (
        "; click at least one more." if n < 2 else "; press Train.")


def clear_points(session):
    session = session or Session()
    _end_run(session)
    session.points, session.gan = [], None
    return preview("custom"), session, "Points cleared: click the plot to place modes."


def apply_preset(name):
    target, loss, lr_g, lr_d, d_steps, width, text = PRESETS[name]
    return target, loss, lr_g, lr_d, d_steps, width, f"**{name}.** {text}"


def playground_tab(models: Models):
    """Build the tab. ``models`` is unused (nothing to load) but kept for a uniform tab signature."""
    first = next(iter(PRESETS))
    target0, loss0, lr_g0, lr_d0, d_steps0, width0, _ = PRESETS[first]
    session = gr.State(None, delete_callback=lambda s: s.close() if s is not None else None)
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            preset = gr.Dropdown(list(PRESETS), value=first, label="Preset")
            explanation = gr.Markdown(apply_preset(first)[-1])
            target = gr.Dropdown(TARGET_CHOICES, value=target0, label="Target distribution")
            loss = gr.Dropdown(LOSS_CHOICES, value=loss0, label="Loss")
            with gr.Row():
                lr_g = gr.Number(lr_g0, label="G learning rate", minimum=1e-5, maximum=0.1, step=1e-4)
                lr_d = gr.Number(lr_d0, label="D learning rate", minimum=1e-5, maximum=0.1, step=1e-4)
            d_steps = gr.Slider(1, 10, value=d_steps0, step=1, label="D steps per G step")
            width = gr.Slider(4, 256, value=width0, step=4, label="Network width (both nets)")
            seed = gr.Number(0, label="Seed", precision=0, minimum=0)
        with gr.Column(scale=2):
            with gr.Row():
                train_btn = gr.Button("Train", variant="primary")
                stop_btn = gr.Button("Stop")
                step_btn = gr.Button("Step once")
                reset_btn = gr.Button("Reset")
            status = gr.Markdown("Press Train (at most 60 s and 20,000 steps a press).")
            plot = gr.Image(label="D's decision surface, real and generated points, G's gradients; losses below",
                            type="pil", format="png", interactive=False, height=SIZE + 100, width=SIZE,
                            buttons=["download"], value=preview(target0), elem_id="playground-plot")
            clear_btn = gr.Button("Clear my points", size="sm")
    gr.Markdown(PLAYGROUND_HOW)
    note = gr.Markdown("Nothing to download: these networks are trained from scratch in your browser session.")

    settings = [session, target, loss, lr_g, lr_d, d_steps, width, seed]
    outputs = [plot, session, status]
    preset.change(apply_preset, preset, [target, loss, lr_g, lr_d, d_steps, width, explanation], api_name=False)
    # Train is two steps: the press is marked at once (so that Stop can drop a press still waiting for
    # a slot), then the run. Nothing cancels the run's event: Stop, Reset, a new target, a click and
    # Clear end a live run themselves and wait for its last frame, so that no frame of the run can land
    # after what they show (a cancelled run's last "Training" frame could, under load)
    train_btn.click(press, session, session, queue=False, api_name=False, show_progress="hidden").then(
        train, settings, outputs, api_name="playground", concurrency_limit=4, concurrency_id=PLAYGROUND_ID)
    stop_btn.click(stop_training, session, status, api_name=False, queue=False)
    step_btn.click(step_once, settings, outputs, api_name=False)  # short: their own queue slots
    reset_btn.click(reset, settings, outputs, api_name=False)
    target.change(show_target, [session, target], outputs, api_name=False)
    plot.select(add_point, [session, target], outputs, api_name=False)
    clear_btn.click(clear_points, session, outputs, api_name=False)
    root = gr.context.Context.root_block
    if root is not None:
        root.unload(_stop_session)
    return note
