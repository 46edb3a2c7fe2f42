from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla.evaluate.stage_clinical import run_sample_size

p, i = snakemake.params, snakemake.input
pkls = [i.models] if isinstance(i.models, str) else list(i.models)  # a one-file named input is a plain str
preds = [i.predictions] if isinstance(i.predictions, str) else list(i.predictions)
run_sample_size(dict(zip(p.models, zip(pkls, preds, strict=True), strict=True)), p.shrinkage, snakemake.output[0])
