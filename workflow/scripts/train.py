from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla.interpret import feature_sources
from axilla.train import load_feature_tables, run_feature_model

p, o = snakemake.params, snakemake.output
X, _, split = load_feature_tables(snakemake.input, p.features, p.variables, p.blood)
run_feature_model(X, split, snakemake.input.selection, p.seed, o.model, o.predictions, o.coefficients,
                  out_summary=o.summary, name=snakemake.wildcards.model, out_formula=o.formula,
                  out_importance=o.importance, out_odds=o.odds_ratios, sources=feature_sources(p.features))
