# Shared settings and input functions. The manifest is read at parse time (cheaply, structure
# only) because it defines the per-image jobs; the `validate` rule does the full check.
import json
from dataclasses import asdict, is_dataclass
import shlex

import pandas as pd
from snakemake.settings.types import DeploymentMethod

from axilla import demo as demo_module
from axilla.cluster import Lazy as ClusterSite, resample_threads
from axilla.fidelity import table_path as fidelity_table
from axilla.settings import load as load_settings
from axilla.preprocess import index_rows
from axilla.validate import load_manifest

# Shell rules run the package with this interpreter: the conda env's python under --use-conda,
# otherwise the one running Snakemake (the venv), whatever is first on PATH.
PYTHON = "python" if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method else shlex.quote(sys.executable)

# Under the SLURM executor, the site file's partition, account, GPU request style and node limits
# fitted onto every rule's own resources (`resources: **SITE.fit(...)`); locally nothing changes.
SITE = ClusterSite(lambda: getattr(workflow.executor_plugin, "name", None), workflow.basedir)

# Cheap gathers and renders (seconds, little memory) run where Snakemake runs instead of as cluster
# jobs: each cluster job costs ~10 s of srun and workflow parsing, more than these rules themselves.
localrules:
    rulegraph,
    selection_funnel,
    qc_table,
    radiomics_table,
    deep_table,
    split,
    nomo_risk,
    nomogram,
    report,


# Typed settings, built once; every cross-key problem (fusion bases, primary model, blood counts)
# stops the run here, before any job.
S = load_settings(config)
STUDY = S.study
RESULTS = f"results/{STUDY}"
SEED = S.seed
PRIMARY = S.primary_rater
VIEWS = S.views

USE_DEMO = S.manifest is None and S.clinical is None
if USE_DEMO:
    # DCE3 / DCE4 listed under views: a demo cohort of its own with those phases (same other files)
    DEMO_DCE_PHASES = demo_module.dce_phases_for(VIEWS)
    # demo.missing (modality -> fraction without its images): a cohort of its own too
    DEMO_DIR = f"resources/demo/{demo_module.folder(S.demo.n_patients, SEED, DEMO_DCE_PHASES, S.demo.missing)}"
    MANIFEST = f"{DEMO_DIR}/manifest.csv"
    CLINICAL = f"{DEMO_DIR}/clinical.csv"
    _plan = demo_module.plan(S.demo.n_patients, SEED, S.demo.rater_fraction, DEMO_DCE_PHASES, S.demo.missing)
    _plan["image"] = [os.path.normpath(os.path.join(DEMO_DIR, p)) for p in _plan.image]
    _plan["mask"] = [os.path.normpath(os.path.join(DEMO_DIR, p)) for p in _plan["mask"]]
    _wanted = {(m, v) for m, vs in VIEWS.items() for v in vs}
    IMAGES = _plan[[(m, v) in _wanted for m, v in zip(_plan.modality, _plan.view)]].reset_index(drop=True)
else:
    MANIFEST = S.manifest
    CLINICAL = S.clinical
    # roi.source: auto views may list images without a manual mask (mask cell "")
    IMAGES = load_manifest(MANIFEST, VIEWS, PRIMARY, S.validate.missing_view, S.validate.confine_paths,
                           S.roi.auto_views)

PATIENTS = sorted(IMAGES.patient_id.unique())
VIEW_KEYS = [f"{m}_{v}" for m, vs in VIEWS.items() for v in vs]
# some modality compares backbones (deep.backbones): deep_table writes deep/backbones.csv
DEEP_COMPARED = any(len(S.deep.candidates(m)) > 1 for m in VIEWS)
MODELS = S.models
# Three kinds of model, each trained by rules of its own (so the graph of rules has no loop):
# feature models (select, train), score-fusion models, whose features include base feature
# models' scores (select_scores, train_scores), and post-fusion models (train_fusion).
PLAIN_MODELS = S.models_of("features")
SCORE_MODELS = S.models_of("scores")
FEATURE_MODELS = S.models_of("features", "scores")
FUSION_MODELS = S.models_of("fusion")
# Feature models with a logistic-regression classifier that ask for a nomogram.
NOMOGRAM_MODELS = [m for m in FEATURE_MODELS if MODELS[m].nomogram]
FIDELITY = [str(p) for p in [fidelity_table(workflow.basedir, S.report.preset)] if p]


def _cohorts():
    from axilla.split import planned_cohorts

    table = None
    if S.split.method == "column" and os.path.exists(CLINICAL):
        table = pd.read_csv(CLINICAL, sep=None, engine="python")
    return planned_cohorts(S.split, table)


# apply: a new cohort scored with a frozen study's bundle (rules/apply.smk); its one cohort
APPLY = S.apply
COHORTS = [APPLY["cohort"]] if APPLY else _cohorts()


wildcard_constraints:
    patient="[A-Za-z0-9][A-Za-z0-9_.-]*",
    modality="MG|MRI|US",
    view="[A-Za-z0-9]+",
    model="[A-Za-z0-9_]+",
    cohort="[A-Za-z0-9_]+",


# Rows by (patient, modality, view), indexed once: filtering the whole manifest in every job's
# input and params functions made building the DAG quadratic in the cohort.
IMAGE_ROWS = index_rows(IMAGES)


def settings_text(*settings) -> str:
    """Settings objects as one text param. Snakemake's params rerun trigger skips any value it
    cannot repr (a dataclass); passed beside the settings objects, this makes a changed setting
    rerun the job, as a changed input file does."""

    def plain(v):
        if is_dataclass(v):
            return asdict(v)
        return {k: plain(x) for k, x in v.items()} if isinstance(v, dict) else v

    return json.dumps([plain(x) for x in settings], sort_keys=True, default=str)


