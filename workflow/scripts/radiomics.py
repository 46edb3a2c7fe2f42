from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla.radiomics import extract_image

w = snakemake.wildcards
extract_image(snakemake.input.prep, snakemake.input.params, w.modality, w.view, snakemake.output[0])
