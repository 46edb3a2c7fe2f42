"""Entry points of the `spared` and `sample_size` rules: prediction and model files in, tables out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..io import load_model, write_csv
from ..settings import Spared
from ..split import TRAIN
from .samplesize import SAMPLE_SIZE_COLUMNS, sample_size_rows
from .spared import SPARED_COLUMNS, interventions_curve, sensitivity_threshold, spared_rows
from .thresholds import threshold_metrics, youden_threshold


def _read(path: str) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"patient_id": str, "cohort": str})


def _cutoffs(train: pd.DataFrame, target: float) -> dict[str, tuple[float, float]]:
    """rule -> (cut-off, its training sensitivity): the sensitivity target on the out-of-fold
    probabilities, the Youden cut-off on the training fit's (as in the metrics tables)."""
    y = train["y"].to_numpy(dtype=np.int64)
    oof = train["oof_prob"].to_numpy(dtype=float)
    ok = np.isfinite(oof)
    sens_cut = sensitivity_threshold(y[ok], oof[ok], target)
    youden = youden_threshold(y, train["prob"].to_numpy(dtype=float))
    return {f"sensitivity_{target:g}": (sens_cut, threshold_metrics(y[ok], oof[ok], sens_cut)["sensitivity"]),
            "youden": (youden, threshold_metrics(y, train["prob"].to_numpy(dtype=float), youden)["sensitivity"])}


def spared_table(model_predictions: Mapping[str, str], cohorts: Sequence[str], settings: Spared,
                 seed: int) -> pd.DataFrame:
    """SPARED_COLUMNS for every model (its own patients) and held-out cohort."""
    rows = []
    for model, path in model_predictions.items():
        df = _read(path)
        cuts = _cutoffs(df[df.cohort == TRAIN], settings.sensitivity)
        for cohort in cohorts:
            if cohort == TRAIN:
                continue
            part = df[df.cohort == cohort]
            rows += spared_rows(model, cohort, part["y"].to_numpy(dtype=np.int64), part["prob"].to_numpy(dtype=float),
                                cuts, settings.bootstraps, seed)
    return pd.DataFrame(rows, columns=SPARED_COLUMNS)


def run_spared(model_predictions: Mapping[str, str], cohort_predictions: Mapping[str, str], settings: Spared,
               seed: int, out_spared: str, out_interventions: Mapping[str, str]) -> None:
    """The `spared` rule: metrics/spared.csv and, per cohort, the net reduction in interventions
    (metrics/<cohort>_interventions.csv) on the patients of the decision curve."""
    write_csv(spared_table(model_predictions, list(cohort_predictions), settings, seed), out_spared,
              float_format=None)
    for cohort, path in cohort_predictions.items():
        wide = pd.read_csv(path, dtype={"patient_id": str})
        preds = {m: wide[m].to_numpy(dtype=float) for m in wide.columns[2:]}
        write_csv(interventions_curve(wide["y"].to_numpy(dtype=np.int64), preds), out_interventions[cohort],
                  float_format=None)


def parameter_counts(model) -> dict[str, int]:
    """candidate / selected predictor parameters of a fitted model: the encoded columns that
    entered its selection chain and those its classifier uses (a post-fusion model: its base models)."""
    if hasattr(model, "chain_"):
        funnel = model.chain_.funnel_
        selected = len(model.selected_)
        return {"candidate": int(funnel["n_in"].iloc[0]) if len(funnel) else selected, "selected": selected}
    return {"candidate": len(model.columns_), "selected": len(model.columns_)}


def run_sample_size(models: Mapping[str, tuple[str, str]], shrinkage: float, out_csv: str) -> None:
    """The `sample_size` rule: model -> (model.pkl, predictions.csv) -> metrics/sample_size.csv."""
    rows = []
    for name, (pkl, preds) in models.items():
        df = _read(preds)
        train = df[(df.cohort == TRAIN) & df["oof_prob"].notna()]
        rows += sample_size_rows(name, parameter_counts(load_model(pkl)), train["y"].to_numpy(dtype=np.int64),
                                 train["oof_prob"].to_numpy(dtype=float), shrinkage)
    write_csv(pd.DataFrame(rows, columns=SAMPLE_SIZE_COLUMNS), out_csv, float_format=None)
