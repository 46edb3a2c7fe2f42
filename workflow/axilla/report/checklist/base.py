"""The primitives of the checklists: their items (resources/checklists/*.yaml), a Verdict, and the
Run a decision draws on."""


from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

from ...io import file_sha256
from ...settings import Study as Settings

RESOURCES = Path(__file__).resolve().parents[4] / "resources" / "checklists"
STATUSES = ("met", "not met", "n/a")
AUTHORS = "not something a run can show: to be completed by the authors"


@lru_cache(maxsize=None)
def items(name: str) -> tuple[dict, ...]:
    """The items of checklist `name` ("clear" or "metrics") from its resources file."""
    return tuple(yaml.safe_load((RESOURCES / f"{name}.yaml").read_text(encoding="utf-8"))["items"])


@lru_cache(maxsize=None)
def metrics_bands() -> tuple[tuple[float, str], ...]:
    """METRICS quality bands: (lower bound, name), ascending."""
    bands = yaml.safe_load((RESOURCES / "metrics.yaml").read_text(encoding="utf-8"))["bands"]
    return tuple((float(lo), str(name)) for lo, name in bands)


@dataclass(frozen=True)
class Verdict:
    status: str
    evidence: str = ""
    reason: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"checklist status '{self.status}': not one of {STATUSES}")


def met(*evidence: str) -> Verdict:
    return Verdict("met", "; ".join(e for e in evidence if e))


def unmet(reason: str, *evidence: str) -> Verdict:
    return Verdict("not met", "; ".join(e for e in evidence if e), reason)


def na(reason: str) -> Verdict:
    return Verdict("n/a", "", reason)


@dataclass
class Run:
    """What a checklist item may draw on. `files`: artifact name (axilla.report.spec.OPTIONAL
    names, plus the report's required inputs: split, clinical, metrics, pairwise, dca, ...) ->
    the files of it that exist; `counts`: cohort, patients, positive (training cohort first);
    `centers`: distinct centres among the analysed patients (None when no centre column)."""

    st: Settings
    counts: pd.DataFrame
    files: Mapping[str, Sequence[str]] = field(default_factory=dict)
    root: str = ""  # results/<study>: evidence paths are shown relative to it
    centers: int | None = None

    def cite(self, name: str, most: int = 2) -> str:
        """The files of artifact `name` with their sha256 (12 hex digits), '' when none exists."""
        paths = [p for p in self.files.get(name, []) if os.path.isfile(p)]
        shown = [f"{self.rel(p)} (sha256 {file_sha256(p)[:12]})" for p in paths[:most]]
        more = f" and {len(paths) - most} more" if len(paths) > most else ""
        return ", ".join(shown) + more

    def rel(self, path: str) -> str:
        if self.root and Path(os.path.abspath(path)).is_relative_to(os.path.abspath(self.root)):
            return os.path.relpath(path, self.root)
        return str(path)

    def table(self, name: str) -> pd.DataFrame:
        """All existing files of artifact `name`, concatenated (empty when none)."""
        frames = [pd.read_csv(p) for p in self.files.get(name, []) if os.path.isfile(p)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def held_out(self) -> list[str]:
        """Evaluation cohorts with patients (all but the training cohort)."""
        c = self.counts
        return [str(r.cohort) for r in c.iloc[1:].itertuples() if r.patients > 0]

    def external(self) -> str | None:
        """The external cohort's name when one is configured and has patients."""
        ext = self.st.split.external
        name = (ext or {}).get("name", "external")
        return name if ext and name in self.held_out() else None
