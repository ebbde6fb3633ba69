"""What measures the models: FID/KID (metrics.py), the MNIST and bird-colour judges, each demo's evaluation
(evaluate.py: python -m gan_models.judges.evaluate <demo>)."""
