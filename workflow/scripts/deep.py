from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla.deep.reproducible import pin_environment
from axilla.gpu import claim_gpu

w, p, o = snakemake.wildcards, snakemake.params, snakemake.output
pin_environment(p.settings.reproducible)  # deep.reproducible: strict; read when torch is imported
with claim_gpu(p.settings.gpu):  # a free device of its own, chosen before torch is imported
    from axilla import deep

    deep.run(snakemake.input.preps, snakemake.input.split, w.modality, w.view, p.settings, p.primary_rater, p.seed,
             snakemake.threads, o.features, o.provenance, out_gradcam=o.gradcam,
             out_network=o.network or None, auto_masks=next(iter(snakemake.input.segmentation), None))
