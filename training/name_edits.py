"""Find editing directions in a style-based generator without labels (GANSpace), look at them, and name them.

    python training/name_edits.py gan_models/weights/style_faces --render runs/edits.png       # 1. look
    python training/name_edits.py gan_models/weights/style_faces \\
        --edit "Smile=5:middle:mouth opens into a smile" --edit "Age=2:coarse:younger <-> older"  # 2. name

GANSpace (Härkönen et al. 2020): map 20,000 random z to w, take the principal components of the
w's: the directions in which the generator's w's vary most. Moving a face's w along one of them,
in some layers only, tends to change one thing (pose in the coarse layers, a smile in the middle
ones, light and colour in the fine ones). Nothing says what a component does: step 1 draws, for
each of the first ``--components`` components and each layer group, four faces moved from -3 to
+3 standard deviations, one strip per (component, group); a person looks. Step 2 writes the ones
that have a name into the folder's ``model_index.json`` (the pipeline's ``edits``; the weights
are not touched): ``NAME=COMPONENT:GROUPS:NOTE`` with GROUPS one of coarse, middle, fine, or
several joined by '+' (coarse+middle), and NOTE what else was seen to move with it. A direction
without a clear name is left out. A component's sign is PCA's choice (fixed per weights, but new
weights may flip it): when the name reads the strip backwards (the faces brighten at minus, say),
write the component with a minus (``Brighter light=-5:coarse``), and the slider's plus goes the
name's way.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_models.faces.style_pipeline import EditDirection, StyleFacesPipeline, set_edits  # noqa: E402
from gan_models.faces.stylegan import LAYER_GROUPS  # noqa: E402

STEPS = (-3.0, -1.5, 0.0, 1.5, 3.0)
GROUPS = {"coarse": ("coarse",), "middle": ("middle",), "fine": ("fine",), "all": ("coarse", "middle", "fine")}


def layers_of(groups) -> tuple[int, int]:
    """Contiguous groups -> their [start, end) in ws."""
    spans = sorted(LAYER_GROUPS[g] for g in groups)
    for (_, end), (start, _) in zip(spans, spans[1:]):
        if end != start:
            raise SystemExit(f"error: layer groups {'+'.join(groups)} are not next to one another")
    return spans[0][0], spans[-1][1]


def render(pipe: StyleFacesPipeline, num: int, seeds: list[int], path: Path, truncation: float) -> None:
    components, sigmas = pipe.principal_directions(num)
    rows, labels = [], []
    for k in range(num):
        for name, groups in GROUPS.items():
            edit = EditDirection(f"pc{k}", components[k], layers_of(groups), float(sigmas[k]), k)
            probe = pipe.with_edits([edit])
            strip = [probe.edit(seeds=seeds, strengths={0: s}, truncation=truncation).images for s in STEPS]
            rows.append([strip[j][i] for i in range(len(seeds)) for j in range(len(STEPS))])
            labels.append(f"pc{k} {name} sigma {float(sigmas[k]):.2f}")
    size, label_w = 64, 150
    sheet = Image.new("RGB", (label_w + size * len(rows[0]), size * len(rows)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for r, (row, label) in enumerate(zip(rows, labels)):
        draw.text((4, r * size + 26), label, fill=(0, 0, 0))
        for c, face in enumerate(row):
            sheet.paste(face, (label_w + c * size, r * size))
    sheet.save(path)
    print(f"wrote {path}: one row per (component, layer group), {len(seeds)} seeds x strengths {STEPS}")


def parse_edit(text: str) -> tuple[str, float, int, tuple[int, int], str]:
    """``NAME=COMPONENT:GROUPS[:NOTE]`` -> (name, sign, component, layers, note); a minus on the component reverses it."""
    try:
        name, rest = text.split("=", 1)
        component, groups, *note = rest.split(":", 2)
        sign, k = (-1.0 if component.strip().startswith("-") else 1.0), abs(int(component))
        groups = tuple(groups.split("+"))
    except ValueError:
        raise SystemExit(f"error: --edit {text!r}: write NAME=COMPONENT:GROUPS[:NOTE], e.g. Smile=5:middle") from None
    unknown = [g for g in groups if g not in LAYER_GROUPS]
    if unknown:
        raise SystemExit(f"error: --edit {text!r}: layer groups are {', '.join(LAYER_GROUPS)}, got {unknown}")
    return name.strip(), sign, k, layers_of(groups), note[0] if note else ""


def named_edit(text: str, parsed, components, sigmas) -> EditDirection:
    """An --edit (``text``, ``parsed`` by parse_edit) as the direction it names among ``components`` (PCA's, with
    their ``sigmas``)."""
    name, sign, k, layers, note = parsed
    if not 0 <= k < len(components):
        raise SystemExit(f"error: --edit {text!r}: component {k} is not among the first {len(components)}")
    return EditDirection(name, sign * components[k], layers, float(sigmas[k]), k, note)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="a style-based faces pipeline folder")
    parser.add_argument("--render", default=None, help="write the strips of the first --components components here")
    parser.add_argument("--components", type=int, default=12)
    parser.add_argument("--seeds", default="0,1,2,3")
    parser.add_argument("--truncation", type=float, default=0.7)
    parser.add_argument("--edit", action="append", default=[], help="NAME=COMPONENT:GROUPS[:NOTE] (repeatable)")
    args = parser.parse_args(argv)
    pipe = StyleFacesPipeline.from_pretrained(args.folder)  # float32 whatever the file holds
    pipe.set_progress_bar_config(disable=True)
    if args.render:
        render(pipe, args.components, [int(s) for s in args.seeds.split(",")], Path(args.render), args.truncation)
    if args.edit:
        parsed = [parse_edit(e) for e in args.edit]  # a bad one is refused before PCA's minute of work
        components, sigmas = pipe.principal_directions(max([args.components] + [1 + p[2] for p in parsed]))
        edits = [named_edit(e, p, components, sigmas) for e, p in zip(args.edit, parsed)]
        set_edits(args.folder, edits)
        print(f"named {len(edits)} edits in {args.folder}/model_index.json: {', '.join(e.name for e in edits)}")


if __name__ == "__main__":
    main()
