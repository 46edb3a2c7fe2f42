from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla.deep.reproducible import pin_environment
from axilla.gpu import claim_gpu

w, p = snakemake.wildcards, snakemake.params
pin_environment(p.settings.reproducible)  # segment.reproducible: strict; read when torch is imported
with claim_gpu(p.settings.gpu):  # a free device of its own, chosen before torch is imported
    from axilla.segment.stage import run

    run(snakemake.input.preps, snakemake.input.split, f"{w.modality}_{w.view}", p.settings, p.primary_rater, p.seed,
        snakemake.threads, snakemake.output[0])
