"""Colour words in bird captions: which colour a caption says of the bird's body (not its beak or legs).

The colour judge's labels (gan_models/judges/colour_classifier.py), the evaluation's swapped
prompts and the Birds tab's "vary one word" all read captions with these rules.
"""

from __future__ import annotations

import re

# The colour judge's classes; orange counts as red (few birds are mainly orange: 59 of 8,855).
COLOURS = ("black", "white", "grey", "brown", "red", "yellow", "green", "blue")
COLOUR_WORDS = {"black": "black", "white": "white", "grey": "grey", "gray": "grey", "silver": "grey",
                "brown": "brown", "tan": "brown", "chestnut": "brown", "rufous": "brown", "rust": "brown",
                "red": "red", "crimson": "red", "scarlet": "red", "maroon": "red", "orange": "red",
                "yellow": "yellow", "gold": "yellow", "golden": "yellow", "green": "green", "olive": "green",
                "blue": "blue", "teal": "blue", "turquoise": "blue", "purple": None, "pink": None}
TIE_ORDER = ("green", "blue", "red", "yellow", "grey", "brown", "black", "white")  # ties: the rarer colour wins
BODY = {"bird", "body", "breast", "belly", "chest", "back", "head", "crown", "plumage", "feathers", "wings", "wing",
        "throat", "nape", "abdomen", "sides", "flanks", "rump", "neck", "coverts", "feathering"}
NOT_BODY = {"beak", "bill", "beaks", "eye", "eyes", "eyering", "eyebrow", "eyebrows", "ring", "feet", "legs",
            "tarsus", "talons", "tail", "stripe", "stripes", "spots", "patch", "patches", "bars", "wingbars",
            "superciliary", "cheek", "cheeks", "malar", "tips", "tip", "pupil", "line", "lines"}
SWAP_WORDS = ("red", "orange", "yellow", "green", "blue", "brown", "grey", "black", "white")  # "vary one word"
_WORD = re.compile(r"[a-z]+")


def body_colour_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, class) of colour words said of the bird's body, not its beak, eyes or legs.

    "a white bird with brown wings and a black beak" -> white, brown (not black). A colour
    counts when the next body or part word within four words is a body word, or when it is
    predicated ("this bird is mostly yellow").
    """
    words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text.lower())]
    spans = []
    for i, (start, end, w) in enumerate(words):
        if COLOUR_WORDS.get(w) is None:
            continue
        kind = None
        for _, _, u in words[i + 1:i + 5]:
            if u in BODY or u in NOT_BODY:
                kind = "body" if u in BODY else "part"
                break
        before = {u for _, _, u in words[max(0, i - 3):i]}
        if kind == "body" or (kind is None and before & {"is", "mostly", "mainly", "all", "entirely", "completely"}):
            spans.append((start, end, COLOUR_WORDS[w]))
    return spans


def main_colour(texts: list[str] | str) -> str | None:
    """The colour said most often of the body over a row's captions (None if no caption says one)."""
    counts: dict[str, int] = {}
    for text in [texts] if isinstance(texts, str) else texts:
        for _, _, c in body_colour_spans(text):
            counts[c] = counts.get(c, 0) + 1
    if not counts:
        return None
    top = max(counts.values())
    return next(c for c in TIE_ORDER if counts.get(c) == top)


def find_colour_word(prompt: str) -> tuple[int, int] | None:
    """Span of the colour word to swap in "vary one word": the first said of the body, else the first at all."""
    spans = body_colour_spans(prompt)
    if spans:
        return spans[0][:2]
    for m in _WORD.finditer(prompt.lower()):
        if m.group() in COLOUR_WORDS or m.group() in SWAP_WORDS:
            return m.start(), m.end()
    return None
