"""A pytest plugin: CPU seconds of each test, its subprocesses included (getrusage of this process
and its waited-for children, before and after the test), so a shared study run is counted to the
test that made it. `make test-cpu` loads it and prints the files by CPU (issue 14: the suite is
CPU-bound on two cores, so its wall time follows the sum of these).

    PYTHONPATH=tests python -m pytest -p cpuprof ...     # rows appended to $CPUPROF (default test-cpu.tsv)
    python tests/cpuprof.py test-cpu.tsv                  # CPU by test file, largest first
"""

from __future__ import annotations

import collections
import os
import resource
import sys
import time

import pytest


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    cpu, wall = _cpu(), time.time()
    yield
    with open(os.environ.get("CPUPROF", "test-cpu.tsv"), "a") as f:  # one line per write: workers share it
        f.write(f"{item.nodeid}\t{_cpu() - cpu:.2f}\t{time.time() - wall:.2f}\n")


def by_file(path: str) -> list[tuple[str, float]]:
    totals: collections.Counter = collections.Counter()
    with open(path) as f:
        for line in f:
            nodeid, cpu, _ = line.rstrip("\n").split("\t")
            totals[nodeid.split("::")[0]] += float(cpu)
    return totals.most_common()


if __name__ == "__main__":
    # python tests/cpuprof.py [TSV [TOP]]: the total, then the TOP files (all when not given)
    rows = by_file(sys.argv[1] if len(sys.argv) > 1 else "test-cpu.tsv")
    top = int(sys.argv[2]) if len(sys.argv) > 2 else len(rows)
    print(f"{sum(c for _, c in rows):8.1f}  all")
    for name, cpu in rows[:top]:
        print(f"{cpu:8.1f}  {name}")
