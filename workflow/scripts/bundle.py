from axilla.io import setup_logging

setup_logging(snakemake.log[0])
from axilla import bundle

i, p = snakemake.input, snakemake.params


def listed(files):
    return [files] if isinstance(files, str) else list(files)  # a one-file named input is a plain str


bundle.make(snakemake.output[0], dict(p.config), dict(zip(p.modalities, listed(i.radiomics), strict=True)),
            i.reproducible, {k: (n, d) for k, n, d in zip(p.views, listed(i.networks), listed(i.deep), strict=True)},
            dict(zip(p.models, listed(i.models), strict=True)), i.train,
            {"manifest": i.manifest, "clinical": i.clinical}, i.validated)
