from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla import select
from axilla.train import load_feature_tables

p, o = snakemake.params, snakemake.output
X, kinds, split = load_feature_tables(snakemake.input, p.features, p.variables, p.blood)
select.run(X, kinds, split, p.settings, p.seed, o.selection, o.selected, o.funnel, model_spec=p.spec,
           out_odds=o.odds_ratios, impute=p.impute,
           out_lasso_path=o.lasso_path, out_lasso_cv=o.lasso_cv)
