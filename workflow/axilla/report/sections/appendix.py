"""Closing sections: provenance (inputs, weights, software, run time, configuration), the rule
graph, the TRIPOD+AI checklist, and CLEAR and METRICS filled from the run."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd
import yaml

from ...io import file_sha256
from ..dag import render_svg
from ..checklist import clear_table, metrics_score, metrics_table, run_of
from ..html import Doc, absent, table_html
from ..provenance import backbone_comparison, input_table, reproducibility_table, versions, weights_table
from ..spec import ABSENT
from ..study import Study, existing
from ..tables import tripod_ai


def _run_time(d: Doc, s: Study) -> None:
    bench = existing(s.inputs.get("benchmarks"))
    if bench:
        secs = sum(float(pd.read_csv(p, sep="\t")["s"].sum()) for p in bench)
        # class "runtime": the one part of the report that differs between identical runs
        d.add(f"<p>Seed {s.settings.seed}.</p><p class=\"runtime\">Run time: {secs / 60:.1f} min summed over "
              f"{len(bench)} jobs' benchmarks (wall time per job; jobs may have run in parallel).</p>")
    else:
        d.add(f"<p>Seed {s.settings.seed}. Run time: {ABSENT} (no benchmark files).</p>")


def _bundle(d: Doc, s: Study) -> None:
    """The frozen study (bundle: true): what a new cohort is scored with, and how."""
    d.add("<h3>Frozen study bundle</h3>")
    folders = existing(s.inputs.get("bundle"))
    if not folders:
        d.add("<p>Not written (<code>bundle: false</code>). With <code>bundle: true</code> the study's fitted "
              "objects are kept so that new cohorts are scored without refitting (README: Apply a frozen study).</p>")
        return
    manifest = Path(folders[0]) / "manifest.json"
    n = len(json.loads(manifest.read_text())["files"])
    d.add(f"<p><code>{html.escape(folders[0])}</code>: {n} files, each hashed in <code>manifest.json</code> "
          f"(sha256 {file_sha256(manifest)[:12]}). A config <code>apply: {{bundle: ..., manifest: ..., clinical: ..."
          "}</code> scores a new cohort with them, refitting nothing.</p>")


def provenance(d: Doc, s: Study) -> None:
    d.add("<h3>Input files</h3>" + table_html(input_table(s.inputs, s.settings)))
    d.add("<h3>Deep-learning weights used</h3>")
    if s.opt.get("deep_weights"):
        d.add(table_html(weights_table(s.opt["deep_weights"][0])))
        compared, words = backbone_comparison(s.opt["deep_weights"][0])
        if words:  # deep.signature: probability or deep.backbones only: the demo's report is as before
            d.add(f"<h3>Deep-learning signature and backbones compared</h3><p>{html.escape(words)}</p>"
                  + (table_html(compared) if compared is not None else ""))
        table, words = reproducibility_table(s.opt["deep_weights"][0])
        d.add(f"<h3>Numerical reproducibility of the deep features</h3><p>{html.escape(words)}</p>" + table_html(table))
    else:
        d.add(absent("deep weights provenance"))
    _bundle(d, s)
    d.add("<h3>Software</h3>" + table_html(pd.DataFrame(list(versions().items()), columns=["software", "version"])))
    _run_time(d, s)
    d.add("<h3>Configuration</h3><pre>" + html.escape(yaml.safe_dump(json.loads(json.dumps(dict(s.cfg))),
                                                                        sort_keys=False)) + "</pre>")


def rulegraph(d: Doc, s: Study) -> None:
    if s.opt.get("rulegraph"):
        d.add(render_svg(Path(s.opt["rulegraph"][0]).read_text(encoding="utf-8")))
    else:
        d.add(absent("rule graph"))


def tripod(d: Doc, s: Study) -> None:
    has = {"optimism": bool(s.opt.get("optimism", [])), "readers": bool(s.by_cohort("readers")),
           "nomogram": bool(s.nomograms())}
    d.add(table_html(tripod_ai(s.settings, s.counts(), has).assign(
        filled=lambda t: t["filled"].map({True: "yes", False: "no"}))))


def checklists(d: Doc, s: Study) -> None:
    run = run_of(s)
    mt = metrics_table(run)
    score = metrics_score(mt)
    d.add(f"<p><b>METRICS score: {score['score']:.1f} % ({score['band']})</b>: weights of the {score['met']} met "
          f"items {score['met_weight']:.4f} over the {score['applicable_weight']:.4f} of the "
          f"{score['met'] + score['not_met']} applicable ones; {score['na']} items not applicable (Kocak et al., "
          "Insights Imaging 2024). Items a run cannot show are marked not met until the authors complete them.</p>")
    d.add("<h3>METRICS</h3>" + table_html(mt.drop(columns="condition"), floatfmt="{:.4f}"))
    ct = clear_table(run)
    counts = ct.status.value_counts()
    d.add(f"<h3>CLEAR (Kocak et al., Insights Imaging 2023)</h3><p>{counts.get('met', 0)} of 58 items met by the "
          f"run, {counts.get('not met', 0)} not met, {counts.get('n/a', 0)} not applicable.</p>" + table_html(ct))
