from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla.bundle import verify
from axilla.io import write_json

write_json(verify(snakemake.params.bundle), snakemake.output[0])
