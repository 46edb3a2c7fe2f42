import os

from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla import apply
from axilla.bundle import cutoffs

p = snakemake.params
files = snakemake.input.models
files = [files] if isinstance(files, str) else list(files)  # a one-file named input is a plain str
outdir = os.path.dirname(os.path.dirname(snakemake.output.metrics))  # results/<study>
apply.evaluate(dict(zip(p.models, files, strict=True)), p.cohort, cutoffs(os.path.dirname(snakemake.input.cutoffs)),
               outdir, p.allow_missing)
