"""Reader study (seeds 002, 003): radiologists' readings evaluated like models, and reader agreement."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import Problem
from ._checks import _as_binary, _as_probs
from .discrimination import auc_ci_delong, delong_test, roc_auc
from .thresholds import threshold_metrics

READER_COLUMNS = ["reader", "n", "auc", "auc_ci_low", "auc_ci_high", "threshold", "sensitivity",
                  "specificity", "accuracy"]
READER_VS_MODEL_COLUMNS = ["reader", "model", "reader_auc", "model_auc", "delong_z", "delong_p"]
READER_PAIR_COLUMNS = ["reader_a", "reader_b", "n", "agreement", "kappa", "auc_a", "auc_b", "delong_z", "delong_p"]

# name -> (readings, read): the readings as floats and which patients the reader read.
_Readings = dict[str, tuple[np.ndarray, np.ndarray]]


def reader_calls(r, threshold: float = 0.5) -> np.ndarray:
    """A reader's positive calls: "r >= threshold" (0/1 readings are their own calls)."""
    return (np.asarray(r, dtype=float) >= threshold).astype(np.int64)


def reader_tables(
    y,
    readers: Mapping[str, np.ndarray],
    models: Mapping[str, np.ndarray],
    threshold: float = 0.5,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Readers evaluated like models: (per reader, reader vs model, reader pairs).

    A reading is a probability or 0/1 (missing = not read; each statistic uses the patients
    that reader read). Per reader: AUC with DeLong CI (a 0/1 reader's AUC is (sens + spec)/2),
    and sensitivity, specificity, accuracy of the calls "reading >= threshold". Reader vs model:
    paired DeLong on the patients the reader read, z > 0 when the reader's AUC is higher.
    Reader pairs, on the patients both read: Cohen's unweighted kappa of the calls (sklearn
    `cohen_kappa_score`; nan when both call one class only) and paired DeLong of their AUCs, z > 0
    when reader_a's is higher; a reader with and without AI assistance is such a pair (seed 003).
    """
    y = _as_binary(y)
    vals = _reader_arrays(y, readers)
    rows, vs = _per_reader_rows(y, vals, models, threshold)
    kap = _reader_pair_rows(y, vals, threshold)
    return (pd.DataFrame(rows, columns=READER_COLUMNS), pd.DataFrame(vs, columns=READER_VS_MODEL_COLUMNS),
            pd.DataFrame(kap, columns=READER_PAIR_COLUMNS))


def _reader_arrays(y: np.ndarray, readers: Mapping[str, np.ndarray]) -> _Readings:
    vals = {}
    for name, r in readers.items():
        arr = np.asarray(r, dtype=float)
        if arr.shape != y.shape:
            raise ValueError(f"reader '{name}' has {arr.size} readings for {y.size} patients")
        ok = np.isfinite(arr)
        if ok.any() and (arr[ok].min() < 0 or arr[ok].max() > 1):
            raise ValueError(f"reader '{name}': readings must be probabilities or 0/1 in [0, 1]")
        vals[name] = (arr, ok)
    return vals


def _per_reader_rows(y: np.ndarray, vals: _Readings, models: Mapping[str, np.ndarray],
                     threshold: float) -> tuple[list[dict], list[dict]]:
    """Rows of the per-reader table and of the reader-vs-model table."""
    rows, vs = [], []
    for name, (arr, ok) in vals.items():
        yk, rk = y[ok], arr[ok]
        row = {"reader": name, "n": int(ok.sum())}
        if yk.size and 0 < yk.sum() < yk.size:
            row["auc"], row["auc_ci_low"], row["auc_ci_high"] = auc_ci_delong(yk, rk)
            for model, p in models.items():
                pk = _as_probs(p, y.size, f"predictions of model '{model}'")[ok]
                z, pv = delong_test(yk, rk, pk)
                vs.append({"reader": name, "model": model, "reader_auc": row["auc"],
                           "model_auc": roc_auc(yk, pk), "delong_z": z, "delong_p": pv})
        tm = threshold_metrics(yk, reader_calls(rk, threshold), 1)
        rows.append({**row, "threshold": threshold,
                     **{k: tm[k] for k in ("sensitivity", "specificity", "accuracy")}})
    return rows, vs


def _reader_pair_rows(y: np.ndarray, vals: _Readings, threshold: float) -> list[dict]:
    """Every reader pair a < b (in reader order), on the patients both read."""
    from sklearn.metrics import cohen_kappa_score

    names = list(vals)
    kap = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            both = vals[a][1] & vals[b][1]
            ca, cb = reader_calls(vals[a][0][both], threshold), reader_calls(vals[b][0][both], threshold)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # 0/0 when both call one class only
                kappa = float(cohen_kappa_score(ca, cb)) if both.any() else math.nan
            row = {"reader_a": a, "reader_b": b, "n": int(both.sum()),
                   "agreement": float(np.mean(ca == cb)) if both.any() else math.nan, "kappa": kappa}
            yb = y[both]
            if yb.size and 0 < yb.sum() < yb.size:
                ra, rb = vals[a][0][both], vals[b][0][both]
                row["auc_a"], row["auc_b"] = roc_auc(yb, ra), roc_auc(yb, rb)
                row["delong_z"], row["delong_p"] = delong_test(yb, ra, rb)
            kap.append(row)
    return kap


def reader_problems(table: pd.DataFrame, readers: Mapping[str, str], source: str) -> list[Problem]:
    """Every problem of the reader columns of a clinical table (missing column, non-numeric or
    out-of-range reading), so all are reported at once; `source` names the table in messages."""
    problems = []
    for name, col in readers.items():
        if col not in table.columns:
            problems.append(Problem(source, f"reader '{name}': column not found", column=col))
            continue
        v = pd.to_numeric(table[col], errors="coerce")
        bad = (table[col].notna() & v.isna()) | (v < 0) | (v > 1)
        for row in np.flatnonzero(bad.to_numpy())[:5]:
            problems.append(Problem(source, f"reading must be a probability or 0/1, found "
                                    f"'{table[col].iloc[row]}'", row + 1, col))
    return problems


def reader_frame(table: pd.DataFrame, readers: Mapping[str, str]) -> pd.DataFrame:
    """Reader columns of a (checked) clinical table, indexed by patient_id, renamed to reader names."""
    out = pd.DataFrame({name: pd.to_numeric(table[col], errors="coerce") for name, col in readers.items()})
    out.index = table["patient_id"].astype(str).str.strip()
    return out
