from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla import validate

p, o = snakemake.params, snakemake.output
validate.run(snakemake.input.manifest, snakemake.input.clinical, p.views, p.primary_rater, p.outcome,
             p.variables, o.manifest, o.clinical, o.qc, settings=p.settings, radiomics_params=p.radiomics_params,
             split_settings=p.split, folds=p.folds, seed=p.seed, out_missing=o.missing, out_excluded=o.excluded,
             preprocess=p.preprocess, out_problems=p.problems,
             out_availability=o.availability, deep=p.deep, auto_views=getattr(p, "auto_views", ()))
