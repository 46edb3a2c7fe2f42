"""The univariate statistics of the filters, vectorised over features where scipy allows.

Each vectorised function has a per-feature definition beside it (``_numeric_test``,
``_categorical_test``) and reproduces it bit for bit (see each docstring for the one exception).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def _numeric_test(neg: np.ndarray, pos: np.ndarray, alpha: float, levene_center: str) -> dict:
    """Two-sample test chosen by the data (the usual SPSS-era decision tree of the papers)."""
    out = {"kind": "numeric", "shapiro_p_neg": np.nan, "shapiro_p_pos": np.nan, "levene_p": np.nan,
           "min_expected": np.nan}
    both = np.concatenate([neg, pos])
    if neg.size == 0 or pos.size == 0 or np.ptp(both) == 0:
        return {**out, "test": "constant", "p": 1.0}
    normal = True
    for key, g in (("shapiro_p_neg", neg), ("shapiro_p_pos", pos)):
        # Shapiro–Wilk needs 3 values and some spread; otherwise normality cannot be shown.
        if g.size >= 3 and np.ptp(g) > 0:
            out[key] = float(stats.shapiro(g).pvalue)
            normal &= out[key] > alpha
        else:
            normal = False
    if normal:
        out["levene_p"] = float(stats.levene(neg, pos, center=levene_center).pvalue)
        equal = out["levene_p"] > alpha
        p = stats.ttest_ind(neg, pos, equal_var=equal).pvalue
        test = "t" if equal else "welch"
    else:
        p = stats.mannwhitneyu(neg, pos, alternative="two-sided").pvalue
        test = "mwu"
    return {**out, "test": test, "p": float(p)}


def _levene_p(a: np.ndarray, b: np.ndarray, center: str) -> np.ndarray:
    """``stats.levene(a[i], b[i], center=center).pvalue`` for every row i, vectorised.

    scipy's levene takes ``axis`` but loops over the slices in Python; this is its formula for two
    samples, operation for operation, along each row's contiguous axis, so the p-values are the
    same bit for bit. ``center="trimmed"`` is left to scipy.
    """
    if center not in ("median", "mean"):
        return np.asarray(stats.levene(a, b, center=center, axis=1).pvalue, dtype=float)
    func = np.median if center == "median" else np.mean
    n_a, n_b = float(a.shape[1]), float(b.shape[1])
    n_tot = n_a + n_b
    z_a = np.abs(a - func(a, axis=1)[:, None])
    z_b = np.abs(b - func(b, axis=1)[:, None])
    zbar_a, zbar_b = np.mean(z_a, axis=1), np.mean(z_b, axis=1)
    zbar = (zbar_a * n_a + zbar_b * n_b) / n_tot
    numer = (n_tot - 2) * (n_a * (zbar_a - zbar) ** 2 + n_b * (zbar_b - zbar) ** 2)
    dvar = np.sum((z_a - zbar_a[:, None]) ** 2, axis=1) + np.sum((z_b - zbar_b[:, None]) ** 2, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = numer / (1.0 * dvar)
    return np.asarray(stats.f.sf(w, 1, n_tot - 2), dtype=float)


def _mwu_methods(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The method ``mannwhitneyu(method="auto")`` picks for each row on its own.

    "auto" decides once per call (exact only when a sample has <= 8 values and there are no ties
    anywhere in the call), so a vectorised call could differ from the per-feature one; the rows
    are grouped by this and each group is run with its method named.
    """
    m = a.shape[0]
    if a.shape[1] > 8 and b.shape[1] > 8:
        return np.full(m, "asymptotic", dtype=object)
    s = np.sort(np.concatenate([a, b], axis=1), axis=1)
    ties = (s[:, 1:] == s[:, :-1]).any(axis=1)
    return np.where(ties, "asymptotic", "exact").astype(object)


