from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla.evaluate import run_optimism
from axilla.features import load_feature_tables

p = snakemake.params
X, _, split = load_feature_tables(snakemake.input, p.features, p.variables, p.blood)
run_optimism(X, split, snakemake.input.selection, snakemake.wildcards.model, p.n_boot, p.seed, snakemake.output[0],
             n_jobs=snakemake.threads)
