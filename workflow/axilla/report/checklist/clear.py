"""The decision of each CLEAR item a run can show: item id -> function(Run) -> Verdict.

Items missing from CLEAR here are manuscript items (title, introduction, ethics, discussion) and
come out "not met" for the authors to complete.
"""

from __future__ import annotations

from ...reproducibility import describe_source
from .base import Run, Verdict, met, na, unmet
from .metrics import (METRICS, SCALING_STEPS, _classifiers, _clinical_models, _combined_models, _param_files,
                              _params, _steps, extraction_parameters, extraction_software, guidelines, non_radiomic,
                              partitioning, performance_metrics, preprocessing, redundant, shared, single_reader,
                              sources, uncertainty)


def _needs_radiomics(decide):
    """A CLEAR item on hand-crafted features: n/a when no model uses them."""
    def wrapped(run: Run) -> Verdict:
        return decide(run) if "radiomics" in sources(run) else na("no model uses hand-crafted (pyradiomics) features")
    return wrapped


def _per_modality(run: Run, describe) -> str:
    return "; ".join(f"{m} ({run.st.radiomics.params[m]}): {describe(p)}" for m, p in _params(run).items())


def discretization(run: Run) -> Verdict:
    def describe(p):
        s = p.get("setting") or {}
        base = (f"binCount {s['binCount']}" if "binCount" in s else f"binWidth {s.get('binWidth', '25 (default)')}")
        own = [f"{k} binCount {v['binCount']}" for k, v in (p.get("imageType") or {}).items() if (v or {}).get("binCount")]
        return ", ".join([base, *own])
    return met(_per_modality(run, describe)) if _params(run) else unmet("no pyradiomics parameter file found")


def image_types(run: Run) -> Verdict:
    def describe(p):
        return ", ".join(f"{k} {v}" if v else k for k, v in (p.get("imageType") or {"Original": {}}).items())
    return met(_per_modality(run, describe)) if _params(run) else unmet("no pyradiomics parameter file found")


def feature_classes(run: Run) -> Verdict:
    def describe(p):
        fc = p.get("featureClass")
        return ", ".join(fc) if fc else "all pyradiomics classes (no featureClass section)"
    return met(_per_modality(run, describe)) if _params(run) else unmet("no pyradiomics parameter file found")


def extraction_method(run: Run) -> Verdict:
    dims = _per_modality(run, lambda p: "2D" if (p.get("setting") or {}).get("force2D") else "3D")
    return met(extraction_software(run).evidence if "radiomics" in sources(run) else "", dims,
               extraction_parameters(run).evidence)


def n_features(run: Run) -> Verdict:
    f = run.table("funnel")
    if f.empty:
        return unmet("no selection funnel tables")
    return met(run.cite("funnel", most=len(run.files.get("funnel", []))), "candidate and selected features per model "
               "(report.html#selection)")


def data_source(run: Run) -> Verdict:
    if run.st.manifest is None:
        return met(f"built-in synthetic demo cohort (demo.n_patients = {run.st.demo.n_patients}, seed {run.st.seed})")
    return met(run.cite("manifest"), run.cite("clinical_raw"), "private or public: the authors' to state")


def predictors(run: Run) -> Verdict:
    if not sources(run) & {"clinical", "blood"}:
        return na("no model uses non-radiomic predictors")
    cv = ", ".join(f"{k} ({v})" for k, v in run.st.clinical_variables.items())
    return met(f"clinical_variables: {cv or 'none'}", "Table 1 (report.html#table1)")


def resampling(run: Run) -> Verdict:
    res = {m: p for m, p in run.st.preprocess.items() if m in run.st.views and p.spacing}
    if not res:
        return na("no modality is resampled (preprocess.<MOD>.spacing is null)")
    return met("; ".join(f"preprocess.{m}.spacing {p.spacing} mm, interpolation "
                         f"{p.interpolation or ('B-spline' if len(p.spacing) == 3 else 'linear')}" for m, p in res.items()))


def missing_data(run: Run) -> Verdict:
    return met(f"missing.strategy: {run.st.missing.strategy} (fitted on the training cohort)", run.cite("missing"),
               f"images: validate.missing_view = {run.st.validate.missing_view}")


def imbalance(run: Run) -> Verdict:
    prev = ", ".join(f"{r.cohort} {r.positive}/{r.patients}" for r in run.counts.itertuples())
    smote = [n for n, m in run.st.models.items() if m.smote is not None or "smote" in m.select.get("steps", [])]
    how = (f"SMOTE on the training cohort only for {', '.join(smote)}" if smote
           else "no resampling (models fitted on the observed prevalence)")
    return met(f"node positive per cohort: {prev}", how)


def reliability(run: Run) -> Verdict:
    icc = run.table("icc")
    if icc.empty:
        return unmet("no ICC table: no second-rater or repeat masks")
    r = run.st.reproducibility
    over = f"rater pairs {r.pairs}" if r.source == "raters" else describe_source(r)
    return met(run.cite("icc"), f"{r.icc} over {over}", "report.html#icc")


def scaling(run: Run) -> Verdict:
    steps = [s for s in SCALING_STEPS if s in _steps(run)]
    if not steps:
        return na("no feature scaling step in select.steps")
    return met(f"select.steps include {', '.join(steps)}, fitted on the training cohort and applied to the others")


