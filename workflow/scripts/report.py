import glob
import os

from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla import report

p = snakemake.params
inputs = {k: snakemake.input[k] for k in snakemake.input.keys()}
inputs["benchmarks"] = sorted(glob.glob(os.path.join(p.benchmarks, "**", "*.tsv"), recursive=True))
checklists = {k: snakemake.output[k] for k in ("clear_csv", "metrics_csv", "score_json")}
report.run(inputs, p.config, p.cohorts, p.models, p.optional, snakemake.output[0], checklists)
