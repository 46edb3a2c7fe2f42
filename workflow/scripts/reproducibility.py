from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla import reproducibility

s = snakemake.params.settings
reproducibility.run(snakemake.input[0], s.pairs, s.icc, s.threshold, snakemake.output.icc,
                    snakemake.output.keep, source=s.source, primary=snakemake.params.primary)
