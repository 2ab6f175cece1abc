"""A one-dimensional variational Gaussian mixture with a Dirichlet-process prior, in numpy.

The model and updates of scikit-learn's ``BayesianGaussianMixture(weight_concentration_prior_type=
"dirichlet_process", covariance_type="diag")`` (Bishop 2006, ch. 10; Blei and Jordan 2006), which
CTGAN's mode-specific normalisation fits to every continuous column, written for one feature: the
same priors (mean: the data's mean, precision 1; variance: the data's variance, 1 degree of
freedom), the same E and M steps, the same lower bound and stopping rule. It exists because
importing scikit-learn costs a table fit 1.3 s of its 2-core start-up (scipy.special alone 0.3 s),
more than fitting every column of a typical table; its k-means initialisation is replaced by a
deterministic 1-D one (Lloyd's iterations from quantiles), so fits agree in the modes found, not
bit for bit (tests/test_mixture.py compares them).
"""

from __future__ import annotations

import math

import numpy as np

_EPS = 10 * np.finfo(np.float64).eps
_REG = 1e-6  # added to every variance (sklearn's reg_covar)


def digamma(x) -> np.ndarray:
    """psi(x) for x > 0: the recurrence psi(x) = psi(x + 1) - 1/x up to x >= 6, then the asymptotic
    series (error below 1e-12 there)."""
    x = np.array(x, dtype=np.float64, ndmin=1)
    shift = np.zeros_like(x)
    for _ in range(6):
        small = x < 6
        shift -= np.where(small, 1.0 / x, 0.0)
        x = x + small
    inv2 = 1.0 / (x * x)
    series = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240 - inv2 / 132))))
    return shift + np.log(x) - 0.5 / x - series


def gammaln(x) -> np.ndarray:
    return np.array([math.lgamma(v) for v in np.ravel(x)]).reshape(np.shape(x))


def betaln(a, b) -> np.ndarray:
    return gammaln(a) + gammaln(b) - gammaln(np.asarray(a) + np.asarray(b))


def logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    top = a.max(axis=axis, keepdims=True)
    return top + np.log(np.exp(a - top).sum(axis=axis, keepdims=True))


def _kmeans_1d(x: np.ndarray, k: int, iters: int = 20) -> np.ndarray:
    """Cluster labels of ``x`` from centres at its quantiles, refined by Lloyd's iterations."""
    centres = np.quantile(x, (np.arange(k) + 0.5) / k)
    labels = np.zeros(len(x), dtype=np.int64)
    for _ in range(iters):
        labels = np.abs(x[:, None] - centres[None, :]).argmin(1)
        counts = np.bincount(labels, minlength=k)
        sums = np.bincount(labels, weights=x, minlength=k)
        new = np.where(counts > 0, sums / np.maximum(counts, 1), centres)
        if np.allclose(new, centres):
            break
        centres = new
    return labels


class DPGaussianMixture1D:
    """``fit(x)`` then ``weights_``, ``means_``, ``variances_`` (one entry per component)."""

    def __init__(self, n_components: int, weight_prior: float, max_iter: int = 100, tol: float = 1e-3):
        self.k, self.alpha, self.max_iter, self.tol = n_components, weight_prior, max_iter, tol

    def fit(self, x: np.ndarray) -> DPGaussianMixture1D:
        (fit,) = fit_mixtures([x], [self.k], self.alpha, self.max_iter, self.tol)
        self.weights_, self.means_, self.variances_ = fit.weights_, fit.means_, fit.variances_
        self.n_iter_, self.converged_ = fit.n_iter_, fit.converged_
        return self


class Mixture:
    """One column's fitted mixture: ``weights_``, ``means_``, ``variances_``, ``n_iter_``, ``converged_``."""

    def __init__(self, weights, means, variances, n_iter: int, converged: bool):
        self.weights_, self.means_, self.variances_ = weights, means, variances
        self.n_iter_, self.converged_ = n_iter, converged


def fit_mixtures(
    columns: list[np.ndarray], ks: list[int], weight_prior: float, max_iter: int = 100, tol: float = 1e-3
) -> list[Mixture]:
    """The mixture of each column (``ks[i]`` components for ``columns[i]``), fitted side by side.

    One EM step updates every column at once, as arrays of (columns, rows, components) padded to the
    longest column and the most components: a table's continuous columns mostly run all ``max_iter``
    steps, and on a few hundred rows a step's cost is numpy's per-call overhead, so thirty columns
    cost little more than one. Padded rows and components take no part (weights and masks); a column
    stops updating at its own convergence, so each result is the one fitting it alone gives.
    """
    if not columns:
        return []
    fit = _Batch(columns, ks, weight_prior)
    bound = np.full(len(columns), -np.inf)
    active, n_iter = np.ones(len(columns), dtype=bool), np.zeros(len(columns), dtype=int)
    for n in range(1, max_iter + 1):
        log_resp = fit.e_step()
        resp = np.exp(log_resp)
        fit.m_step(resp * fit.valid[:, :, None], active)
        new = fit.lower_bound(log_resp, resp)
        n_iter[active] = n
        converged = active & (np.abs(new - bound) < tol)
        bound = np.where(active, new, bound)
        active &= ~converged
        if not active.any():
            break
    weights = fit.weights()
    return [
        Mixture(weights[c, :k], fit.means[c, :k], fit.variances[c, :k], int(n_iter[c]), not active[c])
        for c, k in enumerate(ks)
    ]


