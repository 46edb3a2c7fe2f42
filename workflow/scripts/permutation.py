from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla.features import load_feature_tables
from axilla.permute import run_feature_permutations

p, i, o = snakemake.params, snakemake.input, snakemake.output
bases = [i.base_permutations] if isinstance(i.base_permutations, str) else list(i.base_permutations)
X, _, split = load_feature_tables(i, p.features, p.variables, p.blood)
run_feature_permutations(X, split, i.selection, i.predictions, dict(zip(p.bases, bases, strict=True)), p.n, p.seed,
                         p.need_oof, snakemake.wildcards.model,
                         {"summary": o.summary, "null": o.null, "predictions": o.predictions}, n_jobs=snakemake.threads)
