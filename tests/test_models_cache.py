"""tabs.common.Models: each demo's pipeline loaded once, even under concurrent first requests, and a slow
load of one demo never blocks a demo that is already loaded (a lock per demo)."""

from __future__ import annotations

import threading
import time

import tabs.common as tabs_common
from gan_models.registry import DEMOS
from gan_models.hub.weights_source import Loaded


def test_concurrent_first_requests_load_a_demo_once(monkeypatch):
    calls = []

    def slow_load(demo, source, revision, use_hub=None):
        calls.append(demo.name)
        time.sleep(0.3)
        return Loaded(object(), f"fake {demo.name}")

    monkeypatch.setattr(tabs_common, "load_demo", slow_load)
    models = tabs_common.Models(use_hub=False)
    got = []
    threads = [threading.Thread(target=lambda: got.append(models.get(DEMOS["faces"]))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["faces"]                       # one load, not one per request
    assert len(got) == 4 and len({id(g) for g in got}) == 1


def test_a_slow_load_does_not_block_another_demo(monkeypatch):
    release = threading.Event()

    def load(demo, source, revision, use_hub=None):
        if demo.name == "birds":
            release.wait(10)                         # a birds load that takes its time
        return Loaded(object(), f"fake {demo.name}")

    monkeypatch.setattr(tabs_common, "load_demo", load)
    models = tabs_common.Models(use_hub=False)
    models.get(DEMOS["faces"])                       # already loaded
    birds = threading.Thread(target=lambda: models.get(DEMOS["birds"]))
    birds.start()
    time.sleep(0.1)                                  # birds now holds its lock
    done = threading.Event()
    threading.Thread(target=lambda: (models.get(DEMOS["faces"]), models.get(DEMOS["digits"]), done.set())).start()
    try:
        assert done.wait(2), "faces/digits requests waited for the birds load"
    finally:
        release.set()
        birds.join()
    assert models.get(DEMOS["birds"]).origin == "fake birds"
