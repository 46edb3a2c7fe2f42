"""What a study is made of, METRICS' conditions, and the decision of each METRICS item a run can show
(item id -> function(Run) -> Verdict), with the decisions CLEAR shares (:mod:`.clear`).

Items missing from METRICS here are manuscript items (title, ethics, discussion, ...) and
come out "not met" for the authors to complete. Evidence names result files relative to
results/<study>/ with their sha256, config keys, and report sections (report.html#<id>).
"""

from __future__ import annotations

import os

import yaml

from ...reproducibility import describe_source
from .base import Run, Verdict, met, na, unmet

SCALING_STEPS = ("zscore",)
SELECTION_STEPS = ("univariate", "correlation", "mrmr", "lasso", "lgbm", "ulogit", "stepwise", "mutual_info")


# ---- what the study is made of --------------------------------------------------------------

def sources(run: Run) -> set[str]:
    """Feature sources of the study's models ('clinical', 'radiomics', 'deep', 'blood'), through
    fused and score models."""
    models, out, seen = run.st.models, set(), set()

    def walk(name):
        if name in seen or name not in models:
            return
        seen.add(name)
        m = models[name]
        out.update(f.split(":")[0] for f in m.features)
        for base in [*m.fuse, *m.scores]:
            walk(base)

    for name in models:
        walk(name)
    return out


def _params(run: Run) -> dict[str, dict]:
    """modality -> the parsed pyradiomics parameter file of each modality this study uses."""
    out = {}
    for mod, path in sorted(run.st.radiomics.params.items()):
        if mod in run.st.views and os.path.isfile(path):
            out[mod] = yaml.safe_load(open(path, encoding="utf-8")) or {}
    return out


def _param_files(run: Run) -> str:
    from ...io import file_sha256

    return ", ".join(f"{p} (sha256 {file_sha256(p)[:12]})" for m, p in sorted(run.st.radiomics.params.items())
                     if m in run.st.views and os.path.isfile(p))


def _single_view_models(run: Run) -> list[str]:
    """Models whose images are one modality (or one view) when the study has several."""
    n_views = sum(len(v) for v in run.st.views.values())
    if n_views <= 1:
        return list(run.st.models)
    out = []
    for name, m in run.st.models.items():
        img = [f for f in m.features if f.split(":")[0] in ("radiomics", "deep")]
        if img and all(":" in f for f in img) and len({f.split(":")[1].split("_")[0] for f in img}) == 1:
            out.append(name)
    return out


def _clinical_models(run: Run) -> list[str]:
    return [n for n, m in run.st.models.items() if m.kind == "features"
            and {f.split(":")[0] for f in m.features} <= {"clinical", "blood"}]


def _combined_models(run: Run) -> list[str]:
    """Models that join clinical and image information (features, scores or fusion)."""
    def kinds(name, seen=()):
        m = run.st.models[name]
        own = {f.split(":")[0] for f in m.features}
        return own.union(*[kinds(b, (*seen, name)) for b in [*m.fuse, *m.scores] if b not in seen])

    return [n for n in run.st.models if kinds(n) & {"clinical", "blood"} and kinds(n) & {"radiomics", "deep"}]


def _classifiers(run: Run) -> dict[str, str]:
    return {n: (m.classifier or {}).get("name", "lr") for n, m in run.st.models.items() if m.kind != "fusion"}


def _steps(run: Run) -> set[str]:
    return {s for m in run.st.models.values() for s in m.select.get("steps", [])}


# ---- METRICS conditions ---------------------------------------------------------------------

def conditions(run: Run) -> dict[str, bool]:
    """METRICS' five conditions for this study. Masks come with the manifest (drawn outside the
    run), so segmentation is present and never fully automated here; deep features are tabulated
    before modelling, so no model is end-to-end deep learning."""
    image = bool(sources(run) & {"radiomics", "deep"})
    return {"segmentation": image, "automated_segmentation": False, "handcrafted": "radiomics" in sources(run),
            "tabular": True, "end_to_end_deep": False}


CONDITION_WHY = {
    "segmentation": lambda run: "no model uses image features",
    "automated_segmentation": lambda run: "the masks are given in the manifest, not produced by an automated tool",
    "handcrafted": lambda run: "no model uses hand-crafted (pyradiomics) features",
    "tabular": lambda run: "no tabular features",
    "end_to_end_deep": lambda run: ("no end-to-end deep-learning model: deep features are tabulated and modelled "
                                    "like the others" if "deep" in sources(run) else "no deep-learning model"),
}


# ---- decisions shared by both checklists ------------------------------------------------------

