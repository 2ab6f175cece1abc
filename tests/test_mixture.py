"""The numpy Dirichlet-process mixture finds the modes scikit-learn's finds, fitting as well."""

import warnings

import numpy as np
import pytest

from gankit.tabular.datasets import load_table
from gankit.tabular.mixture import DPGaussianMixture1D


def sklearn_fit(x: np.ndarray, k: int):
    from sklearn.mixture import BayesianGaussianMixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BayesianGaussianMixture(
            n_components=k, weight_concentration_prior_type="dirichlet_process",
            weight_concentration_prior=1e-3, max_iter=100, tol=1e-3, covariance_type="diag", random_state=0,
        ).fit(x.reshape(-1, 1))  # fmt: skip


def mean_log_likelihood(x, weights, means, variances) -> float:
    d = -0.5 * ((x[:, None] - means) ** 2 / variances + np.log(2 * np.pi * variances))
    return float(np.log((weights * np.exp(d)).sum(1) + 1e-300).mean())


def test_three_separated_modes_are_found_as_sklearn_finds_them():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-5, 0.5, 600), rng.normal(0, 1.0, 300), rng.normal(8, 0.3, 100)])
    ours, theirs = DPGaussianMixture1D(10, 1e-3).fit(x), sklearn_fit(x, 10)
    a, b = ours.weights_ > 0.05, theirs.weights_ > 0.05
    assert a.sum() == b.sum() == 3
    oa, ob = np.argsort(ours.means_[a]), np.argsort(theirs.means_.ravel()[b])
    np.testing.assert_allclose(ours.means_[a][oa], [-5, 0, 7.9], atol=0.15)  # the prior pulls a little
    np.testing.assert_allclose(ours.means_[a][oa], theirs.means_.ravel()[b][ob], atol=0.01)
    np.testing.assert_allclose(ours.variances_[a][oa], theirs.covariances_.ravel()[b][ob], rtol=0.02)
    np.testing.assert_allclose(ours.weights_[a][oa], theirs.weights_[b][ob], atol=0.01)


@pytest.mark.parametrize("table", ["autompg", "breast-cancer", "wine"])
def test_real_columns_fit_as_well_as_sklearn(table):
    df, discrete, _ = load_table(table)
    for column in [c for c in df.columns if c not in discrete and df[c].dtype.kind in "if"][:8]:
        x = df[column].dropna().to_numpy(np.float64)
        k = min(10, len(np.unique(x)))
        if k < 2:
            continue
        ours, theirs = DPGaussianMixture1D(k, 1e-3).fit(x), sklearn_fit(x, k)
        ll_ours = mean_log_likelihood(x, ours.weights_, ours.means_, ours.variances_)
        ll_theirs = mean_log_likelihood(
            x, theirs.weights_, theirs.means_.ravel(), theirs.covariances_.ravel()
        )
        scale = np.log(x.std() + 1e-12)  # likelihoods are per unit of the column
        assert ll_ours >= ll_theirs - 0.05 * max(1.0, abs(scale)), (table, column, ll_ours, ll_theirs)


def test_special_functions_match_scipy():
    from scipy import special

    from gankit.tabular.mixture import betaln, digamma, gammaln

    x = np.array([1e-3, 0.5, 1.0, 2.5, 5.999, 6.0, 7.3, 100.0, 1e5])
    np.testing.assert_allclose(digamma(x), special.digamma(x), rtol=0, atol=1e-10)
    np.testing.assert_allclose(gammaln(x), special.gammaln(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(betaln(x, x[::-1]), special.betaln(x, x[::-1]), rtol=1e-9)  # cancellation


def test_columns_fitted_side_by_side_are_fitted_as_each_alone():
    from gankit.tabular.mixture import fit_mixtures

    rng = np.random.default_rng(1)
    columns = [rng.normal(0, 1, 300), np.concatenate([rng.normal(-3, 0.2, 50), rng.normal(4, 1, 40)]),
               rng.exponential(2.0, 1000)]  # fmt: skip
    ks = [10, 3, 7]
    together = fit_mixtures(columns, ks, 1e-3)
    for x, k, fit in zip(columns, ks, together, strict=True):
        alone = DPGaussianMixture1D(k, 1e-3).fit(x)
        assert fit.n_iter_ == alone.n_iter_ and fit.weights_.shape == (k,)
        np.testing.assert_allclose(fit.means_, alone.means_, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(fit.variances_, alone.variances_, rtol=1e-9)
        np.testing.assert_allclose(fit.weights_, alone.weights_, rtol=1e-9, atol=1e-12)
