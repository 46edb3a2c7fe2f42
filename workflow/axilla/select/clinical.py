"""Clinical models as the seed studies build them: univariate logistic regression (ORs with 95 %
Wald CIs), backward stepwise multivariable selection by p-value or AIC, and a VIF check.

Unpenalised maximum likelihood via statsmodels (the SPSS / R ``glm`` numbers the papers report).
Both are selection-chain steps (``ulogit``, ``stepwise``) so they are fitted on the training rows
only and recorded in the funnel like any other step.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .base import _binary_target, _Selector, factor_groups


def fit_logit(X: pd.DataFrame, y01: np.ndarray):
    # the model's own module, not statsmodels.api (which imports every submodule, ~0.7 s a job)
    from statsmodels.discrete.discrete_model import Logit
    from statsmodels.tools.tools import add_constant
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    design = add_constant(X.astype(float), has_constant="add")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (ConvergenceWarning, PerfectSeparationWarning, RuntimeWarning))
        try:
            return Logit(y01, design).fit(disp=0, maxiter=200, method="newton")
        except np.linalg.LinAlgError:  # singular Hessian (separation, collinear dummies)
            return Logit(y01, design).fit(disp=0, maxiter=2000, method="bfgs")


def odds_ratio_table(fit, terms: list[str] | None = None) -> pd.DataFrame:
    """term, coef, se, odds_ratio, or_ci_low, or_ci_high, p of a statsmodels Logit fit (95 % Wald)."""
    ci = fit.conf_int(0.05)
    df = pd.DataFrame({"term": fit.params.index, "coef": fit.params.to_numpy(), "se": fit.bse.to_numpy(),
                       "odds_ratio": np.exp(fit.params.to_numpy()), "or_ci_low": np.exp(ci.iloc[:, 0].to_numpy()),
                       "or_ci_high": np.exp(ci.iloc[:, 1].to_numpy()), "p": fit.pvalues.to_numpy()})
    df["term"] = df.term.replace({"const": "(intercept)"})
    return df if terms is None else df[df.term.isin(terms)]


def univariate_table(X: pd.DataFrame, y) -> pd.DataFrame:
    """One logistic regression per column: OR per unit with 95 % CI and Wald p."""
    y01, _ = _binary_target(y, X)
    rows = []
    for c in X.columns:
        if X[c].nunique(dropna=True) < 2:
            rows.append({"term": c, "coef": 0.0, "se": np.nan, "odds_ratio": 1.0, "or_ci_low": np.nan,
                         "or_ci_high": np.nan, "p": 1.0})
            continue
        rows.append(odds_ratio_table(fit_logit(X[[c]], y01), [c]).iloc[0].to_dict())
    return pd.DataFrame(rows)


def vif(X: pd.DataFrame) -> pd.Series:
    """Variance inflation factor of each column (statsmodels, with an intercept in the design)."""
    from statsmodels.stats.outliers_influence import variance_inflation_factor
    from statsmodels.tools.tools import add_constant

    if X.shape[1] < 2:
        return pd.Series(1.0, index=X.columns, name="vif")
    design = add_constant(X.astype(float), has_constant="add").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.Series([variance_inflation_factor(design, j + 1) for j in range(X.shape[1])], index=X.columns,
                         name="vif")


def gvif(X: pd.DataFrame, groups: dict) -> pd.Series:
    """Generalised VIF of each group of columns (Fox & Monette 1992): det R₁₁ · det R₂₂ / det R,
    R the correlation matrix of all the columns, 1 the group's, 2 the others'. For a one-column
    group it is that column's VIF; for a factor it does not depend on the reference level."""
    cols = [c for g in groups.values() for c in g]
    if len(groups) < 2:
        return pd.Series(1.0, index=list(groups), name="gvif")
    R = np.corrcoef(X[cols].to_numpy(float), rowvar=False)
    pos = {c: i for i, c in enumerate(cols)}

    def logdet(idx):
        sign, val = np.linalg.slogdet(R[np.ix_(idx, idx)])
        return val if sign > 0 else -np.inf

    full = logdet(list(range(len(cols))))
    out = {}
    for name, g in groups.items():
        own = [pos[c] for c in g]
        rest = [i for i in range(len(cols)) if i not in set(own)]
        out[name] = float(np.exp(logdet(own) + logdet(rest) - full)) if np.isfinite(full) else np.inf
    return pd.Series(out, name="gvif")


