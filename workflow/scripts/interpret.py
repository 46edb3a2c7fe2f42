from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla import interpret
from axilla.features import load_feature_tables

p, i = snakemake.params, snakemake.input
if p.model.kind == "fusion":
    interpret.run_fusion_model(i.model, {b: i[b] for b in p.model.fuse}, p.seed, snakemake.output)
else:
    X, _, split = load_feature_tables(i, p.model.features, p.variables, p.blood)
    interpret.run_feature_model(i.model, X, split, p.seed, p.model.name, interpret.feature_sources(p.model.features),
                                snakemake.output)
