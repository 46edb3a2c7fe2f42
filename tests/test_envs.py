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


# ------------------------------------------------------------ each rule's env holds what its code imports

import shutil  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402

import pytest  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
import envcheck  # noqa: E402


def test_every_rule_env_holds_what_its_code_imports():
    findings = envcheck.check()
    assert {f.rule for f in findings} >= {"deep", "deep_table", "validate", "preprocess", "radiomics", "report",
                                         "rulegraph", "train", "select", "evaluate", "demo"}
    missing = [envcheck.describe(f) for f in findings if f.missing]
    assert not missing, "\n".join(missing)


def test_every_distribution_the_package_imports_is_declared():
    """Imported directly means declared directly: a distribution that only arrives as another
    one's dependency (joblib via scikit-learn, networkx via scikit-image) may stop arriving."""
    declared = set(_pins(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]))
    undeclared = {}
    for rule in envcheck.rules():
        for name, where in envcheck.reach(rule).required.items():
            dists = envcheck.distributions(name) or (name,)
            if not set(dists) & declared:
                undeclared[dists[0]] = where[0]
    assert not undeclared, f"imported but not in pyproject.toml's dependencies: {undeclared}"


@pytest.mark.parametrize("env, dist, rules", [
    ("stats.yaml", "networkx", {"report", "rulegraph"}),  # report.dag's fallback layout
    ("deep.yaml", "matplotlib", {"deep"}),  # Grad-CAM PNGs (deep/cam.py)
    ("deep.yaml", "monai", {"deep"}),
    ("imaging.yaml", "pyradiomics-bhklab", {"radiomics"}),
])
def test_check_names_a_removed_package(tmp_path, env, dist, rules):
    envs = shutil.copytree(ROOT / "envs", tmp_path / "envs")
    lines = (envs / env).read_text().splitlines(keepends=True)
    kept = [x for x in lines if not x.strip().startswith(f"- {dist}==")]
    assert len(kept) == len(lines) - 1
    (envs / env).write_text("".join(kept))
    broken = {f.rule: f for f in envcheck.check(envs) if f.missing}
    assert set(broken) >= rules and {f.env for f in broken.values()} == {env}
    for rule in rules:
        assert dist in broken[rule].missing and dist in envcheck.describe(broken[rule])
    assert envcheck.main(["--envs", str(envs)]) == 1
    assert envcheck.main([]) == 0


def test_closure_follows_requirements_transitively():
    # scikit-image requires networkx, lazy-loader, imageio, tifffile (its published metadata);
    # imageio requires pillow: a dependency of a dependency
    got = envcheck.closure(["scikit-image==0.26.0"])
    assert {"scikit-image", "networkx", "lazy-loader", "imageio", "tifffile", "pillow", "numpy"} <= got
    assert "torch" not in got and "pytest" not in got  # nor extras' requirements


# ------------------------------------------------------------ the derivation on a project written here

