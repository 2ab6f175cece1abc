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
        shift[small] -= 1.0 / x[small]
        x = np.where(small, x + 1.0, x)
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
        x = np.asarray(x, dtype=np.float64).ravel()
        self.mean_prior, self.var_prior = x.mean(), x.var(ddof=1) if len(x) > 1 else 1.0
        resp = np.zeros((len(x), self.k))
        resp[np.arange(len(x)), _kmeans_1d(x, self.k)] = 1.0
        self._m_step(x, resp)
        bound, self.n_iter_, self.converged_ = -np.inf, 0, False
        for n in range(1, self.max_iter + 1):
            log_resp = self._e_step(x)
            self._m_step(x, np.exp(log_resp))
            previous, bound = bound, self._lower_bound(log_resp)
            self.n_iter_ = n
            if abs(bound - previous) < self.tol:
                self.converged_ = True
                break
        self.weights_ = self._weights()
        return self

    def _m_step(self, x: np.ndarray, resp: np.ndarray) -> None:
        nk = resp.sum(0) + _EPS
        xk = resp.T @ x / nk
        sk = resp.T @ (x * x) / nk - xk**2 + _REG
        self.conc = (1.0 + nk, self.alpha + np.hstack((np.cumsum(nk[::-1])[-2::-1], 0)))
        self.mean_precision = 1.0 + nk
        self.means_ = (self.mean_prior + nk * xk) / self.mean_precision
        self.dof = 1.0 + nk
        self.variances_ = (
            self.var_prior + nk * (sk + (1.0 / self.mean_precision) * (xk - self.mean_prior) ** 2)
        ) / self.dof

    def _log_weights(self) -> np.ndarray:
        a, b = self.conc
        digamma_sum = digamma(a + b)
        return digamma(a) - digamma_sum + np.hstack((0, np.cumsum(digamma(b) - digamma_sum)[:-1]))

    def _e_step(self, x: np.ndarray) -> np.ndarray:
        precision = 1.0 / self.variances_
        log_gauss = (
            -0.5 * (math.log(2 * math.pi) + (x[:, None] - self.means_[None, :]) ** 2 * precision)
            + 0.5 * np.log(precision)
            - 0.5 * np.log(self.dof)
        )
        log_lambda = math.log(2.0) + digamma(0.5 * self.dof)
        weighted = log_gauss + 0.5 * (log_lambda - 1.0 / self.mean_precision) + self._log_weights()
        return weighted - logsumexp(weighted, axis=1)

    def _lower_bound(self, log_resp: np.ndarray) -> float:
        log_det_chol = -0.5 * np.log(self.variances_) - 0.5 * np.log(self.dof)
        log_wishart = -(self.dof * log_det_chol + self.dof * 0.5 * math.log(2.0) + gammaln(0.5 * self.dof))
        return float(
            -np.sum(np.exp(log_resp) * log_resp)
            - np.sum(log_wishart)
            + np.sum(betaln(*self.conc))
            - 0.5 * np.sum(np.log(self.mean_precision))
        )

    def _weights(self) -> np.ndarray:
        a, b = self.conc
        weights = a / (a + b) * np.hstack((1, np.cumprod(b / (a + b))[:-1]))
        return weights / weights.sum()
