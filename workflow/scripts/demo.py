from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla import demo

demo.generate(snakemake.params.outdir, snakemake.params.n_patients, snakemake.params.seed,
              snakemake.params.rater_fraction, workers=snakemake.threads, dce_phases=snakemake.params.dce_phases,
              missing=snakemake.params.missing)