class UnivariateLogitFilter(_Selector):
    """Keep the terms whose univariate logistic regression has p < ``p_threshold`` (the lowest-p
    term if none does). A term is a column (Wald p) or all indicator columns of one categorical
    variable (``<variable>=<level>``), kept or dropped together by the likelihood-ratio test of
    the variable's univariable model (df = its columns), as a univariate analysis of a
    categorical factor reports it. Fitted: ``table_`` (ORs with CIs, p, per column),
    ``term_p_`` (the p that decides, per term)."""

    def __init__(self, p_threshold: float = 0.05):
        self.p_threshold = p_threshold

    def fit(self, X, y) -> "UnivariateLogitFilter":
        X = self._start_fit(X)
        self.table_ = univariate_table(X, y)
        p_col = pd.Series(self.table_.p.fillna(1.0).to_numpy(), index=list(X.columns))
        y01, _ = _binary_target(y, X)
        terms = factor_groups(X.columns)
        self.term_p_ = pd.Series({t: float(p_col[cols[0]]) if len(cols) == 1 else _factor_lr_p(X[cols], y01)
                                  for t, cols in terms.items()}, dtype=float)
        keep = self.term_p_ < self.p_threshold
        self.fallback_ = not keep.any()
        if self.fallback_:
            keep[self.term_p_.idxmin()] = True
        kept = {c for t, cols in terms.items() if keep[t] for c in cols}
        self._set_support([c in kept for c in X.columns])
        return self


def _factor_lr_p(D: pd.DataFrame, y01: np.ndarray) -> float:
    """Likelihood-ratio p of a univariable model on a factor's indicator columns (1 if they never vary)."""
    D = D.loc[:, D.nunique(dropna=True) > 1]
    return float(fit_logit(D, y01).llr_pvalue) if D.shape[1] else 1.0


