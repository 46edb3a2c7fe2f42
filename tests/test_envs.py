"""envs/*.yaml pin exactly the versions pyproject.toml declares, and every rule names one of them."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines):
    out = {}
    for spec in lines:
        m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)", spec)
        assert m, f"dependency '{spec}' is not pinned with =="
        out[_norm(m.group(1))] = m.group(2)
    return out


def test_env_pins_match_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _pins(project["dependencies"])
    envs = sorted((ROOT / "envs").glob("*.yaml"))
    assert {e.stem for e in envs} >= {"imaging", "deep", "stats"}
    for env in envs:
        spec = yaml.safe_load(env.read_text())
        assert "conda-forge" in spec["channels"]
        pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
        for name, version in _pins(pip).items():
            assert name in declared, f"{env.name}: {name} is not a dependency in pyproject.toml"
            assert version == declared[name], f"{env.name}: {name}=={version} but pyproject pins {declared[name]}"
        python = [d for d in spec["dependencies"] if isinstance(d, str) and d.startswith("python=")]
        assert python == ["python=3.11"]


def test_every_rule_has_conda_log_benchmark_and_existing_env():
    text = "".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    rules = re.findall(r"^\s*rule (\w+):", text, flags=re.M)
    assert len(rules) >= 12
    for block in re.split(r"^\s*rule \w+:", text, flags=re.M)[1:]:
        for directive in ("log:", "benchmark:", "conda:", "threads:", "resources:"):
            assert directive in block
    for env in re.findall(r'conda:\s*\n\s*"([^"]+)"', text):
        assert (ROOT / "workflow" / "rules" / env).resolve().exists(), env
