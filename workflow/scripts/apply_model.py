from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla import apply
from axilla.features import load_feature_tables

p = snakemake.params
X, _, split = load_feature_tables(snakemake.input, p.features, p.variables, p.blood)
apply.score_feature_model(X, split, snakemake.input.model, snakemake.output[0])