def _numeric_tests(neg: np.ndarray, pos: np.ndarray, alpha: float, levene_center: str) -> list[dict]:
    """:func:`_numeric_test` for many features at once: row i of ``neg``/``pos`` holds feature i's
    values in each class (no missing values). Returns one dict per row, equal to
    ``_numeric_test(neg[i], pos[i], ...)``.

    Samples lie along the rows' contiguous last axis, so scipy's reductions sum in the same order
    as on a 1-D sample and the p-values equal the per-feature calls bit for bit (Student's t,
    Shapiro, Levene, Mann–Whitney), except that Welch's p can differ in the last bit or two
    (relative ~4e-16, about 1 feature in 1000): scipy squares the variances with a scalar
    ``pow`` on 1-D input and with an array square here, which rounds the Welch df differently.
    Mann–Whitney uses, per feature, the method that ``method="auto"`` picks for it alone.
    """
    m, n_neg, n_pos = neg.shape[0], neg.shape[1], pos.shape[1]
    if m == 0:
        return []
    nan = np.full(m, np.nan)
    sw = {"neg": nan.copy(), "pos": nan.copy()}
    lev, p = nan.copy(), np.ones(m)
    test = np.full(m, "constant", dtype=object)
    if n_neg and n_pos:
        spread = np.ptp(np.concatenate([neg, pos], axis=1), axis=1) != 0
        normal = spread.copy()
        for key, g in (("neg", neg), ("pos", pos)):
            # Shapiro–Wilk needs 3 values and some spread; otherwise normality cannot be shown.
            ok = spread & (np.ptp(g, axis=1) > 0) if g.shape[1] >= 3 else np.zeros(m, dtype=bool)
            if ok.any():
                sw[key][ok] = stats.shapiro(g[ok], axis=1).pvalue
            normal &= ok & (sw[key] > alpha)
        if normal.any():
            lev[normal] = _levene_p(neg[normal], pos[normal], levene_center)
        equal = normal & (lev > alpha)
        welch = normal & ~equal
        for rows, kind, equal_var in ((equal, "t", True), (welch, "welch", False)):
            if rows.any():
                p[rows] = stats.ttest_ind(neg[rows], pos[rows], equal_var=equal_var, axis=1).pvalue
                test[rows] = kind
        mwu = spread & ~normal
        if mwu.any():
            idx = np.flatnonzero(mwu)
            methods = _mwu_methods(neg[idx], pos[idx])
            for method in ("asymptotic", "exact"):
                sub = idx[methods == method]
                if sub.size:
                    p[sub] = stats.mannwhitneyu(neg[sub], pos[sub], alternative="two-sided",
                                                method=method, axis=1).pvalue
            test[idx] = "mwu"
    return [{"kind": "numeric", "shapiro_p_neg": a, "shapiro_p_pos": b, "levene_p": c,
             "min_expected": np.nan, "test": t, "p": q}
            for a, b, c, t, q in zip(sw["neg"].tolist(), sw["pos"].tolist(), lev.tolist(), test.tolist(),
                                     p.tolist())]


def _numeric_tests_by_nan_pattern(V: np.ndarray, pos: np.ndarray, alpha: float,
                                  levene_center: str) -> list[dict]:
    """:func:`_numeric_tests` on the rows of V (one per feature, samples along the row), missing
    values left out per feature: features sharing a pattern of missing values form one block."""
    out: list[dict | None] = [None] * V.shape[0]
    missing = np.isnan(V)
    has = missing.any(axis=1)
    blocks = [(np.flatnonzero(~has), np.ones(V.shape[1], dtype=bool))]
    if has.any():
        with_nan = np.flatnonzero(has)
        patterns, which = np.unique(missing[with_nan], axis=0, return_inverse=True)
        blocks += [(with_nan[which.ravel() == i], ~pat) for i, pat in enumerate(patterns)]
    for idx, ok in blocks:
        if idx.size:
            sub = V[idx]
            res = _numeric_tests(np.ascontiguousarray(sub[:, ok & ~pos]),
                                 np.ascontiguousarray(sub[:, ok & pos]), alpha, levene_center)
            for i, r in zip(idx.tolist(), res):
                out[i] = r
    return out


