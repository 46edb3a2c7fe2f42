from pathlib import Path

from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla.radiomics import aggregate

tables = {}
for path in snakemake.input:
    tables.setdefault(Path(path).parent.name, []).append(path)  # .../radiomics/<patient>/<view>.csv
aggregate(tables, snakemake.params.primary_rater, snakemake.output.wide, snakemake.output.by_rater,
          snakemake.params.auto_views)
