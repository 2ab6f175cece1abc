"""Distances between two sets of features: Fréchet distance (FID) and kernel distance (KID).

* Fréchet distance: Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a
  Local Nash Equilibrium" — the Fréchet (2-Wasserstein) distance between Gaussians fitted to the two
  feature sets, computed as in pytorch-fid (mseitzer/pytorch-fid).
* Kernel distance: Bińkowski et al. 2018, "Demystifying MMD GANs" — the unbiased MMD^2 estimate with
  the cubic polynomial kernel, averaged over random subsets as in torch-fidelity.

Both take (N, D) arrays or tensors and work in float64: the covariance square root loses several
digits, and float32 features would make FID values unstable in their third digit.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import torch
from scipy import linalg

from gankit.errors import GankitError

log = logging.getLogger(__name__)

ArrayLike = np.ndarray | torch.Tensor


def _as_features(feats: ArrayLike, what: str, min_rows: int = 2) -> np.ndarray:
    """(N, D) float64 numpy array, or a one-line error naming what is wrong with the input."""
    if isinstance(feats, torch.Tensor):
        feats = feats.detach().cpu().double().numpy()
    arr = np.asarray(feats, dtype=np.float64)
    if arr.ndim != 2:
        raise GankitError(
            f"{what} must be a 2-D (samples, features) array, got shape {arr.shape}",
            "flatten the features to (N, D) first",
        )
    if len(arr) < min_rows:
        raise GankitError(f"{what} has {len(arr)} samples, fewer than {min_rows}", "use more samples")
    if not np.isfinite(arr).all():
        raise GankitError(
            f"{what} contains NaN or infinite values", "check the generator output and the feature extractor"
        )
    return arr


def _check_same_dim(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[1] != b.shape[1]:
        raise GankitError(
            f"the feature sets have different widths ({a.shape[1]} and {b.shape[1]})",
            "extract both with the same feature extractor",
        )


def feature_stats(feats: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of (N, D) features, in float64 (as pytorch-fid)."""
    arr = _as_features(feats, "features")
    return arr.mean(axis=0), np.cov(arr, rowvar=False)


def frechet_distance_from_stats(
    mu_a: np.ndarray, sigma_a: np.ndarray, mu_b: np.ndarray, sigma_b: np.ndarray, eps: float = 1e-6
) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}) (Heusel et al. 2017; pytorch-fid).

    When S_a S_b is singular (fewer samples than feature dimensions, dead features) ``sqrtm`` may
    return NaN/inf or warn that it is inaccurate; then, as in pytorch-fid, ``eps * I`` is added to both
    covariances. A tiny imaginary part from round-off is dropped.
    """
    mu_a, mu_b = np.atleast_1d(mu_a).astype(np.float64), np.atleast_1d(mu_b).astype(np.float64)
    sigma_a, sigma_b = np.atleast_2d(sigma_a).astype(np.float64), np.atleast_2d(sigma_b).astype(np.float64)
    if mu_a.shape != mu_b.shape or sigma_a.shape != sigma_b.shape:
        raise GankitError(
            "the two feature statistics have different shapes", "compute both with the same feature extractor"
        )
    diff = mu_a - mu_b

    covmean, singular = _sqrtm(sigma_a @ sigma_b)
    if singular or not np.isfinite(covmean).all():
        log.debug("Fréchet distance: singular covariance product; adding %g to the diagonals", eps)
        offset = np.eye(len(sigma_a)) * eps
        covmean, _ = _sqrtm((sigma_a + offset) @ (sigma_b + offset))
    if np.iscomplexobj(covmean):
        imag = np.max(np.abs(np.diagonal(covmean).imag))
        if imag > 1e-3:  # pytorch-fid raises here; a warning keeps a long evaluation alive
            log.warning(
                "Fréchet distance: sqrtm has an imaginary component of %.3g; using its real part", imag
            )
        covmean = covmean.real
    fd = float(diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2.0 * np.trace(covmean))
    # Identical inputs give -1e-12-ish from round-off; a distance is never negative.
    return max(fd, 0.0)


def _sqrtm(m: np.ndarray) -> tuple[np.ndarray, bool]:
    """scipy's matrix square root, plus whether it warned that the matrix is singular."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        root = linalg.sqrtm(m)
    singular = any(
        issubclass(w.category, linalg.LinAlgWarning) or "singular" in str(w.message).lower() for w in caught
    )
    return np.asarray(root), singular


def frechet_distance(feats_a: ArrayLike, feats_b: ArrayLike) -> float:
    """Fréchet distance between Gaussians fitted to two (N, D) feature sets — FID when the features
    are Inception pool3 activations (Heusel et al. 2017), computed as in pytorch-fid."""
    a, b = _as_features(feats_a, "first feature set"), _as_features(feats_b, "second feature set")
    _check_same_dim(a, b)
    mu_a, sigma_a = feature_stats(a)
    mu_b, sigma_b = feature_stats(b)
    return frechet_distance_from_stats(mu_a, sigma_a, mu_b, sigma_b)


def _polynomial_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between equal-size samples with k(x, y) = (x·y / d + 1)^3 (Bińkowski et al. 2018)."""
    m, d = x.shape
    k_xx = (x @ x.T / d + 1.0) ** 3
    k_yy = (y @ y.T / d + 1.0) ** 3
    k_xy = (x @ y.T / d + 1.0) ** 3
    # The unbiased estimator leaves out the k(x_i, x_i) terms of the within-sample sums.
    sum_xx = k_xx.sum() - np.trace(k_xx)
    sum_yy = k_yy.sum() - np.trace(k_yy)
    return float((sum_xx + sum_yy) / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def kernel_inception_distance(
    feats_a: ArrayLike, feats_b: ArrayLike, subsets: int = 10, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID: mean and std over ``subsets`` random subsets of the unbiased polynomial-kernel MMD^2.

    Bińkowski et al. 2018; the subset scheme follows torch-fidelity: each subset draws
    ``subset_size`` rows without replacement from each set (capped at the smaller set's size), and the
    std is the population std of the per-subset estimates. Unbiased, so it can be slightly negative
    when the two distributions are the same.
    """
    a, b = _as_features(feats_a, "first feature set"), _as_features(feats_b, "second feature set")
    _check_same_dim(a, b)
    if subsets < 1:
        raise GankitError(f"KID needs at least one subset, got subsets={subsets}", "use subsets >= 1")
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise GankitError(f"KID subset size {m} is too small", "use subset_size >= 2")
    rng = np.random.RandomState(seed)
    mmds = np.empty(subsets)
    for i in range(subsets):
        ia = rng.choice(len(a), m, replace=False)
        ib = rng.choice(len(b), m, replace=False)
        mmds[i] = _polynomial_mmd2_unbiased(a[ia], b[ib])
    return float(mmds.mean()), float(mmds.std())