def _categorical_test(x: pd.Series, y: np.ndarray, yates: bool) -> dict:
    """χ² test of independence; Fisher's exact test for a 2×2 table with an expected count < 5."""
    keep = x.notna().to_numpy()
    return _table_test(pd.crosstab(x.to_numpy()[keep], y[keep]).to_numpy(), yates)


def _two_value_table(v: np.ndarray, y01: np.ndarray) -> np.ndarray:
    """``pd.crosstab(v, y01).to_numpy()`` (missing values dropped) for a NumPy numeric column with
    exactly two distinct values: rows low/high value, columns the classes present (0, 1)."""
    if v.dtype.kind == "f":
        keep = ~np.isnan(v)
        v, y01 = v[keep], y01[keep]
    high = v == v.max()
    present = [c for c in (0.0, 1.0) if (y01 == c).any()]
    return np.array([[np.count_nonzero(~high & (y01 == c)) for c in present],
                     [np.count_nonzero(high & (y01 == c)) for c in present]], dtype=np.int64)


def _table_test(table: np.ndarray, yates: bool) -> dict:
    """The test of :func:`_categorical_test` on a contingency table (feature levels × classes)."""
    out = {"kind": "categorical", "shapiro_p_neg": np.nan, "shapiro_p_pos": np.nan,
           "levene_p": np.nan, "min_expected": np.nan}
    if table.shape[0] < 2 or table.shape[1] < 2:
        return {**out, "test": "constant", "p": 1.0}
    expected = stats.contingency.expected_freq(table)
    out["min_expected"] = float(expected.min())
    if table.shape == (2, 2) and expected.min() < 5:
        return {**out, "test": "fisher", "p": float(stats.fisher_exact(table).pvalue)}
    # scipy (like R's chisq.test) applies Yates' correction to 2×2 tables unless told not to;
    # larger tables with small expected counts stay χ² (no exact r×c test is attempted).
    p = stats.chi2_contingency(table, correction=yates).pvalue
    return {**out, "test": "chi2", "p": float(p)}


def _mwu_pvalues(X: pd.DataFrame, y01: np.ndarray | None) -> pd.Series:
    A = X.to_numpy(float)
    full = ~np.isnan(A).any(axis=0) & (np.ptp(np.nan_to_num(A), axis=0) > 0)
    p = {}
    if full.any() and 0 < (y01 == 1).sum() < len(y01):  # complete, non-constant columns at once
        neg, pos = A[y01 == 0][:, full].T, A[y01 == 1][:, full].T
        methods, pv = _mwu_methods(neg, pos), np.empty(neg.shape[0])
        for method in ("asymptotic", "exact"):  # what "auto" picks per column, as the univariate filter
            sub = methods == method
            if sub.any():
                pv[sub] = stats.mannwhitneyu(neg[sub], pos[sub], alternative="two-sided", method=method, axis=1).pvalue
        p.update(zip(X.columns[full], pv))
    for c in X.columns[~full]:
        v = X[c].to_numpy(float)
        ok = ~np.isnan(v)
        a, b = v[ok & (y01 == 0)], v[ok & (y01 == 1)]
        if a.size == 0 or b.size == 0 or np.ptp(v[ok]) == 0:
            p[c] = 1.0
        else:
            p[c] = float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return pd.Series(p, dtype=float)[list(X.columns)]


def _corr(X: pd.DataFrame, method: str) -> np.ndarray:
    A = X.to_numpy(float)
    if np.isnan(A).any():
        R = X.astype(float).corr(method=method).to_numpy()  # pairwise-complete, like R's use=
    else:
        if method == "spearman":
            A = stats.rankdata(A, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            R = np.atleast_2d(np.corrcoef(A, rowvar=False))
    return np.nan_to_num(R, nan=0.0)  # a constant column correlates with nothing

