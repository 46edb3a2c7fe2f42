"""Assemble the report: read the study once, then render each section of SECTIONS in order."""

from __future__ import annotations

import html
import logging
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


def build(inputs: Mapping[str, object], cfg: Mapping, cohorts: Sequence[str], models: Sequence[str],
          optional: Mapping[str, object] | None = None) -> str:
    """The report's HTML for these inputs (see the package docstring for what they are); ``cfg``
    is the study's configuration, whose typed settings the sections read."""
    from ..settings import load
    from .sections import RENDERERS  # loads matplotlib: only when a report is built

    assert list(RENDERERS) == [sid for sid, _ in SECTIONS], "a section without a renderer, or out of order"
    settings = load(cfg)
    s = load_study(inputs, settings, with_defaults(cfg), cohorts, models, optional)
    d = Doc()
    title = _title(s)
    _head(d, title)
    for sid, _ in SECTIONS:
        d.section(sid)
        RENDERERS[sid](d, s)
    return d.page(title)


def run(inputs: Mapping[str, object], cfg: Mapping, cohorts, models, optional, out_html: str) -> None:
    text = build(inputs, cfg, cohorts, models, optional)
    with atomic_path(out_html) as tmp:
        tmp.write_text(text, encoding="utf-8")
    log.info("report written: %s (%.0f kB)", out_html, len(text) / 1024)
