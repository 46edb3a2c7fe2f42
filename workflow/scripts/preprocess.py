from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla.preprocess import PreprocessSettings, preprocess_image

w, p = snakemake.wildcards, snakemake.params
preprocess_image(p.image, dict(p.masks), w.modality, w.view, PreprocessSettings.from_config(p.settings),
                 snakemake.output[0], threads=snakemake.threads)
