from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla.segment.table import run

p, o = snakemake.params, snakemake.output
run(snakemake.input.views, p.settings.bootstraps, p.seed, o.metrics, o.raters, o.review, p.settings.review.dice_below)
