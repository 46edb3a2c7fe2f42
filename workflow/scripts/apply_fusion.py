from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla import apply

apply.score_fusion_model({b: snakemake.input[b] for b in snakemake.params.bases}, snakemake.input.model,
                         snakemake.output[0])
