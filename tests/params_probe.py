"""Run as `python tests/params_probe.py WORKDIR`: builds the workflow's DAG in WORKDIR (every job,
as with --forceall) through Snakemake's API and prints, per job, what Snakemake's params rerun
trigger records (its own serializer) and which params it cannot record, as JSON."""

import json
import os
import sys
from pathlib import Path

from snakemake.api import SnakemakeApi
from snakemake.persistence import UNREPRESENTABLE
from snakemake.settings.types import DAGSettings, OutputSettings, ResourceSettings


def jobs_params(workdir: str) -> dict:
    os.chdir(workdir)
    out = {}
    with SnakemakeApi(OutputSettings()) as api:
        wf = api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=Path("Snakefile"))
        wf.dag(dag_settings=DAGSettings(forceall=True))
        w = wf._workflow
        w._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True, nolock=True)
        w._build_dag()
        for job in w.dag.jobs:
            recorded = [w.persistence._serialize_param(v) for v in job.params]
            key = f"{job.rule.name}[{','.join(f'{k}={v}' for k, v in sorted(job.wildcards_dict.items()))}]"
            out[key] = {"recorded": sorted(r for r in recorded if r is not UNREPRESENTABLE),
                        "unrecorded": sorted(n for n, v in job.params.items()
                                             if w.persistence._serialize_param(v) is UNREPRESENTABLE)}
    return out


if __name__ == "__main__":
    print("PARAMS " + json.dumps(jobs_params(sys.argv[1])))
