"""Each preset's fidelity table (config/presets/<preset>.md) against its preset and its paper.

One markdown table per preset, one row per Methods element: the paper's words (quoted verbatim
from the seed text in ../shared/seeds, or `—` where the paper states nothing), the config key, its
value, and same / deviation with the reason. Every key must hold exactly that value in the preset
as loaded with the schema's defaults filled (axilla.settings.with_defaults), so a table cannot
drift from its preset. The paper-specific radiomics parameter files give the counts the tables state.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from axilla.fidelity import COLUMNS, parse_table
from axilla.settings import with_defaults

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ROOT / "config" / "presets"
# ../shared/seeds of the main checkout, or of a worktree one level further down
SEEDS = [ROOT / "shared" / "seeds", ROOT.parent / "shared" / "seeds", ROOT.parent.parent / "shared" / "seeds"]
NAMES = ["mg_postfusion", "mg_mri_zoo", "us_tumor_node", "us_dl_signature", "dce_rad_dl_sii"]
NONE = "—"


def _unquote(cell: str) -> str:
    cell = cell.strip()
    return cell[1:-1] if len(cell) >= 2 and cell[0] == cell[-1] == "`" else cell


def lookup(config: dict, key: str):
    """The value at dotted `key` (list indices as numbers); KeyError when absent."""
    node = config
    for part in key.split("."):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise KeyError(key)
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(key)
    return node


def _norm(s: str) -> str:
    s = s.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return re.sub(r"\s+", " ", s).strip().lower()


def seed_text(md: str) -> str | None:
    m = re.search(r"(\d{3}_[0-9a-f]{16}\.txt)", md)
    for d in SEEDS:
        if m and (d / m.group(1)).exists():
            return (d / m.group(1)).read_text()
    return None


def table_problems(md_path: Path, preset_path: Path) -> list[str]:
    """Everything wrong with one fidelity table, as readable lines (empty: none)."""
    text = md_path.read_text()
    header, rows = parse_table(text)
    if header != COLUMNS:
        return [f"columns {header} != {COLUMNS}"]
    if not rows:
        return ["no rows"]
    config = with_defaults(yaml.safe_load(preset_path.read_text()))
    seed = seed_text(text)
    paper = _norm(seed) if seed else None
    problems = []
    for i, row in enumerate(rows, 1):
        where = f"row {i} ({row['Element']})"
        if row["Status"] not in ("same", "deviation"):
            problems.append(f"{where}: status {row['Status']!r} is not same / deviation")
        if row["Status"] == "deviation" and not row["Reason"].strip():
            problems.append(f"{where}: a deviation without a reason")
        key, value = _unquote(row["Key"]), _unquote(row["Value"])
        if key != NONE:
            try:
                actual = lookup(config, key)
            except KeyError:
                problems.append(f"{where}: key {key} not in the preset as loaded")
            else:
                if yaml.safe_load(value) != actual:
                    problems.append(f"{where}: {key} is {actual!r} in the preset, the table says {value}")
        quote = row["Paper (quoted)"].strip().strip('"')
        if paper is not None and quote != NONE:
            for part in re.split(r"\s*(?:…|\.\.\.)\s*", quote):
                if part and _norm(part) not in paper:
                    problems.append(f"{where}: quote not in the seed text: {part!r}")
    return problems


def test_five_tables_exist():
    assert sorted(p.stem for p in PRESETS.glob("*.md")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_table_matches_preset_and_paper(name):
    md = PRESETS / f"{name}.md"
    assert seed_text(md.read_text()) is not None or not any(d.exists() for d in SEEDS), "names no seed file"
    assert table_problems(md, PRESETS / f"{name}.yaml") == []


def test_a_wrong_value_fails(tmp_path):
    """The check catches a table whose value, key or status drifts from the preset."""
    text = (PRESETS / "mg_postfusion.md").read_text()
    row = "| Correlation filter |"
    assert row in text
    good = tmp_path / "good.md"
    good.write_text(text)
    assert table_problems(good, PRESETS / "mg_postfusion.yaml") == []
    lines = text.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith(row))
    cells = lines[i].split("|")
    for col, bad, expect in ((4, " `0.9` ", "the table says 0.9"), (3, " `select.correlation.cutoff` ", "not in the preset"),
                             (5, " maybe ", "not same / deviation")):
        mutated = cells.copy()
        mutated[col] = bad
        md = tmp_path / f"bad{col}.md"
        md.write_text("\n".join([*lines[:i], "|".join(mutated), *lines[i + 1:]]))
        problems = table_problems(md, PRESETS / "mg_postfusion.yaml")
        assert len(problems) == 1 and expect in problems[0], problems
    dev = next(k for k, ln in enumerate(lines) if "| deviation |" in ln)
    md = tmp_path / "noreason.md"
    md.write_text("\n".join([*lines[:dev], lines[dev].rsplit("|", 2)[0] + "|  |", *lines[dev + 1:]]))
    assert any("without a reason" in p for p in table_problems(md, PRESETS / "mg_postfusion.yaml"))


def test_lookup_reads_lists_and_defaults():
    cfg = with_defaults({"study": "s", "views": {"MRI": ["T2"]}, "models": {"m": {"features": ["clinical"]}},
                         "reproducibility": {"pairs": [["A", "B"]]}})
    assert lookup(cfg, "reproducibility.pairs.0") == ["A", "B"]
    assert lookup(cfg, "select.lasso.rule") == "1se"  # a schema default
    assert lookup(cfg, "models.m.nomogram") is False  # a per-model default
    with pytest.raises(KeyError):
        lookup(cfg, "reproducibility.pairs.1")


# --------------------------------------------------------------------------- radiomics parameter files

def _demo_like(dim: int):
    """An ellipsoidal ROI in noise, z-scored like the preprocess stage's output (1 mm MRI, 0.5 mm MG)."""
    import SimpleITK as sitk

    rng = np.random.default_rng(0)
    shape = (60, 60) if dim == 2 else (14, 26, 26)
    grid = np.indices(shape) - (np.array(shape) / 2)[(slice(None),) + (None,) * dim]
    radii = (18, 13) if dim == 2 else (4.5, 8, 7)
    mask = (sum((g / r) ** 2 for g, r in zip(grid, radii)) < 1).astype(np.uint8)
    img = rng.normal(size=shape) + 1.5 * mask + 0.3 * np.sin(grid[-1] / 2)
    spacing = (0.5, 0.5) if dim == 2 else (1.0, 1.0, 1.0)
    out = []
    for a in (img, mask):
        im = sitk.GetImageFromArray(a)
        im.SetSpacing(spacing)
        out.append(im)
    return out


# file -> (dimension, count): 000: 9 shape2D + 93 × 8 images (original, 7 wavelet decompositions of
# two levels); 004: 16 shape + 91 × 10 images (original, one LoG, 8 wavelets), the seed's 926.
PARAM_FILES = {"MG_000_postfusion.yaml": (2, 9 + 93 * 8), "MRI_004_dce.yaml": (3, 16 + 91 * 10)}


@pytest.mark.parametrize("name", PARAM_FILES)
def test_paper_radiomics_file_counts(name):
    from axilla.radiomics import make_extractor, extract_masks

    path = ROOT / "resources" / "radiomics" / name
    setting = yaml.safe_load(path.read_text())["setting"]
    assert "label" not in setting and "minimumROISize" not in setting  # axilla sets both itself
    dim, expected = PARAM_FILES[name]
    image, mask = _demo_like(dim)
    features = extract_masks(make_extractor(path), image, {"A": mask})["A"]
    assert len(features) == expected
    assert all(np.isfinite(float(v)) for v in features.values())
