from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla import select
from axilla.features import load_feature_tables
from axilla.train import FeatureModel

p, o = snakemake.params, snakemake.output
X, kinds, split = load_feature_tables(snakemake.input, p.model.features, p.variables, p.blood)
model = FeatureModel.from_settings(p.model, kinds, p.seed, p.impute)
select.run(model, X, split, o.selection, o.selected, o.funnel, out_lasso_path=o.lasso_path, out_lasso_cv=o.lasso_cv)
