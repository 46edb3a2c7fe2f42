"""Which distributions each rule's job imports, derived from the code, against its conda env.

A rule's job runs its entry (the `script:` file, the `python -m axilla.x` module of a `shell:`
rule, or the `run:` block) in the env its `conda:` names. From the entry this follows every import
the code can reach through the axilla package: module-level and lazy (inside functions), relative
ones, `importlib.import_module("x")` with a constant name and `[sys.executable, "-m", "x", ...]`
argument lists (a subprocess `python -m x` in the job's own interpreter; `-m snakemake` there also
needs what the Snakefile imports while parsing). Imports under `if TYPE_CHECKING:` do
not count; imports inside a `try:` that catches ImportError are optional (reported, not required).
Top-level import names map to distributions through `importlib.metadata.packages_distributions()`
of the interpreter running this (the project's venv, where every declared dependency is installed);
an env holds a distribution when its pip list names it or pulls it in (`importlib.metadata.requires`,
transitively), since pip installs those.

    python tests/envcheck.py            # static: every rule's env file lists what it needs
    python tests/envcheck.py --venv     # also build each env into a fresh virtualenv and import
                                        # every rule's reachable modules inside it (make check-envs)
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata as md
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "workflow"
PACKAGE = "axilla"
IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}


def norm(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


# ---------------------------------------------------------------- rules and their entries


@dataclass(frozen=True)
class Rule:
    name: str
    env: str  # the env file's name, e.g. "stats.yaml"
    entry: Path  # the file whose code the job runs first
    module: str | None  # its module name when the job runs a package module (`python -m`)
    code: str | None = None  # the `run:` block's code, when the rule has one


def rules(root: Path = ROOT) -> list[Rule]:
    """Every rule of workflow/rules/*.smk with its env and entry."""
    out = []
    for smk in sorted((root / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text()
        heads = list(re.finditer(r"^([ \t]*)rule (\w+):", text, flags=re.M))
        for head, nxt in zip(heads, heads[1:] + [None]):
            block = text[head.end(): nxt.start() if nxt else len(text)]
            out.append(_rule(head.group(2), block, smk))
    return out


def _rule(name: str, block: str, smk: Path) -> Rule:
    conda = re.search(r'conda:\s*\n\s*"([^"]+)"', block)
    assert conda, f"rule {name} ({smk.name}) names no conda env"
    env = Path(conda.group(1)).name
    if script := re.search(r'script:\s*\n\s*"([^"]+)"', block):
        return Rule(name, env, (smk.parent / script.group(1)).resolve(), None)
    if shell := re.search(r"shell:(.*)", block, flags=re.S):
        module = re.search(r"-m\s+([\w.]+)", shell.group(1))
        assert module, f"rule {name}: its shell command runs no `python -m` module"
        return Rule(name, env, module_file(module.group(1), smk.parents[2]), module.group(1))
    run = re.search(r"^([ \t]*)run:[ \t]*\n((?:\1[ \t]+.*\n|[ \t]*\n)*)", block, flags=re.M)
    assert run, f"rule {name}: no script:, shell: or run: found"
    return Rule(name, env, smk, None, textwrap.dedent(run.group(2)))


def module_file(module: str, root: Path = ROOT) -> Path:
    """The file `python -m module` runs: a package's __main__.py, else the module itself."""
    base = root / "workflow" / Path(*module.split("."))
    for path in (base / "__main__.py", base.with_suffix(".py")):
        if path.exists():
            return path
    raise FileNotFoundError(f"no module {module} under workflow/")


# ---------------------------------------------------------------- imports of one file


@dataclass(frozen=True)
class Import:
    module: str  # absolute dotted name
    names: tuple[str, ...]  # `from module import names`; () for `import module`
    optional: bool  # inside a try that catches ImportError
    where: str  # file:line
    runs: bool = False  # a `python -m module` command line rather than an import


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _catches_import_error(handlers: list[ast.ExceptHandler]) -> bool:
    def names(t):
        if t is None:
            return {"BaseException"}
        if isinstance(t, ast.Tuple):
            return set().union(*(names(e) for e in t.elts))
        return {t.id if isinstance(t, ast.Name) else getattr(t, "attr", "")}
    return any(names(h.type) & (IMPORT_ERRORS | {"Exception", "BaseException"}) for h in handlers)


class _Collector:
    """Walks one tree; `package` is the package relative imports resolve against."""

    def __init__(self, package: str, label: str):
        self.package, self.label, self.found = package, label, []

    def visit(self, node: ast.AST, optional: bool = False) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:  # the TYPE_CHECKING body never runs
                self.visit(child, optional)
            return
        if isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            guarded = optional or _catches_import_error(node.handlers)
            for child in node.body:
                self.visit(child, guarded)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                self.visit(child, optional)
            return
        self._record(node, optional)
        for child in ast.iter_child_nodes(node):
            self.visit(child, optional)

    def _record(self, node: ast.AST, optional: bool) -> None:
        add = lambda module, names=(), runs=False: self.found.append(  # noqa: E731
            Import(module, tuple(names), optional, f"{self.label}:{getattr(node, 'lineno', '?')}", runs))
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            add(self._absolute(node), [a.name for a in node.names])
        elif isinstance(node, ast.Call) and _call_name(node) == "import_module" and node.args:
            if isinstance(arg := node.args[0], ast.Constant) and isinstance(arg.value, str):
                add(arg.value.lstrip(".") if not arg.value.startswith(".") else self.package + arg.value)
        elif isinstance(node, (ast.List, ast.Tuple)):
            items = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
            for i, (flag, module) in enumerate(zip(items, items[1:])):
                if flag == "-m" and isinstance(module, str) and i and _job_python(node.elts[i - 1]):
                    add(module, runs=True)

    def _absolute(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        parts = self.package.split(".")
        anchor = parts[: len(parts) - node.level + 1]
        return ".".join(anchor + ([node.module] if node.module else []))


def _job_python(node: ast.expr) -> bool:
    """`sys.executable` or a bare "python": the job's own interpreter (its env's). Another one (an
    argument, e.g. the interpreter running Snakemake) brings its own packages."""
    if isinstance(node, ast.Attribute):
        return node.attr == "executable" and isinstance(node.value, ast.Name) and node.value.id == "sys"
    return isinstance(node, ast.Constant) and node.value in ("python", "python3")


def _call_name(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else getattr(f, "attr", "")


def file_imports(path: Path, package: str = "", code: str | None = None) -> list[Import]:
    """Every import in a file (or in `code`, a `run:` block), module-level and lazy."""
    text = code if code is not None else path.read_text()
    return list(_parsed(str(path), package, text))


@cache  # a rule's job reaches most of the package: parse each file once
def _parsed(path: str, package: str, text: str) -> tuple[Import, ...]:
    where = Path(path)
    collector = _Collector(package, where.relative_to(ROOT).as_posix() if where.is_relative_to(ROOT) else path)
    collector.visit(ast.parse(text))
    return tuple(collector.found)


IMPORT_LINE = re.compile(r"^[ \t]*(from[ \t]+[\w.]+[ \t]+import[ \t]+(?:\([^)]*\)|.*)|import[ \t]+.*)$", re.M)


def workflow_imports(root: Path = ROOT) -> list[Import]:
    """The imports of the Snakefile and workflow/rules/*.smk: what a job running `snakemake` on this
    workflow (the rule graph of the report) imports while parsing it."""
    out = []
    for path in [root / "Snakefile", *sorted((root / "workflow" / "rules").glob("*.smk"))]:
        text = path.read_text()
        for m in IMPORT_LINE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            for imp in file_imports(path, "", m.group(1)):
                out.append(Import(imp.module, imp.names, imp.optional, f"{imp.where.rpartition(':')[0]}:{line}"))
    return out


# ---------------------------------------------------------------- the axilla package


@dataclass
class Package:
    """The axilla package's modules, found from its files."""

    root: Path = WORKFLOW
    files: dict[str, Path] = field(default_factory=dict)
    _bound: dict[str, tuple[frozenset[str], bool]] = field(default_factory=dict)

    def __post_init__(self):
        for path in sorted((self.root / PACKAGE).rglob("*.py")):
            parts = path.relative_to(self.root).with_suffix("").parts
            self.files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def is_package(self, module: str) -> bool:
        return self.files[module].name == "__init__.py"

    def package_of(self, module: str) -> str:
        return module if self.is_package(module) else module.rpartition(".")[0]

    def parents(self, module: str) -> list[str]:
        parts = module.split(".")
        return [".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in self.files]

    def submodules(self, package: str) -> list[str]:
        return [m for m in self.files if m.rpartition(".")[0] == package and m != package]

    def top_level(self, module: str) -> tuple[frozenset[str], bool]:
        """Names a module binds at top level, and whether it has a PEP 562 `__getattr__`."""
        if module in self._bound:
            return self._bound[module]
        names = set()
        for node in ast.parse(self.files[module].read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        self._bound[module] = frozenset(names), "__getattr__" in names
        return self._bound[module]

    def targets(self, imp: Import) -> list[str]:
        """The axilla modules an import runs (parents first: importing a module runs its packages)."""
        base = imp.module
        while base and base not in self.files:  # `import axilla.x.attr`-like: the longest module
            base = base.rpartition(".")[0]
        out = self.parents(base) if base else []
        for name in imp.names or ([""] if base in self.files else []):
            out += self._name_targets(base, name)
        return out

    def _name_targets(self, base: str, name: str) -> list[str]:
        if name and f"{base}.{name}" in self.files:
            return self._whole(f"{base}.{name}")
        if not name:
            return self._whole(base)
        bound, lazy = self.top_level(base) if self.is_package(base) else (frozenset(), False)
        if lazy and name not in bound:  # a lazily re-exported name: the submodule defining it
            return [m for m in self.submodules(base) if name in self.top_level(m)[0]]
        return [base]

    def _whole(self, module: str) -> list[str]:
        """A module bound as a whole; a lazy package's attributes may then load any submodule."""
        if self.is_package(module) and self.top_level(module)[1]:
            return [module] + self.submodules(module)
        return [module]


# ---------------------------------------------------------------- what a rule reaches


@dataclass
class Reach:
    modules: set[str] = field(default_factory=set)  # axilla modules
    required: dict[str, list[str]] = field(default_factory=dict)  # top-level name -> where
    optional: dict[str, list[str]] = field(default_factory=dict)


def reach(rule: Rule, pkg: Package | None = None) -> Reach:
    """Every axilla module and third-party import name the rule's job can reach."""
    pkg = pkg or Package()
    out = Reach()
    todo = []
    if rule.module:
        todo += pkg.parents(rule.module)
        if rule.entry.name == "__main__.py":
            todo.append(rule.module + ".__main__")
    imports = [] if rule.module else file_imports(rule.entry, "", rule.code)
    parsed = False
    while True:
        for imp in imports:  # (a list grown while iterated: the loop sees the additions)
            _note(imp, pkg, out, todo)
            if imp.runs and imp.module == "snakemake" and not parsed:
                parsed = True
                imports.extend(workflow_imports(pkg.root.parent))
        todo = [m for m in todo if m not in out.modules]
        if not todo:
            out.optional = {k: v for k, v in out.optional.items() if k not in out.required}
            return out
        module = todo.pop()
        out.modules.add(module)
        imports = file_imports(pkg.files[module], pkg.package_of(module))


def _note(imp: Import, pkg: Package, out: Reach, todo: list[str]) -> None:
    top = imp.module.split(".")[0]
    if top == PACKAGE:
        todo.extend(pkg.targets(imp))
    elif top and top not in sys.stdlib_module_names:
        (out.optional if imp.optional else out.required).setdefault(top, []).append(imp.where)


# ---------------------------------------------------------------- distributions and env files


@cache
def _import_names() -> dict[str, tuple[str, ...]]:
    return {k: tuple(norm(d) for d in v) for k, v in md.packages_distributions().items()}


def distributions(name: str) -> tuple[str, ...]:
    """The distributions that provide a top-level import name (any one of them will do)."""
    return _import_names().get(name, ())


def env_pip(env_file: Path) -> list[str]:
    """The requirement lines of an env file's pip list."""
    spec = yaml.safe_load(env_file.read_text())
    return next((d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d), [])


@cache
def _requires(dist: str, extras: frozenset[str] = frozenset()) -> frozenset[str]:
    out = set()
    for line in md.requires(dist) or []:
        req = Requirement(line)
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras | {""}):
            out.add((norm(req.name), frozenset(req.extras)))
    return frozenset(out)


def closure(requirements: list[str]) -> set[str]:
    """Distributions pip installs for these requirement lines (their dependencies, transitively),
    from the metadata of this interpreter's installed distributions."""
    todo = [(norm(r.name), frozenset(r.extras)) for r in map(Requirement, requirements)]
    seen: set[tuple[str, frozenset]] = set()
    while todo:
        item = todo.pop()
        if item in seen:
            continue
        seen.add(item)
        try:
            todo.extend(_requires(*item))
        except md.PackageNotFoundError:
            raise RuntimeError(f"{item[0]} is not installed here: run `make install` first") from None
    return {name for name, _ in seen}


@dataclass(frozen=True)
class Finding:
    rule: str
    env: str
    missing: dict[str, list[str]]  # distribution (or import name when none provides it) -> where
    optional_missing: dict[str, list[str]]
    present: list[str]  # distributions needed and present


def check(envs_dir: Path = ROOT / "envs", root: Path = ROOT) -> list[Finding]:
    """One finding per rule: the distributions its job needs that its env file lacks."""
    pkg, out = Package(root / "workflow"), []
    held = {}
    for rule in rules(root):
        if rule.env not in held:
            held[rule.env] = closure(env_pip(envs_dir / rule.env))
        r = reach(rule, pkg)
        miss, opt, ok = {}, {}, []
        for names, into in ((r.required, miss), (r.optional, opt)):
            for name, where in sorted(names.items()):
                dists = distributions(name) or (name,)
                if set(dists) & held[rule.env]:
                    ok += [d for d in dists if d in held[rule.env]]
                else:
                    into[dists[0]] = where
        out.append(Finding(rule.name, rule.env, miss, opt, sorted(set(ok))))
    return out


def describe(finding: Finding) -> str:
    head = f"rule {finding.rule} ({finding.env})"
    lines = [f"{head}: {d} missing (imported at {', '.join(w[:3])})" for d, w in finding.missing.items()]
    lines += [f"{head}: optional {d} absent ({', '.join(w[:3])})" for d, w in finding.optional_missing.items()]
    return "\n".join(lines) or f"{head}: OK"


# ---------------------------------------------------------------- fresh virtualenvs (make check-envs)

PROBE = """
import importlib, json, sys
out = {}
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
        out[name] = "OK"
    except Exception as e:  # ImportError, or whatever a broken install raises on import
        out[name] = f"{type(e).__name__}: {e}"
print(json.dumps(out))
"""


def build_venv(env_file: Path, where: Path) -> Path:
    """A fresh virtualenv holding the env file's pip list; its python. (What `--use-conda` gives a
    job, these envs being python + pip lists; pip itself at the env's version when the package
    index has it, else the newest it has.)"""
    subprocess.run([_base_python(), "-m", "venv", str(where)], check=True)
    python = str(where / "bin" / "python")
    pins = [d for d in yaml.safe_load(env_file.read_text())["dependencies"] if isinstance(d, str)]
    pip = next((f"pip=={d.split('=', 1)[1]}" for d in pins if d.startswith("pip=")), "pip")
    quiet = dict(check=False, capture_output=True)
    if subprocess.run([python, "-m", "pip", "install", "--quiet", pip], **quiet).returncode:
        print(f"  ({pip} is not in the package index; the newest pip it has instead)", flush=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], **quiet)
    res = subprocess.run([python, "-m", "pip", "install", "--quiet", *env_pip(env_file)], text=True, **quiet)
    if res.returncode:  # pip's own output only then (it warns about every absent index folder)
        raise RuntimeError(f"{env_file.name}: pip install failed:\n{res.stdout[-3000:]}{res.stderr[-3000:]}")
    return Path(python)


def _base_python() -> str:
    """The interpreter the project's venv was made from: `-m venv` from inside a venv nests fine,
    but the base one keeps the fresh env free of anything this venv added."""
    exe = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    return str(exe) if exe.exists() else "python3"


def probe(python: Path, modules: list[str], root: Path = ROOT) -> dict[str, str]:
    """Import each module in that interpreter with PYTHONPATH=workflow; name -> OK or the error."""
    import json

    if not modules:
        return {}

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONPATH"] = str(root / "workflow")
    res = subprocess.run([str(python), "-c", PROBE, json.dumps(modules)], capture_output=True, text=True,
                         cwd=root, env=env, check=False)
    if res.returncode:
        return {m: f"probe crashed: {res.stderr[-500:]}" for m in modules}
    return json.loads(res.stdout.strip().splitlines()[-1])


def importable(r: Reach) -> tuple[list[str], list[str]]:
    """What to import for a rule: its axilla modules (not a `__main__`, which would run) and the
    third-party names its code imports lazily too; then the optional names."""
    modules = sorted(m for m in r.modules if not m.endswith(".__main__"))
    return modules + sorted(r.required), sorted(r.optional)


def check_venvs(envs_dir: Path = ROOT / "envs", root: Path = ROOT) -> int:
    """Build every env into a fresh virtualenv; import each of its rules' reachable modules."""
    pkg, failed = Package(root / "workflow"), 0
    by_env: dict[str, list[Rule]] = {}
    for rule in rules(root):
        by_env.setdefault(rule.env, []).append(rule)
    for env, env_rules in sorted(by_env.items()):
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"check-env-{Path(env).stem}-") as tmp:
            python = build_venv(envs_dir / env, Path(tmp) / "venv")
            print(f"{env}: built in {time.perf_counter() - start:.0f} s", flush=True)
            wanted = {rule.name: importable(reach(rule, pkg)) for rule in env_rules}
            # one interpreter per env imports the union (a failed import is retried, not cached,
            # so each rule's modules still answer for themselves)
            got = probe(python, sorted({m for req, opt in wanted.values() for m in req + opt}), root)
            for rule in env_rules:
                required, optional = wanted[rule.name]
                failed += _report(rule, {m: got[m] for m in required}, {m: got[m] for m in optional})
            print(f"{env}: checked in {time.perf_counter() - start:.0f} s", flush=True)
    return failed


def _report(rule: Rule, required: dict[str, str], optional: dict[str, str]) -> int:
    bad = {m: e for m, e in required.items() if e != "OK"}
    absent = [m for m, e in optional.items() if e != "OK"]
    note = f" (optional, absent: {', '.join(absent)})" if absent else ""
    if not bad:
        print(f"  rule {rule.name}: OK, {len(required)} imports{note}", flush=True)
        return 0
    for module, error in bad.items():
        print(f"  rule {rule.name}: FAIL import {module}: {error}", flush=True)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", action="store_true", help="also import inside a fresh virtualenv per env")
    parser.add_argument("--envs", type=Path, default=ROOT / "envs", help="folder of the env files")
    args = parser.parse_args(argv)
    findings = check(args.envs)
    for f in findings:
        print(describe(f))
    failed = sum(bool(f.missing) for f in findings)
    if args.venv:
        start = time.perf_counter()
        failed += check_venvs(args.envs)
        print(f"check-envs: fresh virtualenvs took {time.perf_counter() - start:.0f} s")
    print("check-envs: " + ("OK" if not failed else f"{failed} rule check(s) failed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
