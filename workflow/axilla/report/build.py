"""Assemble the report: read the study once, then render each section of SECTIONS in order."""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Mapping, Sequence

from ..io import atomic_path
from ..settings import with_defaults
from .html import Doc
from .spec import SECTIONS
from .study import Study, load_study

log = logging.getLogger(__name__)


def _title(s: Study) -> str:
    return s.settings.report.title or f"axilla study report: {s.settings.study}"


def _head(d: Doc, title: str) -> None:
    d.add(f"<h1>{html.escape(title)}</h1>")
    d.add("<nav><ol>" + "".join(f"<li><a href='#{s}'>{html.escape(h)}</a></li>" for s, h in SECTIONS)
          + "</ol></nav>")


def study_of(inputs: Mapping[str, object], cfg: Mapping, cohorts: Sequence[str], models: Sequence[str],
             optional: Mapping[str, object] | None = None) -> Study:
    """The report's Study: ``cfg`` is the study's configuration, whose typed settings the sections read."""
    from ..settings import load

    return load_study(inputs, load(cfg), with_defaults(cfg), cohorts, models, optional)


def build(inputs: Mapping[str, object], cfg: Mapping, cohorts: Sequence[str], models: Sequence[str],
          optional: Mapping[str, object] | None = None) -> str:
    """The report's HTML for these inputs (see the package docstring for what they are)."""
    return render(study_of(inputs, cfg, cohorts, models, optional))


def render(s: Study) -> str:
    from .sections import RENDERERS  # loads matplotlib: only when a report is built

    assert list(RENDERERS) == [sid for sid, _ in SECTIONS], "a section without a renderer, or out of order"
    d = Doc()
    title = _title(s)
    _head(d, title)
    for sid, _ in SECTIONS:
        d.section(sid)
        RENDERERS[sid](d, s)
    return d.page(title)


def checklist_paths(out_html: str) -> dict[str, str]:
    """Where the CLEAR and METRICS tables of a report go: report/checklist/ beside report.html."""
    folder = os.path.join(os.path.dirname(out_html), "report", "checklist")
    return {"clear_csv": os.path.join(folder, "clear.csv"), "metrics_csv": os.path.join(folder, "metrics.csv"),
            "score_json": os.path.join(folder, "metrics_score.json")}


def run(inputs: Mapping[str, object], cfg: Mapping, cohorts, models, optional, out_html: str,
        checklists: Mapping[str, str] | None = None) -> None:
    """Write the report, and the CLEAR / METRICS tables (`checklists`: clear_csv, metrics_csv,
    score_json; default :func:`checklist_paths`)."""
    from .checklist import run_of, write

    s = study_of(inputs, cfg, cohorts, models, optional)
    text = render(s)
    with atomic_path(out_html) as tmp:
        tmp.write_text(text, encoding="utf-8")
    write(run_of(s), **(checklists or checklist_paths(out_html)))
    log.info("report written: %s (%.0f kB)", out_html, len(text) / 1024)
