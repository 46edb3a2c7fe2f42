from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla import deep

w, p, o = snakemake.wildcards, snakemake.params, snakemake.output
deep.run(snakemake.input.preps, snakemake.input.split, w.modality, w.view, p.settings, p.primary_rater, p.seed,
         snakemake.threads, o.features, o.provenance, out_gradcam=o.gradcam)
