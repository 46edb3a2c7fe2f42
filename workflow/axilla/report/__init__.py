"""The study report: one self-contained HTML file (figures embedded as PNG/SVG), readable offline.

`build(inputs, cfg, ...)` takes a mapping of named input paths. Required: `split`, `clinical`
(validated), `qc`, and per cohort `metrics`, `predictions`, `pairwise`, `dca`; per model
`coefficients`. Every other section renders from an OPTIONAL input and, when that input is
absent, says so plainly ("not produced by this study's configuration"); see OPTIONAL for names
and formats. Patient identifiers never appear except as given in the input tables.

Modules: spec (sections, optional inputs), study (inputs read once), sections (one renderer per
section), html (page helpers), tables (Table 1, odds ratios, TRIPOD+AI), figures (matplotlib),
provenance (input hashes, versions), dag (the rule graph), checklist (CLEAR and METRICS filled from
the run, written beside the report by `run`), build (assembly).
"""

from .build import build, run
from .html import CSS, Doc, absent, fig_to_img, file_img, table_html
from .provenance import versions
from .spec import ABSENT, OPTIONAL, SECTIONS, optional_paths

__all__ = ["ABSENT", "CSS", "OPTIONAL", "SECTIONS", "Doc", "absent", "build", "fig_to_img", "file_img",
           "optional_paths", "run", "table_html", "versions"]