class _Batch:
    """Parameters of several columns' mixtures as (columns, components) arrays (see fit_mixtures)."""

    def __init__(self, columns: list[np.ndarray], ks: list[int], alpha: float):
        xs = [np.asarray(x, dtype=np.float64).ravel() for x in columns]
        n, k = max(len(x) for x in xs), max(ks)
        self.alpha = alpha
        self.x, self.valid = np.zeros((len(xs), n)), np.zeros((len(xs), n), dtype=bool)
        self.comp = np.arange(k)[None, :] < np.asarray(ks)[:, None]  # (C, K) real components
        resp = np.zeros((len(xs), n, k))
        for c, (x, kc) in enumerate(zip(xs, ks, strict=True)):
            self.x[c, : len(x)], self.valid[c, : len(x)] = x, True
            resp[c, np.arange(len(x)), _kmeans_1d(x, kc)] = 1.0
        self.mean_prior = np.array([x.mean() for x in xs])[:, None]
        self.var_prior = np.array([x.var(ddof=1) if len(x) > 1 else 1.0 for x in xs])[:, None]
        self.m_step(resp, np.ones(len(xs), dtype=bool))

    def m_step(self, resp: np.ndarray, update: np.ndarray) -> None:
        """New parameters from responsibilities (C, N, K), for the columns in ``update`` only."""
        nk = np.where(self.comp, resp.sum(1) + _EPS, 0.0)  # a padded component holds nothing
        safe = np.where(self.comp, nk, 1.0)
        xk = np.einsum("cnk,cn->ck", resp, self.x) / safe
        sk = np.einsum("cnk,cn->ck", resp, self.x * self.x) / safe - xk**2 + _REG
        # the mass of the components after each (summed from the last, as a column alone is)
        later = _shift_left(np.cumsum(nk[:, ::-1], axis=1)[:, ::-1], 0.0)
        mean_precision = 1.0 + nk
        new = {
            "conc_a": 1.0 + nk,
            "conc_b": self.alpha + later,
            "mean_precision": mean_precision,
            "means": (self.mean_prior + nk * xk) / mean_precision,
            "dof": 1.0 + nk,
            "variances": (self.var_prior + nk * (sk + (xk - self.mean_prior) ** 2 / mean_precision))
            / (1.0 + nk),
        }
        for name, value in new.items():
            old = getattr(self, name, value)
            setattr(self, name, np.where(update[:, None], value, old))

    def e_step(self) -> np.ndarray:
        a, b, k = self.conc_a, self.conc_b, self.comp.shape[1]
        psi = digamma(np.concatenate((a, b, a + b, 0.5 * self.dof), axis=1))  # one call for the four
        psi_a, psi_b, psi_sum, psi_dof = psi[:, :k], psi[:, k : 2 * k], psi[:, 2 * k : 3 * k], psi[:, 3 * k :]
        before = _shift_right(np.cumsum(psi_b - psi_sum, axis=1), 0.0)  # the sticks broken before each
        log_weights = np.where(self.comp, psi_a - psi_sum + before, -np.inf)
        precision = 1.0 / self.variances
        x, means = self.x[:, :, None], self.means[:, None, :]
        log_gauss = (
            -0.5 * (math.log(2 * math.pi) + (x - means) ** 2 * precision[:, None])
            + 0.5 * np.log(precision)[:, None]
            - 0.5 * np.log(self.dof)[:, None]
        )
        log_lambda = math.log(2.0) + psi_dof
        weighted = (
            log_gauss + (0.5 * (log_lambda - 1.0 / self.mean_precision))[:, None] + log_weights[:, None]
        )
        return weighted - logsumexp(weighted, axis=2)

    def lower_bound(self, log_resp: np.ndarray, resp: np.ndarray) -> np.ndarray:
        """Each column's variational lower bound (C,); ``resp`` is ``exp(log_resp)``."""
        m = self.comp
        log_det_chol = -0.5 * np.log(self.variances) - 0.5 * np.log(self.dof)
        log_wishart = -(self.dof * log_det_chol + self.dof * 0.5 * math.log(2.0) + gammaln(0.5 * self.dof))
        inside = self.valid[:, :, None] & m[:, None, :]
        entropy = np.where(inside, resp * np.where(inside, log_resp, 0.0), 0.0).sum((1, 2))
        return (
            -entropy
            - np.where(m, log_wishart, 0.0).sum(1)
            + np.where(m, betaln(self.conc_a, self.conc_b), 0.0).sum(1)
            - 0.5 * np.where(m, np.log(self.mean_precision), 0.0).sum(1)
        )

    def weights(self) -> np.ndarray:
        a, b = self.conc_a, self.conc_b
        sticks = np.where(self.comp, b / (a + b), 1.0)
        weights = np.where(self.comp, a / (a + b), 0.0) * _shift_right(np.cumprod(sticks, axis=1), 1.0)
        return weights / weights.sum(1, keepdims=True)


def _shift_right(a: np.ndarray, fill: float) -> np.ndarray:
    """(C, K) -> each row moved one place right, ``fill`` in front."""
    return np.concatenate((np.full((len(a), 1), fill), a[:, :-1]), axis=1)


def _shift_left(a: np.ndarray, fill: float) -> np.ndarray:
    return np.concatenate((a[:, 1:], np.full((len(a), 1), fill)), axis=1)
