from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla.train import run_fusion_model

base = {k: snakemake.input[k] for k in snakemake.input.keys()}
run_fusion_model(base, snakemake.params.seed, snakemake.output.model, snakemake.output.predictions,
                 snakemake.params.meta)
