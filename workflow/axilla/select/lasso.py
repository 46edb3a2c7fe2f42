"""LASSO logistic regression with glmnet's definitions (λ path, CV deviance, λ_min / λ_1se).

Determinism: the only randomness (fold assignment, liblinear's coordinate order) is seeded from
``random_state``; the global NumPy RNG is never used.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.utils.validation import check_is_fitted

from .base import _as_frame, _binary_target, _is_numeric, _Selector

# cv.glmnet clamps held-out probabilities to [1e-5, 1 - 1e-5] before taking logs (cv.lognet).
_PROB_MIN = 1e-5

# liblinear penalises the intercept like a weight on a constant column of this value, so the
# intercept's own penalty is λ·|b| / 1e4: negligible, which makes the fit match glmnet's
# unpenalised intercept (checked by the KKT test). Much larger values slow liblinear down.
_INTERCEPT_SCALING = 1e4


def _standardise(A: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    # glmnet leaves constant columns out; a zero column does the same (its coefficient stays 0)
    safe = np.where(sd > 0, sd, 1.0)
    Z = (A - mean) / safe
    Z[:, sd == 0] = 0.0
    return Z


def _kkt_violation(Z: np.ndarray, y01: np.ndarray, beta: np.ndarray, b0: float, lam: float) -> float:
    """How far (β, b0) is from optimal for −loglik/n + λ‖β‖₁: 0 at glmnet's solution.

    Optimality: x_jᵀ(y − p)/n = λ·sign(β_j) where β_j ≠ 0, |x_jᵀ(y − p)/n| <= λ where β_j = 0,
    and mean(y − p) = 0 for the unpenalised intercept.
    """
    resid = y01 - expit(Z @ beta + b0)
    grad = Z.T @ resid / y01.size
    nz = beta != 0
    active = np.abs(grad[nz] - lam * np.sign(beta[nz])).max(initial=0.0)
    inactive = (np.abs(grad[~nz]) - lam).max(initial=0.0)
    return float(max(active, inactive, abs(resid.mean())))


def _cv_stats(dev: np.ndarray, foldid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """cv.glmnet's cvm and cvsd from per-observation held-out deviances (n × n_lambda).

    grouped (glmnet's default, used when there are >= 3 observations per fold): per-fold mean
    deviance m_k with weight w_k = fold size; cvm = Σ w_k m_k / Σ w_k (= the mean over all
    observations); cvsd = sqrt(Σ w_k (m_k − cvm)² / Σ w_k / (K − 1)). Otherwise, as cv.glmnet
    does, the observations themselves are the units: cvsd = sqrt(mean((d_i − cvm)²) / (n − 1)).
    Returns cvm, cvsd and the per-fold means (K × n_lambda).
    """
    folds = np.unique(foldid)
    K, n = folds.size, dev.shape[0]
    means = np.vstack([dev[foldid == f].mean(axis=0) for f in folds])
    if n / K >= 3:
        w = np.array([(foldid == f).sum() for f in folds], dtype=float)
        cvm = w @ means / w.sum()
        cvsd = np.sqrt((w @ (means - cvm) ** 2) / w.sum() / (K - 1))
    else:
        cvm = dev.mean(axis=0)
        cvsd = np.sqrt(((dev - cvm) ** 2).mean(axis=0) / (n - 1))
    return cvm, cvsd, means


def _numeric_matrix(X: pd.DataFrame) -> np.ndarray:
    """X as a float matrix; the LASSO takes encoded, imputed features only."""
    bad = [c for c in X.columns if not _is_numeric(X[c])]
    if bad:
        raise ValueError(f"LassoSelector needs numeric features; encode these first: {bad[:10]}")
    A = X.to_numpy(float)
    if not np.isfinite(A).all():
        raise ValueError("LassoSelector: X has missing or infinite values; impute before selection")
    return A


class LassoSelector(_Selector):
    """L1-penalised logistic regression with cv.glmnet's λ path, CV deviance and λ rules.

    Definitions (glmnet, family="binomial", alpha=1, standardize=TRUE):

    * features standardised with the fit rows' mean and population SD (ddof=0); coefficients are
      also reported back on the input scale (``coef_``, ``intercept_``);
    * objective −loglik/n + λ‖β‖₁ with an unpenalised intercept. scikit-learn minimises
      ‖β‖₁ + C·Σ logloss, which is the same problem scaled by C·n, so C = 1/(n·λ). The solver is
      liblinear (newGLMNET coordinate descent: ~2 s for a 100 × 200 table with 5 folds, where
      saga needs ~10× longer for the same accuracy) with a large intercept scaling so the
      intercept is in effect unpenalised. Every fit is checked against the KKT conditions of
      glmnet's objective; the worst residual per λ is kept in ``kkt_violation_`` (typically
      ~1e-5; tests/test_lasso_vs_glmnet.py checks them independently);
    * λ_max = max_j |x_jᵀ(y − ȳ)| / n on the standardised x, the smallest λ with all β = 0; the
      path is ``n_lambda`` log-spaced values from λ_max down to λ_max·``lambda_min_ratio``
      (default as glmnet: 0.01 when n < p, else 1e-4);
    * CV: every fold refits the whole path on its training rows (standardised with those rows'
      statistics, as glmnet does inside each fit) and predicts the held-out rows; binomial
      deviance −2[y log p + (1−y) log(1−p)] with p clamped to [1e-5, 1−1e-5]; cvm and cvsd as
      in cv.glmnet (see :func:`_cv_stats`); λ_min = the largest λ with cvm = min(cvm),
      λ_1se = the largest λ with cvm <= cvm(λ_min) + cvsd(λ_min) (getOptcv.glmnet);
    * repeated CV (``n_repeats`` > 1): cvm and cvsd are averaged over the repeats before the
      rules are applied (with one repeat this is exactly cv.glmnet);
    * folds: stratified (cv.glmnet's own are unstratified; stratification keeps both classes in
      every fold of a small cohort), seeded from ``random_state`` (None means 0: the global RNG is
      never used), or given as ``foldid``
      (one fold label per fit row; a 2-D array gives one row per repeat);
    * the final model is the full-data path at the chosen λ (as coef(cv.fit, s=...)), selected =
      its nonzero coefficients.

    Unlike glmnet, the path is never truncated early (glmnet stops when the deviance explained
    passes 99.9 %), so every fold has every λ.

    Fallback: if nothing is selected at λ_1se, λ_min is used; if still nothing, the feature with
    the largest |standardised coefficient| anywhere on the path is kept with an unpenalised
    single-feature logistic fit (``lambda_`` = 0). ``fallback_`` records which ("lambda_min",
    "max_abs_path", or None).

    Fitted: ``lambdas_``, ``lambda_max_``, ``cv_mean_``, ``cv_se_`` (and per repeat / per fold),
    ``foldid_``, ``lambda_min_``, ``lambda_1se_``, ``lambda_`` (used), ``coef_path_`` (n_lambda ×
    p, standardised scale, for the path figure), ``intercept_path_``, ``coef_`` / ``intercept_``
    (input scale), ``coef_std_`` / ``intercept_std_`` (standardised), ``mean_`` / ``scale_``,
    ``solver_params_``, ``kkt_violation_``. ``linear_predictor(X)`` gives the linear predictor
    (RadScore) and ``formula()`` its text.
    """

    def __init__(self, n_folds: int = 5, n_repeats: int = 1, rule: str = "1se", n_lambda: int = 100,
                 lambda_min_ratio: float | None = None, foldid=None, random_state: int | None = 0,
                 tol: float = 1e-6, max_iter: int = 100):
        self.n_folds = n_folds
        self.n_repeats = n_repeats
        self.rule = rule
        self.n_lambda = n_lambda
        self.lambda_min_ratio = lambda_min_ratio
        self.foldid = foldid
        self.random_state = random_state
        self.tol = tol
        self.max_iter = max_iter

    # -- pieces -----------------------------------------------------------------------------

    def _fold_matrix(self, y01: np.ndarray, seed: int) -> np.ndarray:
        n = y01.size
        if self.foldid is not None:
            f = np.atleast_2d(np.asarray(self.foldid))
            if f.shape[1] != n:
                raise ValueError(f"foldid has {f.shape[1]} entries per repeat but there are {n} rows")
            return f
        cv = RepeatedStratifiedKFold(n_splits=self.n_folds, n_repeats=self.n_repeats, random_state=seed)
        f = np.empty((self.n_repeats, n), dtype=int)
        for i, (_, test) in enumerate(cv.split(np.zeros((n, 1)), y01)):
            f[i // self.n_folds, test] = i % self.n_folds
        return f

    def _path(self, Z: np.ndarray, y01: np.ndarray, lambdas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Standardised coefficients (n_lambda × p) and intercepts along the path."""
        n = Z.shape[0]
        if np.unique(y01).size < 2:
            raise ValueError("a CV training fold holds a single class; use fewer folds or other foldid")
        model = LogisticRegression(**self.solver_params_)
        B = np.zeros((lambdas.size, Z.shape[1]))
        b0 = np.zeros(lambdas.size)
        for k, lam in enumerate(lambdas):
            model.set_params(C=1.0 / (n * lam))
            with warnings.catch_warnings():
                # liblinear's stopping rule is dominated by the scaled intercept column and often
                # reports non-convergence for fits that are accurate; the KKT residual below is
                # the real measure and is kept instead
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(Z, y01)
            B[k], b0[k] = model.coef_.ravel(), model.intercept_[0]
            self.kkt_violation_[k] = max(self.kkt_violation_[k], _kkt_violation(Z, y01, B[k], b0[k], lam))
        return B, b0

    # -- fit --------------------------------------------------------------------------------

    def fit(self, X, y) -> "LassoSelector":
        if self.rule not in ("1se", "min"):
            raise ValueError(f"rule must be '1se' or 'min', got {self.rule!r}")
        if self.n_lambda < 2:
            raise ValueError("n_lambda must be at least 2")
        X = self._start_fit(X)
        A = _numeric_matrix(X)
        y01, self.classes_ = _binary_target(y, X)
        seed = 0 if self.random_state is None else int(self.random_state)
        self.solver_params_ = dict(l1_ratio=1.0, solver="liblinear", tol=self.tol, max_iter=self.max_iter,
                                   intercept_scaling=_INTERCEPT_SCALING, fit_intercept=True,
                                   random_state=seed)
        names = list(self.feature_names_in_)
        mean, sd = A.mean(axis=0), A.std(axis=0)
        self.mean_ = pd.Series(mean, index=names, name="mean")
        self.scale_ = pd.Series(sd, index=names, name="sd")
        Z = _standardise(A, mean, sd)
        self._set_lambdas(Z, y01)
        # worst KKT residual of glmnet's objective per λ over the full fit and every fold fit
        self.kkt_violation_ = np.zeros(self.n_lambda)
        B, b0 = self._path(Z, y01, self.lambdas_)
        self._cross_validate(A, y01, self._fold_matrix(y01, seed))
        i_min, i_1se = self._lambda_rules()
        self.coef_path_ = pd.DataFrame(B, index=pd.Index(self.lambdas_, name="lambda"), columns=names)
        self.intercept_path_ = pd.Series(b0, index=self.coef_path_.index, name="intercept")
        beta, b_std = self._choose(B, b0, Z, y01, i_min, i_1se)
        self.coef_std_ = pd.Series(beta, index=names, name="coef_std")
        self.intercept_std_ = b_std
        # back on the input scale: the same linear predictor on unstandardised features
        orig = np.where(sd > 0, beta / np.where(sd > 0, sd, 1.0), 0.0)
        self.coef_ = pd.Series(orig, index=names, name="coef")
        self.intercept_ = float(b_std - orig @ mean)
        self._set_support(beta != 0)
        return self

    def _set_lambdas(self, Z: np.ndarray, y01: np.ndarray) -> None:
        """glmnet's path: ``n_lambda`` log-spaced values from λ_max down to λ_max·ratio."""
        n, p = Z.shape
        self.lambda_max_ = float(np.max(np.abs(Z.T @ (y01 - y01.mean()))) / n)
        if self.lambda_max_ <= 0:
            raise ValueError("LassoSelector: no feature varies with the outcome (λ_max = 0)")
        ratio = self.lambda_min_ratio
        if ratio is None:
            ratio = 0.01 if n < p else 1e-4
        self.lambdas_ = self.lambda_max_ * ratio ** (np.arange(self.n_lambda) / (self.n_lambda - 1))

    def _fold_deviance(self, A: np.ndarray, y01: np.ndarray, f: np.ndarray) -> np.ndarray:
        """Held-out binomial deviance (n × n_lambda) of one repeat with fold labels ``f``; each
        fold's path is fitted on the other folds, standardised with their statistics."""
        dev = np.empty((A.shape[0], self.n_lambda))
        for k in np.unique(f):
            tr, te = f != k, f == k
            m, s = A[tr].mean(axis=0), A[tr].std(axis=0)
            Bk, bk = self._path(_standardise(A[tr], m, s), y01[tr], self.lambdas_)
            prob = expit(_standardise(A[te], m, s) @ Bk.T + bk)
            prob = np.clip(prob, _PROB_MIN, 1 - _PROB_MIN)
            yt = y01[te][:, None]
            dev[te] = -2 * (yt * np.log(prob) + (1 - yt) * np.log(1 - prob))
        return dev

    def _cross_validate(self, A: np.ndarray, y01: np.ndarray, folds: np.ndarray) -> None:
        """cv.glmnet's curve (cvm, cvsd) per repeat (row of ``folds``), averaged over the repeats."""
        cvm, cvsd, fold_means = [], [], []
        for f in folds:
            c_m, c_sd, means = _cv_stats(self._fold_deviance(A, y01, f), f)
            cvm.append(c_m)
            cvsd.append(c_sd)
            fold_means.append(means)
        self.foldid_ = folds
        self.cv_mean_repeats_ = np.vstack(cvm)
        self.cv_se_repeats_ = np.vstack(cvsd)
        self.cv_fold_means_ = fold_means
        self.cv_mean_ = self.cv_mean_repeats_.mean(axis=0)
        self.cv_se_ = self.cv_se_repeats_.mean(axis=0)

    def _lambda_rules(self) -> tuple[int, int]:
        """Path indices of λ_min and λ_1se (getOptcv.glmnet)."""
        # path is decreasing, so "largest λ such that ..." is the first index that qualifies
        i_min = int(np.flatnonzero(self.cv_mean_ <= self.cv_mean_.min())[0])
        i_1se = int(np.flatnonzero(self.cv_mean_ <= self.cv_mean_[i_min] + self.cv_se_[i_min])[0])
        self.lambda_min_ = float(self.lambdas_[i_min])
        self.lambda_1se_ = float(self.lambdas_[i_1se])
        return i_min, i_1se

    def _choose(self, B: np.ndarray, b0: np.ndarray, Z: np.ndarray, y01: np.ndarray, i_min: int,
                i_1se: int) -> tuple[np.ndarray, float]:
        """Standardised (β, b0) of the final model: the rule's λ, else the fallbacks (class docstring)."""
        self.fallback_ = None
        idx = i_1se if self.rule == "1se" else i_min
        if not B[idx].any() and idx != i_min:
            idx, self.fallback_ = i_min, "lambda_min"
        if B[idx].any():
            beta, b_std = B[idx].copy(), float(b0[idx])
            self.lambda_, self.lambda_index_ = float(self.lambdas_[idx]), idx
            return beta, b_std
        beta, b_std = self._single_feature_fit(B, Z, y01)
        self.fallback_, self.lambda_, self.lambda_index_ = "max_abs_path", 0.0, None
        return beta, b_std

    def _single_feature_fit(self, B: np.ndarray, Z: np.ndarray, y01: np.ndarray) -> tuple[np.ndarray, float]:
        peak = np.abs(B).max(axis=0)
        if not peak.any():
            raise ValueError("LassoSelector: no coefficient is nonzero anywhere on the path")
        j = int(np.argmax(peak))
        lr = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(Z[:, [j]], y01)
        beta = np.zeros(Z.shape[1])
        beta[j] = lr.coef_[0, 0]
        return beta, float(lr.intercept_[0])

    # -- outputs ----------------------------------------------------------------------------

    def linear_predictor(self, X) -> pd.Series:
        """The linear predictor b0 + Σ b_j·x_j on the input scale (the papers' RadScore / DLScore).

        X needs only the selected columns (so ``linear_predictor(transform(X))`` works).
        """
        check_is_fitted(self, "coef_")
        X = _as_frame(X)
        missing = [c for c in self.selected_ if c not in X.columns]
        if missing:
            raise ValueError(f"LassoSelector.linear_predictor: selected columns missing: {missing[:10]}")
        eta = self.intercept_ + X[self.selected_].to_numpy(float) @ self.coef_[self.selected_].to_numpy()
        return pd.Series(eta, index=X.index, name="score")

    decision_function = linear_predictor

    def formula(self, name: str = "score", digits: int = 4) -> str:
        """The fitted score as text, e.g. ``score = -0.4120 + 1.0310·glcm_contrast - 0.2207·age``."""
        check_is_fitted(self, "coef_")
        text = f"{name} = {self.intercept_:.{digits}f}"
        for feat in self.selected_:
            b = float(self.coef_[feat])
            text += f" {'-' if b < 0 else '+'} {abs(b):.{digits}f}·{feat}"
        return text
