import json
from pathlib import Path

from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla import apply

i = snakemake.input
apply.report(json.loads(Path(i.check).read_text()), snakemake.params.cohort, i.metrics, i.predictions,
             snakemake.output[0])
