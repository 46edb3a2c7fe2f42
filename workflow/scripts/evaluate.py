import os

from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla import evaluate

p = snakemake.params
files = snakemake.input.models
files = [files] if isinstance(files, str) else list(files)  # a one-file named input is a plain str
models = dict(zip(p.models, files, strict=True))
outdir = os.path.dirname(os.path.dirname(snakemake.output.metrics[0]))  # results/<study>
evaluate.run(models, p.cohorts, outdir, p.settings, clinical=snakemake.input.reader_table or None,
             availability=snakemake.input.availability, allow_missing=p.allow_missing)
