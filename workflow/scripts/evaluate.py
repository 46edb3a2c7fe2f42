import os

from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla import evaluate

p = snakemake.params
models = {k: snakemake.input[k] for k in snakemake.input.keys() if k != "clinical"}
outdir = os.path.dirname(os.path.dirname(snakemake.output.metrics[0]))  # results/<study>
evaluate.run(models, p.cohorts, outdir, clinical=snakemake.input.get("clinical"), readers=p.readers,
             reader_threshold=p.reader_threshold)
