from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla.evaluate.stage_clinical import run_spared

p, i, o = snakemake.params, snakemake.input, snakemake.output
models = [i.models] if isinstance(i.models, str) else list(i.models)  # a one-file named input is a plain str
cohorts = [i.cohorts] if isinstance(i.cohorts, str) else list(i.cohorts)
out = [o.interventions] if isinstance(o.interventions, str) else list(o.interventions)
run_spared(dict(zip(p.models, models, strict=True)), dict(zip(p.cohorts, cohorts, strict=True)), p.settings, p.seed,
           o.spared, dict(zip(p.cohorts, out, strict=True)))
