"""What a fitted model says, for the report: its score formulas, feature importance and the
univariable / multivariable odds-ratio tables of clinical models.

Everything here reads a fitted model and the training cohort only (the rows it was fitted on);
the `train` rule writes the results next to the model (formula.txt, importance.csv,
odds_ratios.csv).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from .select import raw_scale, zscore_steps

IMPORTANCE_COLUMNS = ["feature", "importance", "kind"]
ODDS_COLUMNS = ["analysis", "term", "coef", "se", "odds_ratio", "or_ci_low", "or_ci_high", "p", "vif", "per"]
PERMUTATION_REPEATS = 10


# ---------------------------------------------------------------------------------------------
# formulas
# ---------------------------------------------------------------------------------------------

def _num(v: float) -> str:
    return f"{v:.6g}"


def linear_text(lhs: str, intercept: float, coefs: pd.Series, wrap=str) -> str:
    """``lhs = b0`` then one ``± |b| × term`` line per coefficient (6 significant digits)."""
    lines = [f"{lhs} = {_num(intercept)}"]
    for term, b in coefs.items():
        lines.append(f"    {'-' if b < 0 else '+'} {_num(abs(float(b)))} × {wrap(term)}")
    return "\n".join(lines)


def parse_linear(text: str) -> tuple[float, dict[str, float]]:
    """Inverse of :func:`linear_text` for the first formula in ``text`` (tests, readers' scripts)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if " = " in line and not line.startswith(("#", " ")))
    intercept = float(lines[start].split(" = ", 1)[1])
    coefs = {}
    for line in lines[start + 1:]:
        if not line.startswith("    ") or " × " not in line:
            break
        sign, rest = line.strip().split(" ", 1)
        value, term = rest.split(" × ", 1)
        coefs[term] = float(value) * (-1.0 if sign == "-" else 1.0)
    return intercept, coefs


def _scale_block(lhs: str, intercept: float, coefs: pd.Series, zsteps, check_raw, check_value) -> list[str]:
    """The formula on the scale the step saw; with one preceding z-score step also the training
    means / SDs and, when it reproduces ``check_value`` on the training rows, the same formula on
    the original (encoded) values."""
    if not zsteps:
        return [linear_text(lhs, intercept, coefs),
                "(features on their original (encoded) values: categorical variables as 0/1 indicators "
                "of a level against the reference level, missing values imputed as fitted on the "
                "training cohort)"]
    out = [linear_text(lhs, intercept, coefs, wrap=lambda f: f"z({f})")]
    if len(zsteps) == 1:
        z = zsteps[0]
        stats = pd.DataFrame({"m": z.mean_.reindex(coefs.index), "s": z.scale_.reindex(coefs.index)})
        width = max([len(str(f)) for f in coefs.index] + [7])
        out.append("where z(x) = (x − mean) / SD with the training cohort's mean and population SD:")
        out.extend(f"    {str(f):<{width}}  mean {_num(r.m)}  SD {_num(r.s)}" for f, r in stats.iterrows())
        b0, b = raw_scale(zsteps, intercept, coefs)
        if np.allclose(check_raw(b0, b), check_value, rtol=1e-6, atol=1e-8):
            out.append("Equivalently, on the original (encoded) feature values:")
            out.append(linear_text(lhs, b0, b))
    else:
        out.append(f"({len(zsteps)} z-score steps in the chain; the features are the last step's z-values)")
    return out


def _describe_linear(est) -> str:
    name = type(est).__name__
    if name == "LogisticRegression":
        C = float(est.C)
        if not np.isfinite(C):
            return "unpenalised logistic regression"
        pen = est.penalty if est.penalty in ("l1", "l2", "elasticnet") else {0.0: "l2", 1.0: "l1"}.get(
            float(est.l1_ratio or 0.0), "elastic net")
        return f"logistic regression ({pen.upper() if len(pen) == 2 else pen}, C = {_num(C)})"
    if name == "SGDClassifier":
        return f"logistic regression by SGD ({est.penalty}, alpha = {_num(est.alpha)})"
    return name


def formula_text(model, X_train: pd.DataFrame, name: str, n_train: int | None = None) -> str:
    """The score formula(s) of a fitted :class:`axilla.train.FeatureModel`, as plain text.

    * a ``lasso`` step: the score ``<name>_score`` = the LASSO linear predictor (RadScore /
      DLScore of the seed studies), on the scale the LASSO saw;
    * a logistic classifier (LR, SGD with log loss): ``logit(p)`` = intercept + coefficients on
      the selected features as the classifier saw them.

    When a z-score step comes first, the training means and SDs are listed and the same formula is
    given on the original values (checked to reproduce the model on the training rows).
    ``X_train`` holds the training rows only.
    """
    from .models import final_estimator, linear_terms

    n = len(X_train) if n_train is None else n_train
    enc = model.encoder_.transform(X_train)
    blocks = []
    lasso = model.lasso_
    if lasso is not None:
        sel = list(lasso.selected_)
        coefs = lasso.coef_[sel]
        head = (f"# {name}_score: the LASSO linear predictor, λ = {_num(lasso.lambda_)} "
                f"({lasso.rule} rule{', fallback ' + lasso.fallback_ if lasso.fallback_ else ''}), "
                f"fitted on {n} training patients; {len(sel)} of {len(lasso.feature_names_in_)} features "
                "with a nonzero coefficient")
        score = model.linear_score(X_train)
        blocks.append("\n".join([head, *_scale_block(
            f"{name}_score", lasso.intercept_, coefs, zscore_steps(model.chain_, "lasso"),
            lambda b0, b: b0 + enc[list(b.index)].to_numpy(float) @ b.to_numpy(), score)]))
    est = final_estimator(model.clf_)
    lin = linear_terms(model.clf_)
    cols = model.selected_
    if lin is not None:
        coefs = pd.Series(lin[1], index=cols)
        what = _describe_linear(est)
        extra = ", training cohort SMOTE-augmented" if model.smote_samples_ is not None else ""
        head = f"# Model probability: {what} on the {len(cols)} selected features, fitted on {n} training patients{extra}"
        D = model._design(X_train).to_numpy(float)
        logit = est.decision_function(D)
        blocks.append("\n".join([head, *_scale_block(
            "logit(p)", lin[0], coefs, zscore_steps(model.chain_),
            lambda b0, b: b0 + enc[list(b.index)].to_numpy(float) @ b.to_numpy(), logit),
            "p = 1 / (1 + exp(−logit(p)))"]))
    else:
        blocks.append(f"# Model probability: {type(est).__name__} on the {len(cols)} selected features "
                      f"({', '.join(map(str, cols[:8]))}{', …' if len(cols) > 8 else ''}); not a linear "
                      "model, so it has no closed-form formula (see its feature importance)")
    return "\n\n".join(blocks) + "\n"


def fusion_formula_text(model, n_train: int) -> str:
    """Formula of a post-fusion model (:class:`axilla.train.FusionModel`); the missing-pattern
    submodels, when some patients lack base models, are named after it."""
    return _fusion_formula(model, n_train) + _submodel_text(model)


def _submodel_text(model) -> str:
    subs = [p for p in getattr(model, "submodels_", {}) if len(p) < len(model.columns_)]
    if not subs:
        return ""
    return ("# Patients lacking some base models get the submodel of the bases they have, refitted on the "
            "training patients having those bases (missing-pattern rule, Mercaldo & Blume 2020): "
            + "; ".join(" + ".join(p) for p in subs) + "\n")


def _fusion_formula(model, n_train: int) -> str:
    cols = model.columns_
    if model.meta == "lr":
        coefs = pd.Series(model.clf_.coef_[0], index=[f"logit(p_{c})" for c in cols])
        return "\n".join([
            f"# Post-fusion: logistic regression (L2, C = {_num(model.clf_.C)}) on the logits of the base models' "
            f"probabilities, fitted on {n_train} training patients",
            linear_text("logit(p)", float(model.clf_.intercept_[0]), coefs),
            "p = 1 / (1 + exp(−logit(p)))",
            "where p_m is base model m's probability (out-of-fold for training patients)"]) + "\n"
    return (f"# Post-fusion: {type(model.clf_).__name__} on the logits of the probabilities of "
            f"{', '.join(cols)}; not a linear model, so it has no closed-form formula (see its feature "
            "importance)\n")


# ---------------------------------------------------------------------------------------------
# importance
# ---------------------------------------------------------------------------------------------

def importance_table(fitted, D_train: pd.DataFrame, y_train, seed: int = 0) -> pd.DataFrame:
    """``feature, importance, kind`` of a fitted classifier on its design matrix, training rows only.

    Model-native where the model has it: |standardised coefficient| (|b| × the feature's training
    SD, ddof 0, as the z-score step) for linear models; the share of impurity decrease (random
    forest, AdaBoost) or of total split gain (XGBoost, LightGBM) for trees. Otherwise (SVM, KNN,
    naive Bayes, MLP) permutation importance: the mean drop in training AUC when a feature is
    shuffled, over 10 seeded repeats. Sorted, largest first.
    """
    from .models import final_estimator

    est = final_estimator(fitted)
    cols = list(D_train.columns)
    A = D_train.to_numpy(float)
    y = np.asarray(y_train)
    kind = None
    coef = getattr(est, "coef_", None)
    if coef is not None and np.ndim(coef) == 2 and np.shape(coef)[0] == 1 and np.shape(coef)[1] == len(cols):
        imp = np.abs(np.ravel(coef)) * A.std(axis=0)
        kind = "|standardised coefficient| (|b| × training SD)"
    elif hasattr(est, "get_booster"):  # XGBoost
        gain = est.get_booster().get_score(importance_type="total_gain")
        names = est.get_booster().feature_names or [f"f{j}" for j in range(len(cols))]
        imp = np.array([gain.get(nm, 0.0) for nm in names], float)
        imp = imp / imp.sum() if imp.sum() > 0 else imp
        kind = "share of total split gain (XGBoost)"
    elif hasattr(est, "booster_"):  # LightGBM
        imp = np.asarray(est.booster_.feature_importance(importance_type="gain"), float)
        imp = imp / imp.sum() if imp.sum() > 0 else imp
        kind = "share of total split gain (LightGBM)"
    elif getattr(est, "feature_importances_", None) is not None and len(est.feature_importances_) == len(cols):
        imp = np.asarray(est.feature_importances_, float)
        kind = "share of impurity decrease (mean decrease in Gini)"
    if kind is None:
        from sklearn.inspection import permutation_importance

        r = permutation_importance(fitted, A, y, scoring="roc_auc", n_repeats=PERMUTATION_REPEATS,
                                   random_state=seed, n_jobs=1)
        imp = r.importances_mean
        kind = f"permutation: mean drop in training AUC ({PERMUTATION_REPEATS} repeats)"
    t = pd.DataFrame({"feature": cols, "importance": imp, "kind": kind})
    return t.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)[IMPORTANCE_COLUMNS]


