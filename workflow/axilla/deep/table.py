"""The `deep_table` rule: every view's deep features in one table. No torch: that rule runs in the
stats environment."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..io import write_csv, write_json
from .compare import backbones_table


def combine(feature_csvs: Sequence[str], provenance_jsons: Sequence[str], out_table: str, out_provenance: str,
            out_backbones: str | None = None) -> None:
    """All views' deep features in one per-patient table; the weights used per view; with
    `out_backbones`, the backbones compared per view (view, backbone, inner_cv_auc, chosen)."""
    import pandas as pd

    table = None
    for path in feature_csvs:
        df = pd.read_csv(path, dtype={"patient_id": str})
        table = df if table is None else table.merge(df, on="patient_id", how="outer")
    write_csv(table.sort_values("patient_id"), out_table)
    prov = {}
    for path in provenance_jsons:
        p = json.loads(Path(path).read_text())
        prov[Path(path).stem] = {"backbone": f"{p.get('backbone')} ({p.get('spatial_dims')}D)",
                                 "weights": p.get("description", p.get("source")), "details": p}
    write_json(prov, out_provenance)
    if out_backbones:
        table = backbones_table({view: p["details"] for view, p in prov.items()})
        if table is None:
            raise ValueError("deep_table was asked for a backbone comparison but no view compared backbones")
        write_csv(table, out_backbones)
