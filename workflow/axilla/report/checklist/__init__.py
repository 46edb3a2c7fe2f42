"""CLEAR (Kocak et al. 2023) and METRICS (Kocak et al. 2024) filled from what a run did.

Items, sections and METRICS weights are the published ones (resources/checklists/*.yaml, sources
in their headers). Each item is decided by a function of :class:`Run` (the study's settings and
the result files that exist; :mod:`.metrics`, :mod:`.clear`): ``met`` with the evidence that shows it (a
config key, a result file with its sha256, a report section), ``not met`` with the reason, or
``n/a`` (METRICS: switched off by one of its five conditions; CLEAR: the step is not in this study).
Items a run cannot show (title, ethics, discussion, ...) are ``not met`` and left to the authors.

METRICS' total is the authors' calculator's: 100 × (weights of met items) / (weights of met and
not-met items); n/a items are in neither sum.
"""

from __future__ import annotations

import os

import pandas as pd

from ...io import write_csv, write_json
from . import clear, metrics
from .base import AUTHORS, STATUSES, Run, items, metrics_bands, na, unmet

CLEAR_COLUMNS = ["item", "section", "text", "status", "evidence", "reason"]
METRICS_COLUMNS = ["item", "category", "text", "weight", "condition", "status", "evidence", "reason"]


def _table(run: Run, name: str, columns: list[str]) -> pd.DataFrame:
    decide = clear.CLEAR if name == "clear" else metrics.METRICS
    conditions = metrics.conditions(run) if name == "metrics" else {}
    rows = []
    for it in items(name):
        cond = it.get("condition")
        if cond and not conditions[cond]:
            v = na(f"METRICS condition '{cond}' is not met by this study: {metrics.CONDITION_WHY[cond](run)}")
        else:
            v = decide[it["id"]](run) if it["id"] in decide else unmet(AUTHORS)
        rows.append({"item": it["id"], "section": it.get("section", ""), "category": it.get("category", ""),
                     "text": it["item"], "weight": it.get("weight"), "condition": cond or "",
                     "status": v.status, "evidence": v.evidence, "reason": v.reason})
    return pd.DataFrame(rows)[columns]


def clear_table(run: Run) -> pd.DataFrame:
    """The 58 CLEAR items: CLEAR_COLUMNS."""
    return _table(run, "clear", CLEAR_COLUMNS)


def metrics_table(run: Run) -> pd.DataFrame:
    """The 30 METRICS items with their weights: METRICS_COLUMNS."""
    return _table(run, "metrics", METRICS_COLUMNS)


def metrics_score(table: pd.DataFrame) -> dict:
    """METRICS total of a status table (columns weight, status): 100 × met weight / applicable
    weight (met + not met; n/a excluded), its quality band and the counts."""
    bad = set(table["status"]) - set(STATUSES)
    if bad:
        raise ValueError(f"METRICS statuses {sorted(bad)}: not one of {STATUSES}")
    w = table["weight"].astype(float)
    got, applicable = float(w[table.status == "met"].sum()), float(w[table.status != "n/a"].sum())
    score = 100 * got / applicable if applicable else 0.0
    band = [name for lo, name in metrics_bands() if round(score, 1) >= lo][-1]
    return {"score": round(score, 1), "band": band, "met_weight": round(got, 4),
            "applicable_weight": round(applicable, 4),
            **{k.replace(" ", "_").replace("/", ""): int((table.status == k).sum()) for k in STATUSES}}


def write(run: Run, clear_csv: str, metrics_csv: str, score_json: str) -> None:
    """The two checklists and METRICS' total, each written atomically."""
    write_csv(clear_table(run), clear_csv)
    table = metrics_table(run)
    write_csv(table, metrics_csv)
    write_json(metrics_score(table), score_json)


# Required report inputs that serve as evidence, besides the optional files of axilla.report.spec
EVIDENCE_INPUTS = ("split", "clinical", "qc", "metrics", "pairwise", "dca", "excluded", "manifest", "clinical_raw",
                   "validated_manifest")


def _centres(split: pd.DataFrame, clinical: pd.DataFrame, column: str) -> int | None:
    if column not in clinical.columns:
        return None
    ids = set(split.patient_id)
    return int(clinical.loc[clinical.patient_id.isin(ids), column].nunique())


def run_of(s) -> Run:
    """The Run of a report's Study (axilla.report.study.Study): its settings, cohort counts, the
    evidence files that exist, and the number of centres among the analysed patients."""
    from ..study import existing

    files = {k: list(v) for k, v in s.opt.items()}
    for k in EVIDENCE_INPUTS:
        if s.inputs.get(k):
            files[k] = existing(s.inputs[k])
    files["nomogram"] = list(s.nomograms().values())
    # the bundle is a folder; its manifest.json hashes every file in it
    files["bundle"] = [os.path.join(d, "manifest.json") for d in existing(s.inputs.get("bundle"))]
    column = (s.settings.split.external or {}).get("column", "center")
    centres = _centres(s.split, s.clinical, column)
    if centres is None:  # validation keeps the clinical table's `center` column whatever the split uses
        centres = _centres(s.split, s.clinical, "center")
    root = os.path.dirname(os.path.dirname(str(s.inputs["split"])))
    return Run(s.settings, s.counts(), files, root, centres)
