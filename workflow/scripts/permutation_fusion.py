import pandas as pd

from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla.permute import run_fusion_permutations

p, i, o = snakemake.params, snakemake.input, snakemake.output
bases = [i.base_permutations] if isinstance(i.base_permutations, str) else list(i.base_permutations)
split = pd.read_csv(i.split, dtype={"patient_id": str})
run_fusion_permutations(split, dict(zip(p.bases, bases, strict=True)), i.predictions, p.meta, p.n, p.seed,
                        p.need_oof, snakemake.wildcards.model,
                        {"summary": o.summary, "null": o.null, "predictions": o.predictions}, n_jobs=snakemake.threads)
