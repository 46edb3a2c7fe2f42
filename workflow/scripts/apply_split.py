from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla import apply

apply.split(snakemake.input[0], snakemake.params.outcome, snakemake.params.cohort, snakemake.output[0])
