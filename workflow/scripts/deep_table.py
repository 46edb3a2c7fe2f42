from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla.deep import combine

combine(snakemake.input.features, snakemake.input.provenance, snakemake.output.table, snakemake.output.provenance,
        out_backbones=snakemake.output.get("backbones"))
