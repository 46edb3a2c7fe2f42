from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla import nomogram

nomogram.run(snakemake.input.model, snakemake.output.table, snakemake.output.figure)