# ---------------------------------------------------------------------------------------------
# odds ratios
# ---------------------------------------------------------------------------------------------

def odds_ratio_tables(model, X_train: pd.DataFrame, y_train, clinical: bool) -> pd.DataFrame:
    """Univariable and multivariable logistic regression of a feature model, training rows only.

    A chain's ``ulogit`` / ``stepwise`` steps give their own tables (the selection itself; per
    training SD when a z-score step came before them). A clinical model (``clinical``: features
    are clinical variables or blood indices, possibly with other models' scores, see
    :func:`is_clinical`) without such a step gets them
    computed here, unpenalised, on the original (encoded) values: one logistic regression per
    candidate variable, and one of the model's selected terms together. Header only for any other
    model (hundreds of imaging features have no odds-ratio table worth reading).
    """
    from .select.clinical import fit_logit, odds_ratio_table, univariate_table, vif

    steps = model.chain_.named_steps
    parts = []

    def per(step):
        return "training SD" if zscore_steps(model.chain_, step) else "unit"

    if "ulogit" in steps:
        parts.append(steps["ulogit"].table_.assign(analysis="univariate", per=per("ulogit")))
    elif clinical:
        enc = model.encoder_.transform(X_train)
        parts.append(univariate_table(enc, np.asarray(y_train)).assign(analysis="univariate", per="unit"))
    if "stepwise" in steps:
        st = steps["stepwise"]
        parts.append(st.table_.assign(analysis="multivariable", vif=st.table_.term.map(st.vif_), per=per("stepwise")))
    elif clinical:
        enc = model.encoder_.transform(X_train)
        terms = [t for t in model.selected_ if enc[t].nunique() > 1]
        if terms:
            with np.errstate(over="ignore"):  # separated data: OR and CI overflow to inf, which is what they are
                table = odds_ratio_table(fit_logit(enc[terms], np.asarray(y_train)))
            parts.append(table.assign(analysis="multivariable", vif=table.term.map(vif(enc[terms])), per="unit"))
    if not parts:
        return pd.DataFrame(columns=ODDS_COLUMNS)
    return pd.concat(parts, ignore_index=True).reindex(columns=ODDS_COLUMNS)


