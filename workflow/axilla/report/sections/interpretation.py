"""Sections on what the models say and how they hold up: nomogram, feature importance,
Grad-CAM, reader study, bootstrap optimism."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

import axilla.report.figures as figures  # the module itself: the package's __init__ imports build
from ..html import Doc, absent, fig_to_img, file_img, h3, table_html
from ..spec import ABSENT
from ..study import Study


def nomogram(d: Doc, s: Study) -> None:
    noms = s.nomograms()
    if not noms:
        d.add(absent("nomogram"))
        return
    for m, p in noms.items():
        d.add(h3(m) + file_img(p, f"nomogram {m}"))


def importance(d: Doc, s: Study) -> None:
    imps = s.by_model("importance")
    for m in s.models:
        if m in imps:
            t = pd.read_csv(imps[m])
            kind = str(t["kind"].iloc[0]) if "kind" in t and len(t) else "feature importance"
            d.add(fig_to_img(figures.bar_importance(t, "importance", f"{m}: {kind}"), f"importance {m}"))
        else:
            c = s.coefs[m][s.coefs[m].term != "(intercept)"][["term", "coef"]]
            if not c.empty:
                d.add(fig_to_img(figures.bar_importance(c, "coef", f"{m}: standardised coefficients (model-native)"),
                                 f"importance {m}"))
    if imps:
        d.add("<p class='note'>Computed on the training cohort only. Model-native where the model has it: "
              "|standardised coefficient| (|b| × the feature's training SD) for logistic models; share of impurity "
              "decrease (random forest, AdaBoost) or of split gain (XGBoost, LightGBM) for trees; otherwise "
              "permutation importance (mean drop of the training AUC when the feature is shuffled). Post-fusion "
              f"models: importance of each base model's logit. SHAP: {ABSENT}.</p>")
    else:
        d.add(f"<p class='note'>Model-native importance (coefficients on z-scored features); SHAP: {ABSENT}.</p>")


def _gradcam_notes(s: Study) -> dict[str, dict]:
    """view -> the deep stage's Grad-CAM record (layer, map_cells, or a note why there is none)."""
    notes = {}
    if s.opt.get("deep_weights"):
        for view, v in json.loads(Path(s.opt["deep_weights"][0]).read_text()).items():
            notes[view] = ((v.get("details") or {}).get("gradcam") or {})
    return notes


def _gradcam_view(view: str, files: list[str], rec: dict) -> str:
    cells = "×".join(str(c) for c in rec.get("map_cells", []))
    return (f"<h3>{html.escape(view.replace('_', ' '))}</h3><div class='grid'>" + "".join(
        f"<figure>{file_img(p, Path(p).stem)}<figcaption>{html.escape(Path(p).stem)}</figcaption></figure>"
        for p in files) + "</div>"
        + (f"<p class='note'>Target layer {html.escape(str(rec['layer']))} ({cells} cells at this input "
           "size).</p>" if rec.get("layer") else ""))


def gradcam(d: Doc, s: Study) -> None:
    cams = s.opt.get("gradcam", [])
    notes = _gradcam_notes(s)
    by_view: dict[str, list[str]] = {}
    for p in cams:
        by_view.setdefault(Path(p).parent.name, []).append(p)
    for view in sorted(set(by_view) | set(notes)):
        rec = notes.get(view, {})
        if view in by_view:
            d.add(_gradcam_view(view, by_view[view], rec))
        elif rec.get("note"):
            d.add(f"<p><b>{html.escape(view.replace('_', ' '))}</b>: {html.escape(rec['note'])}.</p>")
    if cams:
        d.add("<p class='note'>Grad-CAM (MONAI) of the fine-tuned or loaded network: left the network's input "
              "crop, right the heat map over it (red = regions that raise the score of the class the network "
              "predicts for this image, each map scaled to its own maximum, over the volume for 3D crops). Two "
              "node-positive and two node-negative training patients per view, drawn at random with the study "
              "seed; 3D crops at the slice with the largest ROI area. No patient identifiers, no image-header "
              "data.</p>")
    elif not notes:
        d.add(absent("Grad-CAM examples"))


def readers(d: Doc, s: Study) -> None:
    rd = s.by_cohort("readers")
    if not rd:
        d.add(absent("reader study (evaluate.readers)"))
        return
    extras = (s.by_cohort("readers_vs_models"), s.by_cohort("reader_pairs"))
    for c in s.cohorts:
        if c not in rd:
            continue
        tab = pd.read_csv(rd[c])
        d.add(h3(c) + table_html(tab))
        for extra in extras:
            if c in extra:
                d.add(table_html(pd.read_csv(extra[c])))
        if tab["sensitivity"].notna().any():
            d.add(fig_to_img(figures.reader_points(s.preds[c], s.primary, tab, f"{c}: readers vs {s.primary}"),
                             f"readers {c}"))
    d.add("<p class='note'>Readers vs models and reader pairs: paired DeLong on the patients both read "
          "(z &gt; 0: the first is higher); reader pairs also give Cohen's κ of the calls "
          "(reading ≥ threshold). In the figure an arrow joins reader R to R_ai, the same reader "
          "assisted by the model.</p>")


def optimism(d: Doc, s: Study) -> None:
    opts = s.opt.get("optimism", [])
    if not opts:
        d.add(absent("bootstrap optimism"))
        return
    d.add(table_html(pd.concat([pd.read_csv(p) for p in opts], ignore_index=True)))
    d.add("<p class='note'>Harrell: apparent training AUC minus the mean optimism over bootstrap resamples, "
          "the whole procedure (encoding, selection, model) refitted in each. Score-fusion models take "
          "their base models' scores as given (out-of-fold on training patients), as rms::validate does "
          "for a nomogram fit, so their optimism leaves out the scores' own.</p>")