def algorithms(run: Run) -> Verdict:
    from ..provenance import versions

    clf = ", ".join(f"{n}: {c}" for n, c in _classifiers(run).items())
    fused = ", ".join(f"{n}: post-fusion ({m.meta}) of {', '.join(m.fuse)}" for n, m in run.st.models.items() if m.fuse)
    return met(f"classifiers {clf}", fused, f"scikit-learn {versions().get('scikit-learn')} (report.html#provenance)")


def tuning(run: Run) -> Verdict:
    tuned = [n for n, m in run.st.models.items() if (m.classifier or {}).get("tune")]
    lasso = run.st.select.get("lasso") if "lasso" in _steps(run) else None
    parts = [f"tuned by cross-validation on the training cohort: {', '.join(tuned)}" if tuned else "",
             f"LASSO penalty by {lasso.get('folds', 5)}-fold CV ({lasso.get('rule', '1se')} rule)" if lasso else ""]
    if "deep" in sources(run) and run.st.deep.weights.get("source") == "finetune":
        w = run.st.deep.weights
        parts.append(f"deep networks fine-tuned (deep.weights: init {w.get('init')}, epochs {w.get('epochs')}, "
                     f"lr {w.get('lr')}, patience {w.get('patience')})")
    return met(*parts) if any(parts) else met("no hyperparameters tuned: classifiers at their configured settings")


def model_selection(run: Run) -> Verdict:
    return met(run.cite("lasso_cv", 1), tuning(run).evidence, "the models compared are the configured ones "
               f"({', '.join(run.st.models)}); held-out cohorts are not used to choose among them")


def testing(run: Run) -> Verdict:
    held = run.held_out()
    if not held:
        return unmet("no held-out cohort")
    ext = run.external()
    return met(", ".join(f"{c} ({'external' if c == ext else 'internal'})" for c in held), run.cite("split"))


def comparison(run: Run) -> Verdict:
    if len(run.st.models) < 2:
        return na("one model: nothing to compare")
    if run.table("pairwise").empty:
        return unmet("no pairwise comparison tables")
    return met(run.cite("pairwise", 1), "DeLong test of AUCs, NRI, IDI (report.html#pairwise)")


def combined(run: Run) -> Verdict:
    clin, comb = _clinical_models(run), _combined_models(run)
    if not clin or not comb:
        missing = "clinical-only" if not clin else "combined clinical + image"
        return unmet(f"no {missing} model", non_radiomic(run).evidence)
    return met(f"clinical-only {', '.join(clin)}; combined {', '.join(comb)}", non_radiomic(run).evidence)


def interpretability(run: Run) -> Verdict:
    found = [(n, s) for n, s in (("importance", "importance"), ("odds_ratios", "odds"), ("nomogram", "nomogram"),
                                 ("gradcam", "gradcam")) if run.files.get(n)]
    if not found:
        return unmet("no importance, odds-ratio, nomogram or Grad-CAM output")
    return met(*(f"{len(run.files[n])} Grad-CAM images under deep/gradcam/ (report.html#gradcam)" if n == "gradcam"
                 else f"{run.cite(n, 1)} (report.html#{s})" for n, s in found))


def feature_statistics(run: Run) -> Verdict:
    found = [run.cite(n, 1) for n in ("icc", "funnel", "importance") if run.files.get(n)]
    return met(*found) if found else unmet("no ICC, selection funnel or importance tables")


def results_performance(run: Run) -> Verdict:
    v = performance_metrics(run)
    return v if v.status != "met" else met(v.evidence, "training and held-out cohorts side by side (report.html#models)")


CLEAR = {
    7: guidelines,
    9: lambda run: (met(run.cite("sample_size"), "Riley et al. minimum sample size (report.html#samplesize)")
                    if run.files.get("sample_size") else unmet("no sample-size table")),
    11: lambda run: unmet("inclusion criteria are the authors' to state; the exclusions the run applied are counted",
                          run.cite("excluded"), "report.html#flow"),
    12: lambda run: (met(run.cite("rulegraph"), "report.html#rulegraph") if run.files.get("rulegraph")
                     else unmet("no rule graph")),
    13: data_source,
    15: partitioning,
    16: METRICS[6],
    17: predictors,
    20: lambda run: unmet("the readers' number and experience are the authors' to state", single_reader(run).evidence),
    21: preprocessing,
    22: resampling,
    23: _needs_radiomics(discretization),
    24: _needs_radiomics(image_types),
    25: extraction_method,
    26: _needs_radiomics(feature_classes),
    27: n_features,
    28: _needs_radiomics(lambda run: met(f"parameters not set in {_param_files(run)} are pyradiomics defaults")),
    29: missing_data,
    30: imbalance,
    31: reliability,
    32: scaling,
    33: lambda run: redundant(run) if redundant(run).status == "met" else unmet("no dimension-reduction step"),
    34: algorithms,
    35: tuning,
    36: METRICS[19],
    37: model_selection,
    38: testing,
    39: performance_metrics,
    40: uncertainty,
    41: comparison,
    42: combined,
    43: interpretability,
    44: lambda run: met("Table 1 by node status (report.html#table1)", run.cite("clinical")),
    45: lambda run: met("cohort flow diagram (report.html#flow)", run.cite("excluded")),
    46: feature_statistics,
    47: results_performance,
    48: combined,
    53: lambda run: shared("images and masks"),
    54: lambda run: shared("the radiomic feature tables"),
    55: lambda run: shared("the preprocessing and extraction settings (they are in the report's configuration, "
                           "report.html#provenance)"),
    56: lambda run: shared("the modelling code"),
    57: METRICS[30],
    58: lambda run: shared("a ready-to-use system"),
}
