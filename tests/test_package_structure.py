"""The package's shape: no import cycle between its modules, short functions, modules of one idea.

Imports inside functions count: a lazy import that closes a cycle still means two modules that
cannot be understood (or imported first) one without the other.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "workflow"
PKG = ROOT / "axilla"
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 500
WAIVER = "# long:"  # a comment on the line above a def (or atop a module) that says why it is longer


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The axilla modules ``path`` imports, anywhere in it (``from .x import y`` and
    ``from . import x`` both resolved to modules)."""
    name = _module_name(path)
    package = name if _is_package(path) else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                target = f"{base}.{alias.name}"
                out.add(target if target in modules else base)
    return {m for m in out if m in modules and m != name}


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PKG.rglob("*.py")}
    return {m: _imports(p, set(files)) for m, p in files.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_between_package_modules():
    # a package's __init__ imports its submodules (re-exports), so a submodule importing its own
    # package (``from axilla.select import x`` inside axilla.select.lasso) closes a cycle too
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_submodules_import_siblings_not_their_package():
    files = {_module_name(p): p for p in PKG.rglob("*.py")}
    offenders = [m for m, p in files.items() if not _is_package(p) and m.count(".") > 1
                 and m.rpartition(".")[0] in _imports(p, set(files))]
    assert offenders == []


def _waived(lines: list[str], lineno: int) -> bool:
    above = lines[lineno - 2] if lineno >= 2 else ""
    return above.strip().startswith(WAIVER)


def test_functions_are_short():
    long = []
    for path in sorted(PKG.rglob("*.py")):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES and not _waived(lines, start):
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({n} lines)")
    assert long == [], "functions over 60 lines without a '# long:' reason:\n" + "\n".join(long)


def test_modules_hold_one_idea():
    long = []
    for path in sorted(PKG.rglob("*.py")):
        lines = path.read_text().splitlines()
        if len(lines) > MAX_MODULE_LINES and not any(line.startswith(WAIVER) for line in lines[:5]):
            long.append(f"{path.relative_to(ROOT)} ({len(lines)} lines)")
    assert long == [], "modules over 500 lines without a '# long:' reason:\n" + "\n".join(long)
