# axilla: axillary lymph-node metastasis study pipeline.
# The rule graph is the method section: `snakemake --rulegraph | dot -Tsvg > dag.svg`.
import os
import sys

from snakemake.utils import min_version

min_version("9.0")

# A study's own config (`--configfile`, e.g. a preset) replaces the demo config instead of being
# merged into it: merged, the demo's views and models would leak into every preset.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# Rules call into the axilla package; make it importable in every job (also inside conda envs).
_pkg = os.path.join(workflow.basedir, "workflow")
if _pkg not in sys.path:
    sys.path.insert(0, _pkg)
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (_pkg, os.environ.get("PYTHONPATH")) if p))

from axilla.config import check as check_config
from axilla.settings import with_defaults

if config.get("apply"):
    # A frozen study scores a new cohort: the bundled study's settings with this config's study
    # name and `apply` section (its manifest and clinical table), axilla.bundle.frozen_config.
    from axilla.bundle import frozen_config

    _frozen = frozen_config(config)
    config.clear()
    config.update(_frozen)

# Every problem at once, by key; then the schema's defaults, also inside optional objects and
# per-modality blocks (Snakemake's validate fills neither, and fails on defaults inside a null).
check_config(config, "workflow/schemas/config.schema.yaml")
config.update(with_defaults(config))


onstart:
    # Snakemake 9 re-arms a 1-s rate-limiter timer after every scheduling round, so each finished
    # job adds a perpetual chain of rounds (snakemake PR #3744). With ~2000 per-image jobs the
    # main process spent a whole core re-scanning ready jobs. A local run has nothing to rate-limit.
    if workflow.executor_plugin.name == "local" and getattr(workflow, "scheduler", None) is not None:
        workflow.scheduler.job_rate_limiter = None


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/validate.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/radiomics.smk"
include: "workflow/rules/deep.smk"
if APPLY:

    include: "workflow/rules/apply.smk"

    rule all:
        default_target: True
        input:
            f"{RESULTS}/report.html",

else:

    include: "workflow/rules/reproducibility.smk"
    include: "workflow/rules/split.smk"
    include: "workflow/rules/select.smk"
    include: "workflow/rules/train.smk"
    include: "workflow/rules/interpret.smk"
    include: "workflow/rules/evaluate.smk"
    include: "workflow/rules/report.smk"
    include: "workflow/rules/bundle.smk"
    # segment.enabled only: otherwise no segmentation rule exists
    if S.segment.enabled:

        include: "workflow/rules/segment.smk"

    rule all:
        default_target: True
        input:
            f"{RESULTS}/report.html",
            f"{RESULTS}/selection/funnel.csv",
            [f"{RESULTS}/models/{m}/nomogram.png" for m in NOMOGRAM_MODELS],
            # bundle: true: the frozen study (axilla.bundle)
            [f"{RESULTS}/bundle"] if S.bundle else [],
            [f"{RESULTS}/segmentation/metrics.csv"] if S.segment.enabled else [],