def _project(root):
    """A tiny workflow: one script rule, one `python -m` shell rule, one run: rule."""
    files = {
        "workflow/rules/a.smk": '''
            rule scripted:
                conda:
                    "../../envs/one.yaml"
                script:
                    "../scripts/s.py"


            rule shelled:
                conda:
                    "../../envs/one.yaml"
                shell:
                    "{params.python} -m axilla.tool --out {output:q}"


            rule inline:
                conda:
                    "../../envs/two.yaml"
                run:
                    import yaml
                    print(1)
            ''',
        "workflow/scripts/s.py": "from axilla import lazy\nfrom axilla.lazy import light\nlight()\n",
        "workflow/axilla/__init__.py": "",
        # a PEP 562 package: `from axilla.lazy import light` loads only axilla.lazy.one
        "workflow/axilla/lazy/__init__.py": "def __getattr__(name):\n    raise AttributeError(name)\n",
        "workflow/axilla/lazy/one.py": "from . import helper\ndef light():\n    import sklearn\n",
        "workflow/axilla/lazy/two.py": "import torch\n",
        "workflow/axilla/lazy/helper.py": '''
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                import PIL
            else:
                import yaml
            try:
                import nibabel
            except ImportError:
                nibabel = None
            ''',
        "workflow/axilla/tool/__init__.py": "from ..lazy.helper import *\n",
        "workflow/axilla/tool/__main__.py": '''
            import importlib, subprocess, sys
            def go(python):
                importlib.import_module("matplotlib")
                subprocess.run([sys.executable, "-m", "statsmodels.api"])
                subprocess.run([python, "-m", "monai"])  # another interpreter: not this env's
            ''',
        "workflow/axilla/tool/unused.py": "import lightgbm\n",
    }
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def test_reach_follows_lazy_relative_and_pep562_imports(tmp_path):
    root = _project(tmp_path)
    pkg = envcheck.Package(root / "workflow")
    got = {r.name: envcheck.reach(r, pkg) for r in envcheck.rules(root)}
    assert {r.name: r.env for r in envcheck.rules(root)} == {"scripted": "one.yaml", "shelled": "one.yaml",
                                                             "inline": "two.yaml"}
    # `from axilla import lazy` binds the whole lazy package: any submodule may load through it
    assert got["scripted"].modules == {"axilla", "axilla.lazy", "axilla.lazy.one", "axilla.lazy.two",
                                       "axilla.lazy.helper"}
    assert set(got["scripted"].required) == {"sklearn", "torch", "yaml"}  # PIL under TYPE_CHECKING only
    assert set(got["scripted"].optional) == {"nibabel"}
    assert got["shelled"].modules == {"axilla", "axilla.tool", "axilla.tool.__main__", "axilla.lazy",
                                      "axilla.lazy.helper"}
    assert set(got["shelled"].required) == {"yaml", "matplotlib", "statsmodels"}
    assert set(got["inline"].required) == {"yaml"} and not got["inline"].modules


def test_pep562_name_loads_only_its_submodule(tmp_path):
    root = _project(tmp_path)
    (root / "workflow/scripts/s.py").write_text("from axilla.lazy import light\n")
    rule = next(r for r in envcheck.rules(root) if r.name == "scripted")
    r = envcheck.reach(rule, envcheck.Package(root / "workflow"))
    assert "axilla.lazy.two" not in r.modules and "torch" not in r.required


def test_check_maps_import_names_to_distributions(tmp_path):
    root = _project(tmp_path)
    (root / "envs").mkdir()
    pip = lambda *lines: "dependencies:\n  - python=3.11\n  - pip:\n" + "".join(f"      - {x}\n" for x in lines)  # noqa: E731
    # scikit-image brings networkx, imageio, pillow, not PyYAML; pingouin brings statsmodels, matplotlib
    (root / "envs/one.yaml").write_text(pip("scikit-learn==1.9.1", "torch==2.13.0", "pingouin==0.7.0"))
    (root / "envs/two.yaml").write_text(pip("scikit-image==0.26.0"))
    got = {f.rule: f for f in envcheck.check(root / "envs", root)}
    assert set(got["scripted"].missing) == {"pyyaml"} and set(got["scripted"].optional_missing) == {"nibabel"}
    assert set(got["shelled"].missing) == {"pyyaml"}
    assert set(got["inline"].missing) == {"pyyaml"}
    assert {"scikit-learn", "torch"} <= set(got["scripted"].present)
    assert {"matplotlib", "statsmodels"} <= set(got["shelled"].present)


def test_probe_reports_each_import(tmp_path):
    got = envcheck.probe(Path(sys.executable), ["json", "axilla.errors", "surely_no_such_module"])
    assert got["json"] == "OK" and got["axilla.errors"] == "OK"
    assert got["surely_no_such_module"].startswith("ModuleNotFoundError")


@pytest.mark.slow
def test_fresh_virtualenv_import_names_what_is_missing(tmp_path, capsys):
    """The dynamic half of `make check-envs`, on the project above: both envs hold PyYAML only."""
    root = _project(tmp_path)
    (root / "envs").mkdir()
    for env in ("one.yaml", "two.yaml"):
        (root / "envs" / env).write_text("dependencies:\n  - python=3.11\n  - pip=25.3\n  - pip:\n"
                                         "      - pyyaml==6.0.3\n")
    assert envcheck.check_venvs(root / "envs", root) == 2
    out = capsys.readouterr().out
    assert "rule inline: OK" in out
    assert "rule scripted: FAIL import sklearn: ModuleNotFoundError" in out
    assert "rule scripted: FAIL import torch: ModuleNotFoundError" in out
    assert "rule shelled: FAIL import matplotlib: ModuleNotFoundError" in out
    assert "rule shelled: OK" not in out and "axilla.tool.__main__" not in out  # a __main__ is never run