def image_rows(wildcards):
    rows = IMAGE_ROWS.get((wildcards.patient, wildcards.modality, wildcards.view))
    if not rows:
        raise ValueError(f"no {wildcards.modality} {wildcards.view} image for patient {wildcards.patient}")
    return rows


def raw_files(wildcards):
    """Every raw image and mask of the study, once they all exist.

    They are inputs of `validate` only: a changed file reruns validation and everything after
    it. Per-image jobs depend on the validated manifest alone, because Snakemake stats every
    input of every ready job in each scheduling round, which made ~1000 ready per-image jobs
    cost a whole core. Missing files are left out so that `validate` reports all of them at
    once, with file, row and column, instead of Snakemake stopping at the first. The demo
    cohort's files come with its manifest (the `demo` job writes them before it): listed as
    outputs of one rule, Snakemake matched each of them against all of them (quadratic).
    """
    if USE_DEMO:
        return []
    files = sorted(set(IMAGES.image) | set(IMAGES["mask"]) - {""})  # "": an auto view's image without a mask
    return files if all(os.path.exists(f) for f in files) else []


def mask_paths(wildcards):
    rows = image_rows(wildcards)
    return {r["rater"]: r["mask"] for r in rows if r["mask"]}  # none for an auto view's maskless image


def prep_dir(patient, key):
    return f"{RESULTS}/preprocess/{patient}/{key}"


def images_of_view(key):
    mod, view = key.split("_", 1)
    return IMAGES[(IMAGES.modality == mod) & (IMAGES.view == view)].patient_id.unique()


def model_feature_sources(model):
    return {spec.split(":")[0] for spec in MODELS[model].features}


# roi.source: auto: views whose radiomics and deep ROIs are the segment stage's fused masks
AUTO_VIEWS = S.roi.auto_views


def segmentation_of(wildcards):
    """An auto view's segmentation folder (its masks are the view's ROIs); nothing for a manual view."""
    key = f"{wildcards.modality}_{wildcards.view}"
    return [f"{RESULTS}/segmentation/{key}"] if key in AUTO_VIEWS else []


def radiomics_params(wildcards):
    return S.radiomics.params[wildcards.modality]


# reproducibility.source: perturbation also extracts the primary mask's perturbations (pseudo-raters);
# the extra param and arguments only then, so a study using raters reruns nothing.
_PERTURB = S.reproducibility.perturbation
PERTURB = S.reproducibility.source == "perturbation" and not APPLY


ENSEMBLE = PERTURB and "ensemble" in _PERTURB["kinds"] and S.segment.enabled


def ensemble_of(wildcards):
    """With perturbation kind `ensemble`, a segmented view's segmentation folder (its networks' masks are raters)."""
    key = f"{wildcards.modality}_{wildcards.view}"
    return [f"{RESULTS}/segmentation/{key}"] if ENSEMBLE and key in S.segment.views else []


# On a cluster an image's preprocess + radiomics run as one job, several images per job
# (profiles/slurm: group-components; local runs ignore groups). Not when radiomics waits for the
# segment stage, which reads every image's preprocess: Snakemake refuses a group whose outside
# inputs depend on the group itself.
PER_IMAGE_GROUP = None if AUTO_VIEWS or ENSEMBLE else "per_image"


def perturb_args(wildcards, input):
    ensemble = f" --ensemble {shlex.quote(input.ensemble[0])}" if input.get("ensemble") else ""
    return (f"--perturb {','.join(_PERTURB['kinds'])} --contours {_PERTURB['contours']} --seed {SEED}"
            f" --primary {shlex.quote(PRIMARY)} --image-id {wildcards.patient}/{wildcards.modality}_{wildcards.view}"
            + ensemble)


def feature_inputs(wildcards):
    """The feature tables a model's sources need (and the ICC filter for radiomics)."""
    sources = model_feature_sources(wildcards.model)
    inputs = {"clinical": rules.validate.output.clinical, "split": rules.split.output[0],
              # the views each patient has: a model uses the patients having all its views
              "availability": rules.validate.output.availability}
    if "radiomics" in sources:
        inputs["radiomics"] = rules.radiomics_table.output.wide
        inputs["reproducible"] = rules.reproducibility.output.keep
    if "deep" in sources:
        inputs["deep"] = rules.deep_table.output.table
    return inputs


def model_inputs(wildcards):
    """Feature tables of a model plus, for score fusion, its base models' predictions (scores)."""
    inputs = feature_inputs(wildcards)
    for base in MODELS[wildcards.model].scores:
        inputs[f"score_{base}"] = f"{RESULTS}/models/{base}/predictions.csv"
    return inputs


def interpret_inputs(wildcards):
    """The fitted model, and the rows it was fitted on: its feature tables (feature and
    score-fusion models) or its base models' predictions (post-fusion)."""
    model = f"{RESULTS}/models/{wildcards.model}/model.pkl"
    if MODELS[wildcards.model].kind == "fusion":
        return {"model": model, **{b: f"{RESULTS}/models/{b}/predictions.csv" for b in MODELS[wildcards.model].fuse}}
    return {"model": model, **model_inputs(wildcards)}


# Permutation negative control (evaluate.permutations; 0 = off) of every model.
PERMUTATION_MODELS = list(MODELS) if S.evaluate.permutations > 0 else []


def fused_by_another(model):
    """True when another model fuses this one (post-fusion or score fusion): its permuted
    refits then also write out-of-fold predictions, which that model is refitted on."""
    return any(model in MODELS[m].fuse or model in MODELS[m].scores for m in MODELS if m != model)


def permutation_outputs(folder):
    return {"summary": f"{folder}/permutation.csv", "null": f"{folder}/permutation_null.csv",
            "predictions": f"{folder}/permutation_predictions.csv"}