class StepwiseSelector(_Selector):
    """Backward stepwise multivariable logistic regression, term by term.

    A term is one column, or all indicator columns of one categorical variable together
    (``<variable>=<level>``, the clinical encoder's naming; :func:`~axilla.select.base.factor_groups`):
    a factor enters and leaves the model whole, tested on its own degrees of freedom.

    ``criterion="p"``: drop the term with the largest p while it is >= ``p_remove``; ``test="wald"``
    the (joint, df = the term's columns) Wald χ² test, ``test="lr"`` the likelihood-ratio test of
    the model without the term (2·ΔLL on df; SPSS "Backward: LR", R ``drop1(test="Chisq")``).
    ``criterion="aic"``: drop the term whose removal lowers the AIC most while any does (R's
    ``step(direction="backward")``; a factor's removal saves its df parameters). Before that, while
    a term's VIF exceeds ``max_vif`` the term with the largest one is dropped (collinear terms make
    Wald p-values meaningless); a factor's VIF is its generalised VIF to the power 1/df
    (Fox & Monette 1992; car::vif's GVIF^(1/(2·df)), squared), for one column its VIF. At least
    one term is always kept.

    Fitted: ``history_`` (term removed, reason, value, df), ``table_`` (final model's ORs, CIs, p),
    ``vif_`` (VIF of the final columns), ``gvif_`` (the compared value of each final term),
    ``terms_`` (term → its columns).
    """

    def __init__(self, criterion: str = "p", p_remove: float = 0.05, max_vif: float | None = 10.0,
                 test: str = "wald"):
        self.criterion = criterion
        self.p_remove = p_remove
        self.max_vif = max_vif
        self.test = test

    def fit(self, X, y) -> "StepwiseSelector":
        if self.criterion not in ("p", "aic"):
            raise ValueError(f"stepwise criterion must be 'p' or 'aic', got {self.criterion!r}")
        if self.test not in ("wald", "lr"):
            raise ValueError(f"stepwise test must be 'wald' or 'lr', got {self.test!r}")
        X = self._start_fit(X)
        y01, self.classes_ = _binary_target(y, X)
        varying = [c for c in X.columns if X[c].nunique(dropna=True) > 1] or [X.columns[0]]
        self.terms_ = factor_groups(varying)
        terms, history = list(self.terms_), []
        self._drop_collinear(X, terms, history)
        fit = self._backward(X, y01, terms, history)
        self.history_ = pd.DataFrame(history, columns=["removed", "reason", "value", "df"])
        self.table_ = odds_ratio_table(fit)
        self.aic_ = float(fit.aic)
        cols = self._columns(terms)
        self.vif_ = vif(X[cols])
        self.gvif_ = self._term_vif(X, terms)
        self._set_support([c in set(cols) for c in X.columns])
        return self

    def _columns(self, terms: list) -> list:
        return [c for t in terms for c in self.terms_[t]]

    def _term_vif(self, X: pd.DataFrame, terms: list) -> pd.Series:
        """Per term: its VIF (one column) or GVIF^(1/df) (a factor)."""
        v = vif(X[self._columns(terms)])
        g = gvif(X, {t: self.terms_[t] for t in terms})
        return pd.Series([v[self.terms_[t][0]] if len(self.terms_[t]) == 1 else g[t] ** (1 / len(self.terms_[t]))
                          for t in terms], index=terms, name="vif", dtype=float)

    def _drop_collinear(self, X: pd.DataFrame, terms: list, history: list) -> None:
        """While a term's VIF exceeds ``max_vif``, remove the largest-VIF term (``terms`` edited in place)."""
        while self.max_vif is not None and len(terms) > 1:
            v = self._term_vif(X, terms)
            worst = v.idxmax()
            if not v[worst] > self.max_vif:
                break
            history.append((worst, "vif", float(v[worst]), len(self.terms_[worst])))
            terms.remove(worst)

    def _drop_p(self, X: pd.DataFrame, y01: np.ndarray, terms: list, fit) -> pd.Series:
        """Per term, the p-value of dropping it from ``fit`` (Wald or likelihood ratio on its df)."""
        from scipy import stats

        out = {}
        for t in terms:
            cols = self.terms_[t]
            if self.test == "lr":
                reduced = fit_logit(X[self._columns([u for u in terms if u != t])], y01)
                out[t] = float(stats.chi2.sf(max(2 * (fit.llf - reduced.llf), 0.0), len(cols)))
            elif len(cols) == 1:
                out[t] = float(fit.pvalues[cols[0]])
            else:  # joint Wald χ²: b' V⁻¹ b on the factor's coefficients
                b = fit.params[cols].to_numpy()
                w = float(b @ np.linalg.solve(fit.cov_params().loc[cols, cols].to_numpy(), b))
                out[t] = float(stats.chi2.sf(w, len(cols)))
        return pd.Series(out, dtype=float)

    def _backward(self, X: pd.DataFrame, y01: np.ndarray, terms: list, history: list):
        """Backward elimination by ``criterion`` (``terms`` edited in place); the final fit."""
        fit = fit_logit(X[self._columns(terms)], y01)
        while len(terms) > 1:
            if self.criterion == "p":
                p = self._drop_p(X, y01, terms, fit)
                worst = p.idxmax()
                if not p[worst] >= self.p_remove:
                    break
                history.append((worst, "p" if self.test == "wald" else "lr", float(p[worst]), len(self.terms_[worst])))
                terms.remove(worst)
                fit = fit_logit(X[self._columns(terms)], y01)
            else:
                trials = {t: fit_logit(X[self._columns([u for u in terms if u != t])], y01) for t in terms}
                best = min(trials, key=lambda t: (trials[t].aic, terms.index(t)))
                if not trials[best].aic < fit.aic:
                    break
                history.append((best, "aic", float(trials[best].aic), len(self.terms_[best])))
                terms.remove(best)
                fit = trials[best]
        return fit
