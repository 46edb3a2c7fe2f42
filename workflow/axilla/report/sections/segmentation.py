"""The automatic segmentation section: agreement of each network and of the fused mask with the
primary rater, per view and cohort; the manual masks' own agreement; best / median / worst cases;
the views whose features use the automatic masks (roi.source: auto) and the review list."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from ..html import Doc, file_img, h3, optional_table, table_html
from ...segment.review import counts
from ..study import Study

METRICS = ("dice", "iou", "precision", "recall", "hd95")
REVIEW_SHOWN = 200  # rows of the review list drawn in the report (the CSV holds every one)


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


def _roi_sources(d: Doc, s: Study) -> None:
    settings = getattr(s, "settings", None)
    if settings is None:
        return
    auto = settings.roi.auto_views
    d.add("<p><b>ROIs of the radiomics and deep features:</b> "
          + (f"automatic (fused masks) for {html.escape(', '.join(auto))}; " if auto else "")
          + ("the primary rater's manual masks for every other view." if auto else
             "the primary rater's manual masks for every view (roi.source: manual).") + "</p>")


def _review(d: Doc, s: Study) -> None:
    path = s.opt.get("segmentation_review")
    if not path:
        return
    review = pd.read_csv(path[0], dtype={"patient_id": str})
    d.add(h3("Review list: automatic masks for a radiologist to check"))
    if review.empty:
        d.add("<p>No fused mask is empty, below the Dice threshold or outside the training cohort's area range.</p>")
        return
    d.add(table_html(counts(review)))
    shown = review.head(REVIEW_SHOWN).copy()
    for c in ("roi_pixels", "train_min_pixels", "train_max_pixels"):  # counts, not decimals
        shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else str(int(v)))
    d.add(table_html(shown))
    more = f" (the first {REVIEW_SHOWN} of {len(review)} rows)" if len(review) > REVIEW_SHOWN else ""
    d.add(f"<p class='note'>segmentation/review.csv{more}: one row per image and reason. empty: no foreground; "
          "low_dice: Dice to the primary manual mask below segment.review.dice_below; area_out_of_range: pixel count "
          "outside the training cohort's manual masks' range (train_min_pixels–train_max_pixels). Seed 000's "
          "workflow: radiologists correct these masks.</p>")


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
    _roi_sources(d, s)
    _review(d, s)
    d.add("<p class='note'>Each network (U-Net, U-Net++, DeepLabV3) and their fusion against the primary rater's "
          "masks, mean over the cohort's patients with percentile-bootstrap 95 % CIs. Training patients' masks are "
          "out-of-fold (each segmented by networks that never saw it); held-out cohorts by networks trained on all "
          "training patients. Every mask is the largest connected component, holes filled; an empty mask scores 0 "
          "(HD95: the image diagonal). Examples: the fused mask's best, median and worst case by Dice per cohort, "
          "manual outline green, automatic red.</p>")
