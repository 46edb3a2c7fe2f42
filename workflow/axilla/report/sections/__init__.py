"""The report's sections, one function `(Doc, Study) -> None` each, registered by section id.

Importing this package loads matplotlib (through ..figures): build() imports it only when a report
is built, since workflow/rules/report.smk imports axilla.report when the Snakefile is parsed.
"""

from __future__ import annotations

from . import appendix, clinical, cohort, interpretation, lgbm, modelling, performance, risk, segmentation

RENDERERS = {
    "summary": cohort.summary,
    "flow": cohort.flow,
    "table1": cohort.table1,
    "qc": cohort.qc,
    "icc": cohort.icc,
    "segmentation": segmentation.segmentation,
    "selection": modelling.selection,
    "lasso": modelling.lasso,
    "lgbm": lgbm.lgbm,
    "formulas": modelling.formulas,
    "odds": modelling.odds,
    "models": modelling.models,
    "roc": performance.roc,
    "pairwise": performance.pairwise,
    "calibration": performance.calibration,
    "dca": performance.dca,
    "impact": performance.impact,
    "waterfall": performance.waterfall,
    "spared": clinical.spared,
    "nomogram": interpretation.nomogram,
    "risk": risk.nomo_risk,
    "importance": interpretation.importance,
    "gradcam": interpretation.gradcam,
    "readers": interpretation.readers,
    "optimism": interpretation.optimism,
    "permutation": clinical.permutation,
    "samplesize": clinical.samplesize,
    "provenance": appendix.provenance,
    "rulegraph": appendix.rulegraph,
    "tripod": appendix.tripod,
    "checklists": appendix.checklists,
}
