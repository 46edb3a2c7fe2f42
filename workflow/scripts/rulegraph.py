from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla.report.dag import write_rulegraph

p = snakemake.params
write_rulegraph(p.snakefile, p.config, snakemake.output[0], python=p.python)
