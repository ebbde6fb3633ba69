"""GAN Gallery's models and pipelines, one folder per demo (faces, digits, birds, maps, playground),
the shared core, the judges that measure them, and the Hub side.

    from gan_models.faces.pipeline import DCGANPipeline
    pipe = DCGANPipeline.from_pretrained("gan_models/weights/faces")   # or a Hub repo id
    images = pipe(16, seed=0).images

The list of demos the app shows is ``gan_models.registry.DEMOS``. Importing this package does no work
(diffusers is imported by the first pipeline module that needs it).
"""
