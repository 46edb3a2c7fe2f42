"""What the report holds: its sections in order and the optional inputs that feed them.

Light on purpose: workflow/rules/report.smk imports `optional_paths` when the Snakefile is parsed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

ABSENT = "not produced by this study's configuration"

# (id, heading) in report order; the headless-browser test checks every heading.
SECTIONS = [
    ("summary", "Study summary"),
    ("flow", "Cohort flow"),
    ("table1", "Table 1: characteristics by node status"),
    ("qc", "Validation and image QC"),
    ("icc", "Reproducibility (ICC)"),
    ("segmentation", "Automatic segmentation"),
    ("selection", "Feature selection funnel"),
    ("lasso", "LASSO cross-validation and coefficient path"),
    ("lgbm", "LightGBM importance and incremental CV-AUC"),
    ("formulas", "Score formulas"),
    ("odds", "Odds ratios: univariable and multivariable analysis"),
    ("models", "Model tables"),
    ("roc", "ROC curves"),
    ("pairwise", "DeLong, NRI and IDI"),
    ("calibration", "Calibration"),
    ("dca", "Decision curves"),
    ("impact", "Clinical impact curve"),
    ("waterfall", "Waterfall plot"),
    ("spared", "Axillary surgery spared"),
    ("nomogram", "Nomogram"),
    ("risk", "Nomo-score risk groups"),
    ("importance", "Feature importance"),
    ("gradcam", "Grad-CAM examples"),
    ("readers", "Reader study"),
    ("optimism", "Internal validation: bootstrap optimism"),
    ("permutation", "Negative control: permuted training labels"),
    ("samplesize", "Sample-size adequacy (Riley et al.)"),
    ("provenance", "Provenance"),
    ("rulegraph", "Rule graph"),
    ("tripod", "TRIPOD+AI checklist"),
    ("checklists", "CLEAR checklist and METRICS score"),
]

# Optional inputs: name -> (path template under results/<study>/, format). {model} / {cohort}
# expand per model / cohort; a missing file just leaves its section saying ABSENT.
OPTIONAL = {
    "funnel": ("selection/{model}/funnel.csv", "step, n_in, n_out"),
    "lasso_path": ("selection/{model}/lasso_path.csv", "log_lambda, feature, coef (long; one row per λ × feature)"),
    "lasso_cv": ("selection/{model}/lasso_cv.csv", "log_lambda, cv_mean, cv_se, chosen ('min' / '1se' / empty)"),
    "lgbm_importance": ("selection/{model}/lgbm_importance.csv",
                        "feature, importance, rank, selected (models with an lgbm step only)"),
    "lgbm_curve": ("selection/{model}/lgbm_curve.csv", "n_features, feature_added, cv_auc_mean, cv_auc_sd, "
                   "ci_low, ci_high, n_splits, chosen (models with an lgbm step only)"),
    "formula": ("models/{model}/formula.txt", "plain text, the score formula(s) of the model"),
    "nomogram": ("models/{model}/nomogram.svg", "SVG (or nomogram.png)"),
    "nomo_scores": ("models/{model}/nomo_scores.csv", "axilla.nomogram.SCORE_COLUMNS, then points_<predictor>"),
    "nomo_risk": ("models/{model}/nomo_risk_groups.csv", "axilla.nomogram.RISK_GROUP_COLUMNS"),
    "importance": ("models/{model}/importance.csv", "feature, importance, kind (axilla.interpret.importance_table)"),
    "odds_ratios": ("models/{model}/odds_ratios.csv", "axilla.interpret.ODDS_COLUMNS; header only for non-clinical models"),
    "optimism": ("models/{model}/optimism.csv", "model, apparent, optimism, corrected, n_boot"),
    "permutation": ("models/{model}/permutation.csv", "axilla.evaluate.PERMUTATION_COLUMNS (one row per held-out cohort)"),
    "spared": ("metrics/spared.csv", "axilla.evaluate.SPARED_COLUMNS"),
    "interventions": ("metrics/{cohort}_interventions.csv", "axilla.evaluate.INTERVENTION_COLUMNS"),
    "sample_size": ("metrics/sample_size.csv", "axilla.evaluate.SAMPLE_SIZE_COLUMNS"),
    "readers": ("metrics/{cohort}_readers.csv", "axilla.evaluate.READER_COLUMNS"),
    "readers_vs_models": ("metrics/{cohort}_readers_vs_models.csv", "axilla.evaluate.READER_VS_MODEL_COLUMNS"),
    "reader_pairs": ("metrics/{cohort}_reader_pairs.csv", "axilla.evaluate.READER_PAIR_COLUMNS"),
    "gradcam": ("deep/gradcam/*/*.png", "a folder per view, PNG per example, file name = caption (no DICOM header data)"),
    "qc_table": ("qc/preprocess.csv", "axilla.qc table; png paths relative to results/<study>/"),
    "missing": ("validate/missing.csv", "variable, kind, n_missing, n, percent, patients"),
    "icc": ("reproducibility/icc.csv", "feature, pair, n, form, icc, ci_low, ci_high"),
    "reproducible": ("reproducibility/reproducible_features.csv", "feature"),
    "segmentation": ("segmentation/metrics.csv", "axilla.segment.metrics.COLUMNS (model x view x cohort)"),
    "segmentation_raters": ("segmentation/raters.csv", "axilla.segment.table.RATER_COLUMNS"),
    "segmentation_review": ("segmentation/review.csv", "axilla.segment.review.COLUMNS (one row per image x reason)"),
    "segmentation_overlays": ("segmentation/*/overlays/*.png", "best / median / worst fused mask per cohort, "
                              "a folder per view; file name = caption"),
    "deep_weights": ("features/deep_weights.json", "view -> {backbone, weights, details}"),
    "rulegraph": ("report/rulegraph.dot", "snakemake --rulegraph DOT"),
    "availability": ("metrics/availability.csv", "axilla.evaluate.AVAILABILITY_COLUMNS (AUC per view-availability "
                     "subgroup; one subgroup, complete, unless validate.missing_view: allow)"),
}

# Optional inputs a rule may also declare as named inputs (which then take precedence).
DECLARABLE = ("icc", "reproducible", "deep_weights", "rulegraph", "funnel", "optimism", "readers",
              "readers_vs_models", "reader_pairs", "missing", "qc_table", "formula", "importance", "odds_ratios",
              "nomo_scores", "nomo_risk", "availability", "permutation", "spared", "interventions", "sample_size",
              "segmentation", "segmentation_raters", "segmentation_review")


def optional_paths(results: str, models: Sequence[str], cohorts: Sequence[str]) -> dict[str, list[str]]:
    """Expand OPTIONAL for this study: name -> candidate paths (globs resolved by the caller)."""
    out = {}
    for name, (tpl, _) in OPTIONAL.items():
        if "{model}" in tpl:
            out[name] = [os.path.join(results, tpl.format(model=m)) for m in models]
        elif "{cohort}" in tpl:
            out[name] = [os.path.join(results, tpl.format(cohort=c)) for c in cohorts]
        else:
            out[name] = [os.path.join(results, tpl)]
    return out