def guidelines(run: Run) -> Verdict:
    return met("this checklist (report/checklist/clear.csv, METRICS in report/checklist/metrics.csv)",
               "TRIPOD+AI checklist (report.html#tripod)")


def partitioning(run: Run) -> Verdict:
    sp = run.st.split
    how = (f"stratified random split (split.test_fraction = {sp.test_fraction}, seed = {run.st.seed})"
           if sp.method == "random" else f"fixed column (split.column = '{sp.column}')")
    if not run.files.get("split"):
        return unmet("no split table", how)
    return met(run.cite("split"), how, "patient level; every fitted step (imputation, selection chain, "
               "scaling, SMOTE, classifier) fitted on the training cohort only")


def internal_test(run: Run) -> Verdict:
    ext = run.external()
    internal = [c for c in run.held_out() if c != ext]
    if not internal:
        return unmet("no held-out cohort from the training source (split.test_fraction = 0 and no temporal cohort)")
    return met(", ".join(f"{c}: {int(run.counts.set_index('cohort').at[c, 'patients'])} patients" for c in internal),
               run.cite("metrics", most=len(run.files.get("metrics", []))), "report.html#models")


def external_test(run: Run) -> Verdict:
    ext = run.external()
    if ext is None:
        why = ("no external cohort configured (split.external is null)" if not run.st.split.external
               else f"the external cohort '{run.st.split.external.get('name', 'external')}' has no patients")
        return unmet(why)
    e = run.st.split.external
    n = int(run.counts.set_index("cohort").at[ext, "patients"])
    return met(f"cohort '{ext}': {n} patients with split.external.{e['column']} in {e['values']}",
               run.cite("split"), "report.html#models")


def performance_metrics(run: Run) -> Verdict:
    if not run.files.get("metrics"):
        return unmet("no metrics tables")
    return met(run.cite("metrics", most=3), "AUC, sensitivity, specificity, accuracy, PPV, NPV, F1, Brier per cohort "
               "(report.html#models); ROC curves (report.html#roc)")


def uncertainty(run: Run) -> Verdict:
    m = run.table("metrics")
    if m.empty or "auc_ci_low" not in m:
        return unmet("no metrics tables with confidence intervals")
    extra = [f"{what}: {run.cite(n, 1)}" for n, what in (("optimism", "bootstrap optimism"),
                                                         ("permutation", "permutation null")) if run.files.get(n)]
    return met(run.cite("metrics", most=1), "DeLong 95 % CI of the AUC, Wilson 95 % CIs of the proportions "
               "(auc_ci_low/auc_ci_high and *_ci_* columns)", *extra)


def calibration(run: Run) -> Verdict:
    m = run.table("metrics")
    if m.empty or "cal_slope" not in m or m["cal_slope"].isna().all():
        return unmet("no calibration intercept/slope in the metrics tables")
    return met(run.cite("metrics", most=1), "calibration intercept, slope, Hosmer–Lemeshow (report.html#calibration)")


def non_radiomic(run: Run) -> Verdict:
    clin, pair = _clinical_models(run), run.table("pairwise")
    if clin and not pair.empty:
        return met(f"clinical model(s) {', '.join(clin)} compared by DeLong/NRI/IDI", run.cite("pairwise", 1),
                   "decision curves (report.html#dca)" if run.files.get("dca") else "")
    if run.files.get("dca"):
        return met("decision-curve analysis of net benefit (report.html#dca)", run.cite("dca", 1))
    return unmet("no clinical-only model compared with the image models and no decision curves")


def non_robust(run: Run) -> Verdict:
    icc = run.table("icc")
    if icc.empty:
        return unmet("no ICC table: no second-rater or repeat masks (reproducibility.pairs) to test feature stability")
    r = run.st.reproducibility
    how = "" if r.source == "raters" else f" across {describe_source(r)}"
    return met(run.cite("icc"), f"features with {r.icc} < {r.threshold}{how} removed (reproducibility.threshold)",
               run.cite("reproducible"))


def redundant(run: Run) -> Verdict:
    steps = [s for s in SELECTION_STEPS if s in _steps(run)]
    if not steps:
        return unmet("the selection chain has no redundancy or relevance step (select.steps)")
    return met(f"select.steps include {', '.join(steps)}, fitted on the training cohort", run.cite("funnel"))


def dimensionality(run: Run) -> Verdict:
    ss = run.table("sample_size")
    if ss.empty:
        return unmet("no sample-size table (metrics/sample_size.csv)")
    small = [str(m) for m, ok in zip(ss["model"], ss["adequate"]) if not bool(ok)]
    if small:
        return unmet(f"Riley et al. minimum sample size not reached by model(s) {', '.join(small)}", run.cite("sample_size"))
    return met("every model within Riley et al.'s minimum sample size", run.cite("sample_size"), "report.html#samplesize")


