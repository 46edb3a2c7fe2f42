"""The `select` stage's file I/O: fit a model's selection on the training cohort and write it,
its kept features and its funnel; the LASSO path / CV tables, the LightGBM ranking and incremental
CV-AUC curve (models with an ``lgbm`` step) and the combined funnel of the report."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..io import save_model, write_csv
from ..split import TRAIN
from .chain import SelectionChain

log = logging.getLogger(__name__)


def run(model, X: pd.DataFrame, split: pd.DataFrame, out_selection: str, out_selected: str, out_funnel: str,
        out_lasso_path: str | None = None, out_lasso_cv: str | None = None) -> None:
    """The `select` rule: fit ``model``'s encoder and selection chain on the training cohort only.

    ``model``: an unfitted feature model (``axilla.train.FeatureModel``, or anything with its
    ``fit_selection`` / ``encoder_`` / ``chain_`` / ``selected_``), pickled to ``out_selection``
    once fitted.
    """
    is_train = (split.set_index("patient_id").loc[X.index, "cohort"] == TRAIN).to_numpy()
    y = split.set_index("patient_id").loc[X.index, "y"].to_numpy()
    model = model.fit_selection(X[is_train], y[is_train])
    chain = model.chain_
    funnel = chain.funnel_.copy()
    funnel = pd.concat([pd.DataFrame([{"step": "input", "n_in": X.shape[1], "n_out": model.encoder_.transform(
        X.iloc[:1]).shape[1]}]), funnel], ignore_index=True)
    selected = pd.DataFrame({"feature": model.selected_})
    if "lasso" in chain.named_steps:
        lasso = chain.named_steps["lasso"]
        selected["lasso_coef_standardised"] = lasso.coef_std_.reindex(selected.feature).to_numpy()
        log.info("LASSO: λ=%.4g (%s rule); score formula: %s", lasso.lambda_, lasso.rule, lasso.formula())
    save_model(model, out_selection)
    write_csv(selected, out_selected)
    write_csv(funnel, out_funnel)
    if out_lasso_path and out_lasso_cv:
        path, cv = lasso_tables(chain)
        write_csv(path, out_lasso_path)
        write_csv(cv, out_lasso_cv)
    write_lgbm_tables(chain, os.path.dirname(out_selection))
    log.info("selection on %d training patients: %s", is_train.sum(),
             " → ".join(f"{r.step} {r.n_out}" for r in funnel.itertuples()))


def lasso_tables(chain: SelectionChain) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The LASSO step's coefficient path (long: ``log_lambda, feature, coef``; only features that
    enter anywhere on the path) and CV curve (``log_lambda, cv_mean, cv_se, chosen``) for the
    report's figures; header-only tables without a ``lasso`` step."""
    path_cols, cv_cols = ["log_lambda", "feature", "coef"], ["log_lambda", "cv_mean", "cv_se", "chosen"]
    lasso = chain.named_steps.get("lasso")
    if lasso is None or not hasattr(lasso, "coef_path_"):
        return pd.DataFrame(columns=path_cols), pd.DataFrame(columns=cv_cols)
    B = lasso.coef_path_.loc[:, (lasso.coef_path_ != 0).any(axis=0)]
    path = B.set_axis(np.log(B.index.to_numpy(float)), axis=0).rename_axis("log_lambda").reset_index()
    path = path.melt(id_vars="log_lambda", var_name="feature", value_name="coef")
    chosen = np.where(np.isclose(lasso.lambdas_, lasso.lambda_min_), "min",
                      np.where(np.isclose(lasso.lambdas_, lasso.lambda_1se_), "1se", ""))
    cv = pd.DataFrame({"log_lambda": np.log(lasso.lambdas_), "cv_mean": lasso.cv_mean_, "cv_se": lasso.cv_se_,
                       "chosen": chosen})
    return path[path_cols], cv[cv_cols]


# Beside selection.pkl, only for models whose chain has an `lgbm` step (so not rule outputs: the
# report finds them through axilla.report.OPTIONAL; its `select` inputs make it wait for them).
LGBM_FILES = {"importance": "lgbm_importance.csv", "curve": "lgbm_curve.csv"}


def write_lgbm_tables(chain: SelectionChain, folder: str) -> None:
    """The `lgbm` step's importance ranking and incremental CV-AUC curve (seed 004, Fig. 4) into
    ``folder``; without such a step, files left there by an earlier configuration are removed."""
    lgbm = chain.named_steps.get("lgbm")
    paths = {k: os.path.join(folder, name) for k, name in LGBM_FILES.items()}
    if lgbm is None:
        for p in paths.values():
            if os.path.exists(p):
                os.remove(p)
        return
    write_csv(lgbm.importance_table(), paths["importance"])
    curve = lgbm.curve_table()
    write_csv(curve, paths["curve"])
    best = curve[curve.chosen].iloc[0]
    log.info("LightGBM: %d features kept, CV AUC %.3f (95%% CI %.3f-%.3f, %d splits): %s", best.n_features,
             best.cv_auc_mean, best.ci_low, best.ci_high, best.n_splits,
             ", ".join(curve.feature_added[: int(best.n_features)]))


def combine_funnels(funnels: Mapping[str, str]) -> pd.DataFrame:
    """One table `model, step, n_in, n_out` from the per-model funnel files (the report's funnel)."""
    frames = [pd.read_csv(path).assign(model=name) for name, path in funnels.items()]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["model", "step", "n_in", "n_out"])
    return df[["model", "step", "n_in", "n_out"]]

