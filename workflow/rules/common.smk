# Shared settings and input functions. The manifest is read at parse time (cheaply, structure
# only) because it defines the per-image jobs; the `validate` rule does the full check.
import json
import shlex
from types import SimpleNamespace

import pandas as pd
from snakemake.settings.types import DeploymentMethod

from axilla import demo as demo_module
from axilla.errors import InputError
from axilla.features import blood_config_problems
from axilla.validate import load_manifest, roi_label

# Shell rules run the package with this interpreter: the conda env's python under --use-conda,
# otherwise the one running Snakemake (the venv), whatever is first on PATH.
PYTHON = "python" if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method else shlex.quote(sys.executable)

STUDY = config["study"]
RESULTS = f"results/{STUDY}"
SEED = config["seed"]
PRIMARY = config["primary_rater"]
VIEWS = config["views"]

USE_DEMO = config["manifest"] is None and config["clinical"] is None
if USE_DEMO:
    DEMO_DIR = f"resources/demo/n{config['demo']['n_patients']}_seed{SEED}"
    MANIFEST = f"{DEMO_DIR}/manifest.csv"
    CLINICAL = f"{DEMO_DIR}/clinical.csv"
    _plan = demo_module.plan(config["demo"]["n_patients"], SEED, config["demo"]["rater_fraction"])
    _plan["image"] = [os.path.normpath(os.path.join(DEMO_DIR, p)) for p in _plan.image]
    _plan["mask"] = [os.path.normpath(os.path.join(DEMO_DIR, p)) for p in _plan["mask"]]
    _wanted = {(m, v) for m, vs in VIEWS.items() for v in vs}
    IMAGES = _plan[[(m, v) in _wanted for m, v in zip(_plan.modality, _plan.view)]].reset_index(drop=True)
else:
    if config["manifest"] is None or config["clinical"] is None:
        raise ValueError("config: give both 'manifest' and 'clinical', or neither (demo cohort)")
    MANIFEST = config["manifest"]
    CLINICAL = config["clinical"]
    IMAGES = load_manifest(MANIFEST, VIEWS, PRIMARY, config["validate"]["missing_view"],
                           config["validate"]["confine_paths"])

PATIENTS = sorted(IMAGES.patient_id.unique())
VIEW_KEYS = [f"{m}_{v}" for m, vs in VIEWS.items() for v in vs]
MODELS = config["models"]
FEATURE_MODELS = [m for m, spec in MODELS.items() if "features" in spec]
FUSION_MODELS = [m for m, spec in MODELS.items() if "fuse" in spec]
for _m in FUSION_MODELS:
    for _base in MODELS[_m]["fuse"]:
        if _base not in FEATURE_MODELS:
            raise ValueError(f"config models.{_m}.fuse: '{_base}' is not a feature model of this study")
# Blood-index sources need their counts declared as clinical variables (validate keeps only those):
# said now, not at selection after the images are done.
_blood_problems = blood_config_problems(MODELS, config["clinical_variables"], config["blood"])
if _blood_problems:
    raise InputError(_blood_problems)


def _cohorts():
    from axilla.split import planned_cohorts

    table = None
    if config["split"]["method"] == "column" and os.path.exists(CLINICAL):
        table = pd.read_csv(CLINICAL, sep=None, engine="python")
    return planned_cohorts(config["split"], table)


COHORTS = _cohorts()


wildcard_constraints:
    patient="[A-Za-z0-9][A-Za-z0-9_.-]*",
    modality="MG|MRI|US",
    view="[A-Za-z0-9]+",
    model="[A-Za-z0-9_]+",
    cohort="[A-Za-z0-9_]+",


def image_rows(wildcards):
    rows = IMAGES[(IMAGES.patient_id == wildcards.patient) & (IMAGES.modality == wildcards.modality)
                  & (IMAGES.view == wildcards.view)]
    if rows.empty:
        raise ValueError(f"no {wildcards.modality} {wildcards.view} image for patient {wildcards.patient}")
    return rows


def raw_files(wildcards):
    """Every raw image and mask of the study, once they all exist.

    They are inputs of `validate` only: a changed file reruns validation and everything after
    it. Per-image jobs depend on the validated manifest alone, because Snakemake stats every
    input of every ready job in each scheduling round, which made ~1000 ready per-image jobs
    cost a whole core. Missing files are left out so that `validate` reports all of them at
    once, with file, row and column, instead of Snakemake stopping at the first.
    """
    files = sorted(set(IMAGES.image) | set(IMAGES["mask"]))
    return files if USE_DEMO or all(os.path.exists(f) for f in files) else []


def mask_paths(wildcards):
    rows = image_rows(wildcards)
    return {r.rater: r.mask for r in rows.itertuples()}


def prep_dir(patient, key):
    return f"{RESULTS}/preprocess/{patient}/{key}"


def images_of_view(key):
    mod, view = key.split("_", 1)
    return IMAGES[(IMAGES.modality == mod) & (IMAGES.view == view)].patient_id.unique()


def model_feature_sources(model):
    return {spec.split(":")[0] for spec in MODELS[model].get("features", [])}


def radiomics_params(wildcards):
    return config["radiomics"].get("params", {}).get(wildcards.modality, f"resources/radiomics/{wildcards.modality}.yaml")


def feature_inputs(wildcards):
    """The feature tables a model's sources need (and the ICC filter for radiomics)."""
    sources = model_feature_sources(wildcards.model)
    inputs = {"clinical": rules.validate.output.clinical, "split": rules.split.output[0]}
    if "radiomics" in sources:
        inputs["radiomics"] = rules.radiomics_table.output.wide
        inputs["reproducible"] = rules.reproducibility.output.keep
    if "deep" in sources:
        inputs["deep"] = rules.deep_table.output.table
    return inputs


def model_inputs(wildcards):
    """Feature tables of a model plus, for score fusion, its base models' predictions (scores)."""
    inputs = feature_inputs(wildcards)
    for base in MODELS[wildcards.model].get("scores", []):
        inputs[f"score_{base}"] = f"{RESULTS}/models/{base}/predictions.csv"
    return inputs
