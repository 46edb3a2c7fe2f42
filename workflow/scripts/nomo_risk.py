from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla import nomogram
from axilla.features import load_feature_tables

p, i, o = snakemake.params, snakemake.input, snakemake.output
X, _, split = load_feature_tables(i, p.model.features, p.variables, p.blood)
nomogram.run_risk(i.model, X, split, p.cohorts, o.scores, o.groups)
