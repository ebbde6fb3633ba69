"""The GAN playground: the vanilla GAN on 2-D toy data (toy_gan.py), its frames (render.py), its command line
(__main__.py), and what the tab's page needs without torch (plane.py)."""
