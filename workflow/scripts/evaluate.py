import os

from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla import evaluate

outdir = os.path.dirname(os.path.dirname(snakemake.output.metrics[0]))  # results/<study>
evaluate.run({k: snakemake.input[k] for k in snakemake.input.keys()}, snakemake.params.cohorts, outdir)
