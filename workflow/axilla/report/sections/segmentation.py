"""The automatic segmentation section: agreement of each network and of the fused mask with the
primary rater, per view and cohort; the manual masks' own agreement; best / median / worst cases."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from ..html import Doc, file_img, h3, optional_table, table_html
from ..study import Study

METRICS = ("dice", "iou", "precision", "recall", "hd95")


def _with_ci(table: pd.DataFrame, metric: str) -> pd.Series:
    def one(r):
        if pd.isna(r[f"{metric}_ci_low"]):
            return f"{r[metric]:.3f}"
        return f"{r[metric]:.3f} ({r[f'{metric}_ci_low']:.3f}–{r[f'{metric}_ci_high']:.3f})"

    return table.apply(one, axis=1)


def metrics_table(table: pd.DataFrame) -> pd.DataFrame:
    """model, cohort, n and each metric with its 95 % CI, in one text column per metric."""
    out = table[["model", "cohort", "n"]].copy()
    for m in METRICS:
        out[m if m != "hd95" else "hd95 (mm)"] = _with_ci(table, m)
    out["empty masks"] = table["n_empty"]
    return out


def _overlays(files: list[str], view: str) -> str:
    mine = sorted(p for p in files if Path(p).parent.parent.name == view)
    if not mine:
        return ""
    return "<div class='grid'>" + "".join(
        f"<figure>{file_img(p, Path(p).stem)}<figcaption>{html.escape(Path(p).stem)}</figcaption></figure>"
        for p in mine) + "</div>"


def _raters(d: Doc, s: Study) -> None:
    path = s.opt.get("segmentation_raters")
    table = pd.read_csv(path[0]) if path else pd.DataFrame()
    if table.empty:
        d.add("<p>No view has a second rater's or a repeated mask: manual agreement not measured.</p>")
        return
    d.add(h3("Agreement of the manual masks"))
    shown = table[["modality", "view", "pair", "kind", "n"]].copy()
    shown["dice"] = _with_ci(table, "dice")
    d.add(table_html(shown))
    d.add("<p class='note'>Dice between two manual masks of the same image, over every patient with both: "
          "inter-rater (two radiologists) and intra-rater (the primary rater's repeat). Seed 003 takes Dice ≥ 0.84 "
          "as good concordance.</p>")


def segmentation(d: Doc, s: Study) -> None:
    table = optional_table(d, s.opt.get("segmentation"), "automatic segmentation (segment.enabled)")
    if table is None:
        return
    overlays = s.opt.get("segmentation_overlays", [])
    for (mod, view), rows in table.groupby(["modality", "view"], sort=True):
        d.add(h3(f"{mod} {view}"))
        d.add(table_html(metrics_table(rows)))
        d.add(_overlays(overlays, f"{mod}_{view}"))
    _raters(d, s)
    d.add("<p class='note'>Each network (U-Net, U-Net++, DeepLabV3) and their fusion against the primary rater's "
          "masks, mean over the cohort's patients with percentile-bootstrap 95 % CIs. Training patients' masks are "
          "out-of-fold (each segmented by networks that never saw it); held-out cohorts by networks trained on all "
          "training patients. Every mask is the largest connected component, holes filled; an empty mask scores 0 "
          "(HD95: the image diagonal). Examples: the fused mask's best, median and worst case by Dice per cohort, "
          "manual outline green, automatic red.</p>")
