"""A new cohort scored with a frozen study (config ``apply``): the bundle's objects loaded, nothing refitted.

The rules reuse validation, preprocessing and radiomics as the study ran them (its settings come
from the bundle, :func:`axilla.bundle.frozen_config`); deep features come from the bundled networks
(:mod:`axilla.deep.frozen`); here the fitted models score the cohort and the study's training
cut-offs classify it.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .io import atomic_path, load_model, write_csv

log = logging.getLogger(__name__)


def split(clinical_csv: str, outcome: str, cohort: str, out_csv: str) -> None:
    """Every patient of the new cohort in one cohort (``patient_id, cohort, y``); no one is trained on."""
    clinical = pd.read_csv(clinical_csv, dtype={"patient_id": str})
    out = pd.DataFrame({"patient_id": clinical.patient_id, "cohort": cohort, "y": clinical[outcome]})
    write_csv(out.sort_values("patient_id").reset_index(drop=True), out_csv)


def _frame(split: pd.DataFrame, ids, proba: np.ndarray) -> pd.DataFrame:
    df = split.set_index("patient_id").loc[list(ids)].reset_index()[["patient_id", "cohort", "y"]]
    df["prob"] = proba
    df["oof_prob"] = np.nan  # a study's predictions' columns (post-fusion reads them); nobody is out-of-fold
    return df


def score_feature_model(X: pd.DataFrame, split: pd.DataFrame, model_pkl: str, out_pred: str) -> None:
    """The study's fitted feature model (encoder, selection chain, classifier) on the new cohort:
    ``patient_id, cohort, y, prob`` and ``score`` (the LASSO linear predictor) when it has one."""
    model = load_model(model_pkl)
    df = _frame(split, X.index, model.predict_proba(X)[:, 1])
    score = model.linear_score(X)
    if score is not None:  # what score fusion reads (axilla.features.score_column)
        df["score"] = score
        df["oof_score"] = np.nan
    write_csv(df, out_pred)
    log.info("scored %d patients with %s on %d features", len(df), type(model.estimator_).__name__,
             len(model.selected_))


def score_fusion_model(base_preds: Mapping[str, str], model_pkl: str, out_pred: str) -> None:
    """The study's post-fusion meta-classifier on the base models' probabilities of the new cohort."""
    from .train import read_base_predictions

    split, _, full = read_base_predictions(base_preds)
    model = load_model(model_pkl)
    df = _frame(split.reset_index(), full.index, model.predict_proba(full)[:, 1])
    write_csv(df, out_pred)
    log.info("post-fusion of %s: %d patients", ", ".join(model.columns_), len(df))


def evaluate(model_predictions: Mapping[str, str], cohort: str, cutoffs: Mapping[str, float], outdir: str,
             allow_missing: bool = False) -> None:
    """predictions/<cohort>.csv and metrics/<cohort>.csv, _pairwise.csv, _dca.csv, as `evaluate` writes
    them for a study's cohorts, at the STUDY's training cut-offs (from the bundle)."""
    from .evaluate.stage import _load_model_predictions, _write_cohort_predictions, _write_cohort_tables

    ref, frames = _load_model_predictions(model_predictions, [cohort], allow_missing)
    path = _write_cohort_predictions(ref, frames, [cohort], outdir)[cohort]
    df = pd.read_csv(path, dtype={"patient_id": str})
    models = list(frames)
    tables = [os.path.join(outdir, "metrics", f"{cohort}{s}.csv") for s in ("", "_pairwise", "_dca")]
    _write_cohort_tables(df, models, {m: cutoffs[m] for m in models}, tables, f"cohort '{cohort}' ({path})")


def report(check: dict, cohort: str, metrics_csv: str, predictions_csv: str, out_html: str) -> None:
    """A short self-contained HTML report: which frozen study scored whom, and how well."""
    metrics = pd.read_csv(metrics_csv)
    preds = pd.read_csv(predictions_csv, dtype={"patient_id": str})
    differ = check["software_differs"]
    software = ("<p>Software as in the study.</p>" if not differ else
                pd.DataFrame(differ).T.rename_axis("package").reset_index().to_html(index=False))
    parts = [
        f"<h1>{html.escape(cohort)}: scored with the frozen study {html.escape(check['study'])}</h1>",
        f"<p>Bundle <code>{html.escape(check['bundle'])}</code> (manifest sha256 "
        f"<code>{check['manifest_sha256']}</code>; {check['files_checked']} files checked). Nothing was refitted: "
        "the study's preprocessing settings, radiomics parameter files, networks, imputers, encoders, selection "
        "chains, classifiers, fusion models and training cut-offs were applied as bundled.</p>",
        f"<p>{len(preds)} patients, {int(preds.y.sum())} node-positive.</p>",
        "<h2>Performance at the study's training cut-offs</h2>", metrics.to_html(index=False, float_format="%.3f"),
        "<h2>Software</h2>", software,
    ]
    with atomic_path(out_html, suffix=".html") as tmp:
        tmp.write_text("<!doctype html><html><head><meta charset='utf-8'><title>"
                       f"{html.escape(cohort)}</title></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
