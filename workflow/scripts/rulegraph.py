from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla.report.dag import write_rulegraph

write_rulegraph(snakemake.params.snakefile, snakemake.params.config, snakemake.output[0])