# Feature sources of a "clinical model" (odds-ratio tables): no imaging features.
NON_IMAGING = frozenset({"clinical", "blood"})


def feature_sources(specs: Sequence[str] | None) -> set[str]:
    """The sources (clinical, blood, radiomics, deep) of a model's ``features`` entries."""
    return {s.split(":")[0] for s in (specs or [])}


def is_clinical(sources: set[str] | None) -> bool:
    """A model of clinical variables and blood indices only (other models' scores may join them)."""
    return bool(sources) and set(sources) <= NON_IMAGING


# ---------------------------------------------------------------------------------------------
# the `interpret` rule: what each fitted model says, written next to it
# ---------------------------------------------------------------------------------------------

class Outputs(NamedTuple):
    """The `interpret` rule's files (the rule passes its ``output``, which has these names)."""

    coefficients: str
    summary: str
    formula: str
    importance: str
    odds_ratios: str

    @classmethod
    def under(cls, folder) -> "Outputs":
        """The file names the rule uses, in ``folder`` (tests, scripts of one's own)."""
        names = ("coefficients.csv", "summary.json", "formula.txt", "importance.csv", "odds_ratios.csv")
        return cls(*(str(Path(folder) / n) for n in names))


def coefficient_table(model) -> pd.DataFrame:
    """term, coef, odds_ratio for a linear classifier (on the chain's output scale); otherwise the
    features with the classifier's importances where it has them."""
    from .models import final_estimator, linear_terms

    lin = linear_terms(model.clf_)
    if lin is not None:
        coef = pd.DataFrame({"term": ["(intercept)", *model.selected_], "coef": [lin[0], *lin[1]]})
        coef["odds_ratio"] = np.exp(coef.coef)
        return coef
    est = final_estimator(model.clf_)
    imp = getattr(est, "feature_importances_", None)
    return pd.DataFrame({"term": model.selected_, "coef": np.nan, "odds_ratio": np.nan,
                         "importance": np.nan if imp is None else np.asarray(imp, float)})


