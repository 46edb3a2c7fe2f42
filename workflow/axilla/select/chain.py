"""The selection chain: steps fitted in order on the training rows, built from the config's
``select`` section, and the way back from z-scored coefficients to the input scale.

The published radiomics studies select features with a chain like

    near-zero variance → z-score (training statistics) → univariate test (p < 0.05)
    → correlation filter (|r| > 0.9) → LASSO logistic regression (k-fold CV, λ_min or λ_1se)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .base import _as_frame
from .clinical import StepwiseSelector, UnivariateLogitFilter
from .filters import CorrelationFilter, UnivariateFilter, VarianceFilter, ZScore
from .lasso import LassoSelector
from .mutual_info import MutualInfoFilter
from .resample import SMOTEStep
from .wrappers import LGBMIncremental, MRMRSelector


class SelectionChain(BaseEstimator, TransformerMixin):
    """Steps fitted in order on the training rows, each on the previous step's output.

    Like sklearn's Pipeline (steps are fitted in place, ``named_steps`` gives them back), plus
    ``funnel_``: a DataFrame with ``step, n_in, n_out`` per step for the report. ``transform``
    runs every step, so after a ``zscore`` step the kept columns come out standardised with the
    training statistics; ``X[chain.get_feature_names_out()]`` gives the raw values instead.

    A resampling step (``smote``: anything with ``fit_resample`` / ``resample``) changes the rows
    the later steps are fitted on; its ``transform`` is the identity. :meth:`resample` gives the
    chain's output on its training rows as the later steps saw them (what a classifier after the
    chain should be fitted on); without such a step it is ``(transform(X), y)``.
    """

    def __init__(self, steps: list[tuple[str, Any]]):
        self.steps = steps

    @property
    def named_steps(self) -> dict[str, Any]:
        return dict(self.steps)

    def __getitem__(self, name: str):
        return self.named_steps[name]

    def fit(self, X, y) -> "SelectionChain":
        names = [name for name, _ in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"step names must be unique, got {names}")
        X = _as_frame(X)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        y = np.asarray(y) if not isinstance(y, (pd.Series, pd.DataFrame)) else y
        funnel = []
        for name, step in self.steps:
            n_in = X.shape[1]
            if hasattr(step, "fit_resample"):
                X, y = step.fit_resample(X, y)
            else:
                X = step.fit(X, y).transform(X)
            funnel.append((name, n_in, X.shape[1]))
        self.funnel_ = pd.DataFrame(funnel, columns=["step", "n_in", "n_out"])
        return self

    def transform(self, X) -> pd.DataFrame:
        check_is_fitted(self, "funnel_")
        X = _as_frame(X)
        for _, step in self.steps:
            X = step.transform(X)
        return X

    def resample(self, X, y) -> tuple[pd.DataFrame, Any]:
        """(output, labels) of the training rows (X, y) the chain was fitted on, oversampled as in
        :meth:`fit`: each resampling step draws its synthetic rows again (seeded: the same ones)."""
        check_is_fitted(self, "funnel_")
        X = _as_frame(X)
        for _, step in self.steps:
            if hasattr(step, "resample"):
                X, y = step.resample(X, y)
            else:
                X = step.transform(X)
        return X, y

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "funnel_")
        if not self.steps:
            return self.feature_names_in_.copy()
        return np.asarray(self.steps[-1][1].get_feature_names_out(), dtype=object)

    def linear_predictor(self, X) -> pd.Series:
        """The last step's linear predictor (e.g. the LASSO RadScore) on X passed through the earlier steps."""
        check_is_fitted(self, "funnel_")
        last = self.steps[-1][1] if self.steps else None
        if not hasattr(last, "linear_predictor"):
            raise AttributeError("the chain's last step has no linear_predictor(); end the chain with 'lasso'")
        X = _as_frame(X)
        for _, step in self.steps[:-1]:
            X = step.transform(X)
        return last.linear_predictor(X)


def _options(step: str, opts: Mapping, mapping: Mapping[str, str]) -> dict:
    unknown = sorted(set(opts) - set(mapping))
    if unknown:
        raise ValueError(f"select.{step}: unknown option(s) {unknown}; known: {sorted(mapping)}")
    return {mapping[k]: v for k, v in opts.items()}


def _variance(opts: Mapping, random_state) -> VarianceFilter:
    return VarianceFilter(**_options("variance", opts, {
        "threshold": "threshold", "near_zero": "near_zero", "freq_cut": "freq_cut", "unique_cut": "unique_cut"}))


def _zscore(opts: Mapping, random_state) -> ZScore:
    _options("zscore", opts, {})
    return ZScore()


def _univariate(opts: Mapping, random_state) -> UnivariateFilter:
    return UnivariateFilter(**_options("univariate", opts, {
        "p": "p_threshold", "categorical": "categorical", "alpha": "alpha",
        "levene_center": "levene_center", "yates": "yates"}))