def preprocessing(run: Run) -> Verdict:
    mods = [m for m in run.st.views if m in run.st.preprocess]
    parts = []
    for m in mods:
        p = run.st.preprocess[m]
        parts.append(f"preprocess.{m}: spacing {p.spacing or 'native'}, normalize {p.normalize}"
                     + (", N4" if getattr(p.n4, "enabled", False) else ""))
    return met("; ".join(parts), run.cite("qc_table"), "report.html#qc") if parts else unmet("no preprocessing settings")


def extraction_software(run: Run) -> Verdict:
    from ..provenance import versions

    v = versions().get("pyradiomics-bhklab", "not installed")
    return met(f"pyradiomics (IBSI-based) version {v} (report.html#provenance)", _param_files(run))


def extraction_parameters(run: Run) -> Verdict:
    parts = []
    if "radiomics" in sources(run):
        parts.append(f"pyradiomics parameter files {_param_files(run)}; parameters they leave out are pyradiomics defaults")
    if "deep" in sources(run):
        d = run.st.deep
        parts.append(f"deep.backbone {d.backbone}, deep.layer {d.layer}, deep.weights.source {d.weights.get('source')}, "
                     f"deep.size_2d {d.size_2d}, deep.size_3d {d.size_3d}, deep.margin {d.margin}")
    return met(*parts) if parts else unmet("no image features")


def single_reader(run: Run) -> Verdict:
    return met(f"features of every cohort from the masks of rater '{run.st.primary_rater}' (primary_rater); other "
               "raters' masks only feed the ICC", run.cite("validated_manifest"))


def multicenter(run: Run) -> Verdict:
    if run.centers and run.centers > 1:
        col = (run.st.split.external or {}).get("column", "center")
        return met(f"{run.centers} centres (clinical column '{col}')", run.cite("clinical"))
    return unmet("one centre" if run.centers == 1 else "no centre column in the clinical table")


def uniparametric(run: Run) -> Verdict:
    n_views = sum(len(v) for v in run.st.views.values())
    if n_views <= 1:
        return met("one imaging set (" + ", ".join(f"{m}: {', '.join(v)}" for m, v in run.st.views.items()) + ")")
    single = _single_view_models(run)
    if single and not run.table("pairwise").empty:
        return met(f"single-modality model(s) {', '.join(single)} compared with the others", run.cite("pairwise", 1))
    views = "; ".join(f"{m}: {', '.join(v)}" for m, v in run.st.views.items())
    return unmet(f"{n_views} views ({views}) with no "
                 "single-modality model (e.g. features: [radiomics:MG]) to compare against")


def classical(run: Run) -> Verdict:
    clf = _classifiers(run)
    lr = [n for n, c in clf.items() if c == "lr"]
    perm = f"permutation negative control: {run.cite('permutation', 1)}" if run.files.get("permutation") else ""
    if len(lr) == len(clf):
        return met("every model is a logistic regression (models.*.classifier: lr)", perm)
    if lr and not run.table("pairwise").empty:
        return met(f"machine-learning models compared with the logistic regression(s) {', '.join(lr)}",
                   run.cite("pairwise", 1), perm)
    return unmet("machine-learning classifiers without a logistic-regression comparator", perm)


def shared(what: str) -> Verdict:
    return unmet(f"publishing {what} is the authors' act: the run cannot show it")


METRICS = {
    1: guidelines,
    4: multicenter,
    6: lambda run: unmet("acquisition parameters are not recorded by the run; image size and spacing are",
                         run.cite("qc")),
    8: lambda run: unmet("how the masks were drawn (software, rules, readers) is the authors' to state",
                         run.cite("validated_manifest")),
    10: single_reader,
    11: preprocessing,
    12: extraction_software,
    13: extraction_parameters,
    14: non_robust,
    15: redundant,
    16: dimensionality,
    18: partitioning,
    19: lambda run: unmet("no confounder analysis (e.g. by centre or scanner) is run"),
    20: performance_metrics,
    21: uncertainty,
    22: calibration,
    23: uniparametric,
    24: non_radiomic,
    25: classical,
    26: internal_test,
    27: external_test,
    28: lambda run: shared("imaging, segmentation or clinical data"),
    29: lambda run: shared("the code"),
    30: lambda run: shared("the final model" + (f" (frozen bundle: {run.cite('bundle', 1)})" if run.files.get("bundle")
                                                else "")),
}
