"""Label-conditioned digits: the conditional GAN (cgan.py: generator and projection discriminator) and its
pipeline (pipeline.py)."""