def _correlation(opts: Mapping, random_state) -> CorrelationFilter:
    return CorrelationFilter(**_options("correlation", opts, {"threshold": "threshold", "method": "method"}))


def _lasso(opts: Mapping, random_state) -> LassoSelector:
    kw = _options("lasso", opts, {
        "folds": "n_folds", "repeats": "n_repeats", "rule": "rule", "n_lambda": "n_lambda",
        "lambda_min_ratio": "lambda_min_ratio"})
    return LassoSelector(random_state=random_state, **kw)


def _mrmr(opts: Mapping, random_state) -> MRMRSelector:
    return MRMRSelector(**_options("mrmr", opts, {"k": "k"}))


def _lgbm(opts: Mapping, random_state) -> LGBMIncremental:
    return LGBMIncremental(random_state=random_state, **_options("lgbm", opts, {
        "folds": "folds", "repeats": "repeats", "max_features": "max_features", "n_estimators": "n_estimators"}))


def _ulogit(opts: Mapping, random_state) -> UnivariateLogitFilter:
    return UnivariateLogitFilter(**_options("ulogit", opts, {"p": "p_threshold"}))


def _stepwise(opts: Mapping, random_state) -> StepwiseSelector:
    return StepwiseSelector(**_options("stepwise", opts, {"criterion": "criterion", "p": "p_remove",
                                                           "max_vif": "max_vif", "test": "test"}))


def _smote(opts: Mapping, random_state) -> SMOTEStep:
    return SMOTEStep(random_state=random_state, **_options("smote", opts, {"k_neighbors": "k_neighbors"}))


def _mutual_info(opts: Mapping, random_state) -> MutualInfoFilter:
    return MutualInfoFilter(random_state=random_state, **_options("mutual_info", opts, {
        "threshold": "threshold", "n_bins": "n_bins", "n_neighbors": "n_neighbors",
        "min_relevance": "min_relevance"}))


# Config step name → builder(options, random_state).
STEP_BUILDERS: dict[str, Callable[[Mapping, int | None], Any]] = {
    "variance": _variance,
    "zscore": _zscore,
    "univariate": _univariate,
    "correlation": _correlation,
    "mrmr": _mrmr,
    "lasso": _lasso,
    "lgbm": _lgbm,
    "ulogit": _ulogit,
    "stepwise": _stepwise,
    "smote": _smote,
    "mutual_info": _mutual_info,
}


def build_chain(settings: Mapping | None, random_state: int | None = 0) -> SelectionChain:
    """The chain described by the config's ``select`` section.

    ``{"steps": [...], "<step>": {options}}``; option names as in the config schema (univariate
    ``p``; correlation ``threshold``, ``method``; lasso ``folds``, ``repeats``, ``rule``, ...).
    Whatever the section leaves out takes the schema's defaults (:func:`axilla.settings.select_spec`).
    """
    from ..settings import select_spec

    settings = select_spec(settings)
    steps = list(settings["steps"])
    unknown = sorted(set(settings) - {"steps"} - set(STEP_BUILDERS))
    if unknown:
        raise ValueError(f"select: unknown section(s) {unknown}")
    chain = []
    for name in steps:
        if name not in STEP_BUILDERS:
            raise ValueError(f"select.steps: unknown step {name!r}; known: {sorted(STEP_BUILDERS)}")
        chain.append((name, STEP_BUILDERS[name](dict(settings[name]), random_state)))
    return SelectionChain(chain)


def zscore_steps(chain: SelectionChain, stop: str | None = None) -> list[ZScore]:
    """The ZScore steps of ``chain`` before step ``stop`` (all steps when None), in chain order."""
    out = []
    for name, step in chain.steps:
        if name == stop:
            break
        if isinstance(step, ZScore):
            out.append(step)
    return out


def raw_scale(zsteps: Iterable[ZScore], intercept: float, coefs: pd.Series) -> tuple[float, pd.Series]:
    """(intercept, coefficients) of the same linear predictor on the values before ``zsteps``.

    Folds each z = (x − mean) / SD into the coefficients, the last step first, so chained
    z-scores compose. Terms a step did not scale (not numeric there, or added later) keep their
    coefficient; a term that was constant on the training rows (SD 0, z always 0) gets 0.
    ``zsteps``: the steps in chain order, as from :func:`zscore_steps`.
    """
    for z in reversed(list(zsteps)):
        mean = z.mean_.reindex(coefs.index).fillna(0.0)
        sd = z.scale_.reindex(coefs.index).fillna(1.0)
        scaled = coefs.index.isin(z.scale_.index) & (sd > 0).to_numpy()
        # term by term (b·mean/SD each), not a vectorised sum: keeps the nomogram's numbers bit for bit
        for b, m, s in zip(coefs[scaled], mean[scaled], sd[scaled]):
            intercept -= b * m / s
        coefs = pd.Series(np.where(sd > 0, coefs / np.where(sd > 0, sd, 1.0), 0.0), index=coefs.index)
    return float(intercept), coefs
