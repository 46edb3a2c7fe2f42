from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla.features import load_feature_tables
from axilla.train import run_feature_model

p, o = snakemake.params, snakemake.output
X, _, split = load_feature_tables(snakemake.input, p.model.features, p.variables, p.blood)
run_feature_model(X, split, snakemake.input.selection, p.seed, o.model, o.predictions)
