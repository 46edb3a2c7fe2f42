"""Faults: outputs appear only when complete, and a study killed mid-way resumes to the same results,
recomputing only what had not finished."""

import ast
from pathlib import Path

import pytest

import smallstudy
from axilla.io import atomic_path, write_csv

PKG = Path(__file__).resolve().parents[1] / "workflow" / "axilla"


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out" / "table.csv"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half a ta")
            raise RuntimeError("killed")
    assert list((tmp_path / "out").iterdir()) == []
    write_csv(__import__("pandas").DataFrame({"a": [1.5]}), target)
    assert target.read_text() == "a\n1.5\n" and [p.name for p in target.parent.iterdir()] == ["table.csv"]


# Calls that write a file; each must target a temporary path from atomic_path (or the demo
# generator's own temp-and-rename helpers), never the final output directly.
WRITERS = {"to_csv", "write_text", "write_bytes", "WriteImage", "savefig", "save", "dump", "to_excel",
           "to_parquet", "write_image"}


def _atomic_names(fn: ast.AST) -> set[str]:
    """Names bound by `with atomic_path(...) as name` (and files opened on them) inside a function."""
    names = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.With):
            for item in node.items:
                call = item.context_expr
                if isinstance(call, ast.Call) and isinstance(item.optional_vars, ast.Name):
                    f = call.func
                    fname = f.id if isinstance(f, ast.Name) else getattr(f, "attr", "")
                    if fname in {"atomic_path", "open", "fdopen"} or (
                            fname == "open" or any(isinstance(a, ast.Name) and a.id in names for a in call.args)):
                        names.add(item.optional_vars.id)
    return names


# Files opened for writing that are not results: a job's GPU lock (held open for its lifetime, empty).
NOT_RESULTS = {("gpu.py", "_try_lock")}


def test_every_writer_in_the_package_is_atomic():
    offenders = []
    for py in sorted(PKG.rglob("*.py")):
        tree = ast.parse(py.read_text())
        for fn in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
            safe = _atomic_names(fn) | {"tmp", "buf", "fh"}  # temp paths, in-memory buffers, temp handles
            for call in [n for n in ast.walk(fn) if isinstance(n, ast.Call)]:
                f = call.func
                if isinstance(f, ast.Name) and f.id == "open" and len(call.args) > 1:
                    mode = call.args[1]
                    writes = isinstance(mode, ast.Constant) and any(c in str(mode.value) for c in "wax")
                    if (writes and (py.name, fn.name) not in NOT_RESULTS
                            and not any(isinstance(a, ast.Name) and a.id in safe for a in ast.walk(call.args[0]))):
                        offenders.append(f"{py.name}:{call.lineno} {fn.name}: {ast.unparse(call)[:80]}")
                    continue
                if not (isinstance(f, ast.Attribute) and f.attr in WRITERS):
                    continue
                if f.attr == "to_csv" and not call.args and not any(k.arg == "path_or_buf" for k in call.keywords):
                    continue  # returns the text; the caller writes it
                # sitk.WriteImage(image, path): the path is the second argument
                pos = 1 if f.attr == "WriteImage" and len(call.args) > 1 else 0
                target = call.args[pos] if call.args else None
                ok = any(isinstance(a, ast.Name) and a.id in safe
                         for x in (target, f.value) if x is not None for a in ast.walk(x))
                # pickle.dump(obj, fh) / json.dump(obj, fh) / torch.save(obj, fh): the handle is the second argument
                if f.attr in ("dump", "save") and len(call.args) > 1:
                    ok = ok or (isinstance(call.args[1], ast.Name) and call.args[1].id in safe)
                if not ok and fn.name not in {"write_csv", "write_json", "write_image"}:
                    offenders.append(f"{py.name}:{call.lineno} {fn.name}: {ast.unparse(call)[:80]}")
    assert offenders == [], "non-atomic writes:\n" + "\n".join(offenders)


@pytest.mark.slow
@pytest.mark.xdist_group(name="smallstudy")
def test_kill_and_resume_gives_the_uninterrupted_results():
    ref, run = smallstudy.reference(), smallstudy.resumed()
    assert run.tmp_after_term == [], "a temporary file survived the SIGTERM"
    assert all(run.done_kill.get(j) == t for j, t in run.done_term.items()), "finished jobs were redone after SIGTERM"
    redone = [j for j, t in run.done_kill.items() if run.done_end[j] != t]
    assert redone == [], f"finished jobs recomputed on resume: {redone}"
    assert len(run.done_term) < len(run.done_kill) < len(run.done_end) == len(smallstudy.finished_jobs(ref))
    assert smallstudy.digest(run.dir) == smallstudy.digest(ref)
    assert smallstudy.temporaries(run.dir) == []


def test_sigterm_unwinds_a_job_mid_write(tmp_path):
    """SLURM's time limit and `scancel` send SIGTERM: the staged output must not survive it."""
    import signal
    import subprocess
    import sys
    import time

    script = (f"import time; from axilla.io import atomic_path, setup_logging; setup_logging(None)\n"
              f"with atomic_path({str(tmp_path / 'prep')!r}, directory=True) as d:\n"
              f"    (d / 'image.nii.gz').write_text('half'); print('staged', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env={**__import__("os").environ, "PYTHONPATH": str(PKG.parent)})
    assert proc.stdout.readline().strip() == "staged"
    assert len(list(tmp_path.iterdir())) == 1  # the staging directory exists mid-write
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []


def test_rerun_removes_the_temporary_a_killed_writer_left(tmp_path):
    import pandas as pd

    target = tmp_path / "selected.csv"
    stale = tmp_path / ".selected.csv.k1ll3d.tmp"  # what mkstemp left when the job was SIGKILL-ed
    stale.write_text("")
    other = tmp_path / ".selected.csv.notes"  # not a temporary of ours: left alone
    other.write_text("x")
    write_csv(pd.DataFrame({"a": [1]}), target)
    assert not stale.exists() and other.exists() and target.read_text().startswith("a")
    stale_dir = tmp_path / ".prep.abc123"
    stale_dir.mkdir()
    with atomic_path(tmp_path / "prep", directory=True) as d:
        (d / "image.nii.gz").write_text("")
    assert not stale_dir.exists() and (tmp_path / "prep" / "image.nii.gz").exists()
