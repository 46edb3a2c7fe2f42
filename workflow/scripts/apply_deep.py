from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla.deep.reproducible import pin_environment
from axilla.gpu import claim_gpu

w, p, i, o = snakemake.wildcards, snakemake.params, snakemake.input, snakemake.output
pin_environment(p.settings.reproducible)  # deep.reproducible: strict; read when torch is imported
with claim_gpu(p.settings.gpu):  # a free device of its own, chosen before torch is imported
    from axilla.deep import frozen

    preps = [i.preps] if isinstance(i.preps, str) else list(i.preps)
    frozen.run(preps, i.network, i.study, w.modality, w.view, p.settings, p.primary_rater, snakemake.threads,
               o.features, o.provenance)
