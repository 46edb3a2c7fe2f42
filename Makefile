# Two entry points on a fresh machine: `make demo` (the whole study on the demo cohort) and
# `make test` (the test suite). Both create .venv and install axilla into it when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell $(PYTHON) -c "import hashlib,sys;print(hashlib.sha1(open('pyproject.toml','rb').read()).hexdigest()[:12])")
CORES ?= all

.PHONY: demo test test-cpu test-slurm bench-slurm slurm-plugin install dag clean bench bench-preprocess bench-scaling check-envs weights

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

# Two pytest workers: the suite's workflow runs and its unit tests overlap on two cores; tests that
# share a cached study run (tests/smallstudy.py) are one group, so that run is made once.
# The SLURM test is left to `make test-slurm` (minutes; it installs slurm-wlm and runs daemons).
test: $(STAMP) slurm-plugin
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not slurm" --durations=15

# The same suite with each test's CPU seconds (subprocesses included) recorded, then CPU per test file
# (tests/cpuprof.py; the suite is CPU-bound on two cores, so this is where its time goes).
test-cpu: $(STAMP) slurm-plugin
	rm -f test-cpu.tsv
	CPUPROF=$(CURDIR)/test-cpu.tsv PYTHONPATH=tests $(BIN)/python -m pytest -p cpuprof -n 2 --dist loadgroup -m "not slurm" -q
	$(BIN)/python tests/cpuprof.py test-cpu.tsv 25

# The SLURM executor plugin, pinned and without its dependencies (profiles/slurm/requirements.txt
# says why; README: Running on SLURM).
slurm-plugin: $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps -r profiles/slurm/requirements.txt

# The small study through profiles/slurm on a one-node SLURM the test builds (root; README: Running on SLURM).
test-slurm: slurm-plugin
	$(BIN)/python -m pytest -m slurm -s tests/test_slurm.py

# Per-image jobs as job arrays vs group: batches through the test SLURM, against a local run (README:
# Running on SLURM). About 20 min on 2 cores; root.
bench-slurm: slurm-plugin
	$(BIN)/python tests/slurmbench.py

# Each env in envs/ built from its pip list into a fresh virtualenv (what --use-conda gives a job), and
# every rule's reachable modules imported inside it, after the static check that each env file lists
# what its rules import (tests/envcheck.py; README: Development). Minutes: it installs torch & co.
check-envs: $(STAMP)
	PYTHONPATH=workflow $(BIN)/python tests/envcheck.py --venv

# Seconds per image per modality/view with config/config.yaml's preprocessing (README: Benchmarks).
bench-preprocess: $(STAMP)
	PYTHONPATH=workflow $(BIN)/python -m axilla.bench preprocess --config config/config.yaml --n 3 --breast1 tests/data/pyradiomics

# Radiomics stage vs a bare pyradiomics loop on 20 demo images, deep-feature throughput (README: Benchmarks).
bench: $(STAMP)
	PYTHONPATH=workflow $(BIN)/python -m axilla.bench

# Pretrained ImageNet weights into the cache ($$AXILLA_WEIGHTS, default ~/.cache/axilla/weights), each
# checked against its pinned hash (resources/weights.yaml; README: Pretrained weights). NAMES="resnet18
# vgg19" for some; every entry with a download URL when NAMES is empty.
NAMES ?=
weights: $(STAMP)
	PYTHONPATH=workflow $(BIN)/python -m axilla.weights fetch $(if $(strip $(NAMES)),$(NAMES),--all)

# The whole demo study at 60 and 120 patients with all cores (wall, job CPU, parallel_efficiency,
# per-rule job costs), then `snakemake -n` time for 1,000 and 5,000 (README: Benchmarks). About 35 min
# on 2 cores; SIZES="60 120 240" DAG="1000 5000" to choose. 30 demo patients stop at validation: the
# demo's 5-fold LASSO needs 7 node-positive training patients and 30 give 4.
SIZES ?= 60 120
DAG ?= 1000 5000
# the README's cluster cost table: this study at 866 patients (seed 002), from the largest size's job costs
PROJECT ?= config/presets/us_tumor_node.yaml
bench-scaling: $(STAMP)
	PYTHONPATH=workflow $(BIN)/python -m axilla.bench scaling --sizes $(SIZES) --dag $(DAG) --project $(PROJECT)

dag: $(STAMP)
	$(BIN)/snakemake --rulegraph | dot -Tsvg > dag.svg

clean:
	rm -rf results resources/demo .snakemake
