from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla.train import run_fusion_model

o = snakemake.output
run_fusion_model({k: snakemake.input[k] for k in snakemake.input.keys()}, snakemake.params.seed, o.model,
                 o.predictions, o.coefficients, meta=snakemake.params.meta, out_formula=o.formula,
                 out_importance=o.importance)
