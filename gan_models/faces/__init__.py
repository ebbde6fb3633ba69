"""Random faces: the DCGAN (dcgan.py: generator and discriminator) and its pipeline (pipeline.py)."""
