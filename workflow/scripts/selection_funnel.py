from axilla.io import setup_logging, write_csv

setup_logging(snakemake.log[0])
from axilla.select import combine_funnels

write_csv(combine_funnels({k: snakemake.input[k] for k in snakemake.input.keys()}), snakemake.output[0])
