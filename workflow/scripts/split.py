from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla import split

p = snakemake.params
split.run(snakemake.input[0], p.outcome, p.settings, p.seed, snakemake.output[0])
