"""Per-image jobs on SLURM as `group:` batches (the rules' `group: per_image`, the profile's `group-components`,
here `per_image=K`) against job arrays (`slurm-array-jobs: preprocess,radiomics` instead), measured in
one run on the one-node test cluster (tests/slurmcluster.py) with the small study
(tests/smallstudy.py), after a local `--cores 2` run of the same study. Every run starts from an
empty copy; each SLURM run's results must equal the local run's. `make bench-slurm` (root; about
20 min on 2 cores; README: Running on SLURM).

    python tests/slurmbench.py [--components K]   # K: per-image jobs per group job (default: CPUs)
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import slurmcluster  # noqa: E402
import smallstudy  # noqa: E402


def _jobs(out: str) -> tuple[int, int]:
    """(SLURM jobs submitted, of them arrays) from the plugin's console lines."""
    single = set(re.findall(r"SLURM jobid (\d+)", out))
    arrays = set(re.findall(r"Submitted array job with Snakemake IDs [\d,]+ and SLURM job ID (\d+)", out))
    return len(single | arrays), len(arrays)


def _copy(parent: Path, name: str) -> Path:
    (parent / name).mkdir()
    return smallstudy.workdir(parent / name)


def _arrays_instead(d: Path) -> None:
    """The copy with job arrays for the per-image rules instead of their group."""
    for rules in ("preprocess", "radiomics"):
        p = d / "workflow" / "rules" / f"{rules}.smk"
        p.write_text(p.read_text().replace("    group: PER_IMAGE_GROUP\n", ""))
    p = d / "profiles" / "slurm" / "config.v8+.yaml"
    kept = [line for line in p.read_text().splitlines() if not line.startswith("group-components:")]
    p.write_text("\n".join([*kept, 'slurm-array-jobs: "preprocess,radiomics"', ""]))


def _local(parent: Path) -> tuple[Path, float]:
    d = _copy(parent, "local")
    start = time.time()
    smallstudy.run(d)
    return d, time.time() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--components", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args(argv)
    group = ("--group-components", f"per_image={args.components}")
    slurmcluster.install()
    slurmcluster.install_plugin()
    parent = Path(tempfile.mkdtemp(prefix="axilla-slurmbench-"))
    ref, local_wall = _local(parent)
    print(f"local_wall={local_wall:.0f}s", flush=True)
    cluster = slurmcluster.Cluster().start()
    try:
        for name, extra in (("group", group), ("array", ())):
            d = _copy(parent, name)
            if name == "array":
                _arrays_instead(d)
            out, wall = slurmcluster.submit(d, cluster, extra)
            jobs, arrays = _jobs(out)
            same = smallstudy.digest(d) == smallstudy.digest(ref)
            print(f"{name}_wall={wall:.0f}s {name}_ratio={wall / local_wall:.2f} {name}_slurm_jobs={jobs} "
                  f"{name}_arrays={arrays} results_equal_local={same}", flush=True)
            if not same:
                return 1
    finally:
        cluster.stop()
    print(f"runs kept in {parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