def model_summary(model, name: str) -> dict:
    from .models import final_estimator

    lasso = model.lasso_
    out = {"classifier": type(final_estimator(model.clf_)).__name__, "spec": model.classifier or "lr",
           "tuned_params": {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v))
                            for k, v in model.tuned_params_.items()},
           "selected": model.selected_, "funnel": model.chain_.funnel_.to_dict("records"),
           "smote_samples": 0 if model.smote_samples_ is None else int(len(model.smote_samples_))}
    if lasso is not None:
        out["score"] = {"name": f"{name}_score", "lambda": lasso.lambda_, "rule": lasso.rule,
                        "intercept": lasso.intercept_,
                        "coefficients": {f: float(lasso.coef_[f]) for f in lasso.selected_},
                        "formula": lasso.formula(f"{name}_score")}
    return out


def fusion_coefficient_table(model) -> pd.DataFrame:
    """term, coef, odds_ratio of a post-fusion meta-classifier (NaN for an SVM)."""
    terms = ["(intercept)", *[f"logit({c})" for c in model.columns_]]
    if model.meta != "lr":
        return pd.DataFrame({"term": terms[1:], "coef": np.nan, "odds_ratio": np.nan})
    coef = pd.DataFrame({"term": terms, "coef": [model.clf_.intercept_[0], *model.clf_.coef_[0]]})
    coef["odds_ratio"] = np.exp(coef.coef)
    return coef


def run_feature_model(model_pkl: str, X: pd.DataFrame, split: pd.DataFrame, seed: int, name: str,
                      sources: set[str], out) -> None:
    """The `interpret` rule for a feature model, from its model file and the training rows only:
    coefficients, summary, score formula(s), importance and (clinical models, or chains with
    ulogit / stepwise steps) univariable and multivariable odds ratios. ``out``: the rule's
    outputs (coefficients, summary, formula, importance, odds_ratios)."""
    from .io import atomic_path, load_model, write_csv, write_json
    from .split import TRAIN

    model = load_model(model_pkl)
    split = split.set_index("patient_id").loc[X.index]
    is_train = (split.cohort == TRAIN).to_numpy()
    X_train, y_train = X[is_train], split.y.to_numpy()[is_train]
    write_csv(coefficient_table(model), out.coefficients)
    write_json(model_summary(model, name), out.summary)
    with atomic_path(out.formula) as tmp:
        tmp.write_text(formula_text(model, X_train, name), encoding="utf-8")
    write_csv(importance_table(model.clf_, model._design(X_train), y_train, seed), out.importance)
    write_csv(odds_ratio_tables(model, X_train, y_train, is_clinical(sources)), out.odds_ratios)


def run_fusion_model(model_pkl: str, base_preds: dict[str, str], seed: int, out) -> None:
    """The `interpret` rule for a post-fusion model: coefficients, formula and the importance of
    each base model on the training rows (their OOF logits); no odds-ratio table (header only)."""
    from .io import atomic_path, load_model, write_csv, write_json
    from .train import log_odds, read_base_predictions
    from .split import TRAIN

    model = load_model(model_pkl)
    split, oof, _ = read_base_predictions(base_preds)
    # the model of all bases, on the training patients having every base
    is_train = ((split.cohort == TRAIN) & oof.notna().all(axis=1)).to_numpy()
    write_csv(fusion_coefficient_table(model), out.coefficients)
    write_json({"classifier": type(model.clf_).__name__, "meta": model.meta, "fuses": model.columns_},
                       out.summary)
    with atomic_path(out.formula) as tmp:
        tmp.write_text(fusion_formula_text(model, int(is_train.sum())), encoding="utf-8")
    D = pd.DataFrame(log_odds(oof[is_train].to_numpy(float)), columns=[f"logit(p_{c})" for c in model.columns_])
    write_csv(importance_table(model.clf_, D, split.y[is_train].to_numpy(), seed), out.importance)
    write_csv(pd.DataFrame(columns=ODDS_COLUMNS), out.odds_ratios)
