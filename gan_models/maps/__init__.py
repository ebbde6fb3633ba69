"""Map <-> aerial photo: pix2pix (pix2pix.py: U-Net generators and the PatchGAN), its pipeline (pipeline.py),
and the map palette, its scores and maps drawn by code (palette.py)."""
