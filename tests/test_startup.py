"""Starting the app: what is imported before the server listens.

torch (about 1.3 s of imports) and diffusers (about 3 s more) are for requests and for the preload thread that
app.py starts once the server listens; importing the app and building its page must need neither.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import ROOT

# What app.main() does before demo.launch(), in a fresh interpreter; then which of the two were imported, and, for
# each, the lines of the project that were running when it was first imported.
BUILD_AS_MAIN_DOES = """
import json, sys, traceback

WATCHED, ROOT, first = ("torch", "diffusers"), sys.argv[1], {}

class FirstImport:
    def find_spec(self, name, path=None, target=None):
        if name in WATCHED and name not in first:
            first[name] = [f"{f.filename[len(ROOT) + 1:]}:{f.lineno}" for f in traceback.extract_stack()
                           if f.filename.startswith(ROOT)]
        return None  # only watches: the import goes on as usual

sys.meta_path.insert(0, FirstImport())
import app
from tabs.common import Models

app.set_up_queue(app.build_demo(Models({}, use_hub=None), None))
print(json.dumps({"imported": {name: name in sys.modules for name in WATCHED}, "from": first}))
"""


def test_importing_the_app_and_building_its_page_imports_neither_torch_nor_diffusers():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("GAN_GALLERY_HUB", None)
    result = subprocess.run([sys.executable, "-c", BUILD_AS_MAIN_DOES, str(ROOT)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["imported"] == {"torch": False, "diffusers": False}, report["from"]
