from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla import report

report.run(snakemake.input, snakemake.params, snakemake.output[0])
