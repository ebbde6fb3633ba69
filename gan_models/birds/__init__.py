"""Text-to-image birds: the networks (text2img.py: generator, DF-GAN and projected discriminators), the
pipeline (pipeline.py), the sentence encoder (text_encoder.py), colour words (colour_words.py), and the captioned
data with its embedding cache (captions.py)."""
