"""The rule graph for the report: Snakemake's `--rulegraph` DOT, rendered to inline SVG.

Graphviz `dot` is used when installed; otherwise a small layered layout (longest-path layers
from networkx's topological generations, barycentre ordering) is drawn by hand, which is
enough for a rule graph of a few dozen nodes.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
import tempfile

NODE = re.compile(r'^\s*(\d+)\s*\[\s*label\s*=\s*"([^"]*)"', re.M)
EDGE = re.compile(r"^\s*(\d+)\s*->\s*(\d+)", re.M)


def write_rulegraph(snakefile: str, config: dict, out_dot: str, python: str | None = None) -> None:
    """Run `snakemake --rulegraph` on this workflow with this run's config; write the DOT.

    `python` is the interpreter running the study's Snakemake (the rule passes it): its Snakemake
    draws the graph and parses the workflow, so the job's own env (stats, under --use-conda) needs
    neither Snakemake nor what the rules import at parse time (the imaging stack)."""
    import yaml

    from ..io import atomic_path

    with tempfile.TemporaryDirectory() as tmp:  # the config copy must not outlive the job
        with open(cfg := os.path.join(tmp, "config.yaml"), "w") as fh:
            yaml.safe_dump(dict(config), fh)
        cmd = [python or sys.executable, "-m", "snakemake", "--snakefile", snakefile, "--configfile", cfg,
               "--rulegraph", "--nolock", "--quiet", "all"]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    dot = res.stdout[res.stdout.find("digraph"):] if "digraph" in res.stdout else ""
    if res.returncode != 0 or not dot:
        raise RuntimeError(f"snakemake --rulegraph failed ({res.returncode}): {res.stderr[-2000:]}")
    with atomic_path(out_dot) as tmp:
        tmp.write_text(canonical_dot(dot), encoding="utf-8")


def canonical_dot(dot: str) -> str:
    """The rule graph with nodes numbered by rule name and edges sorted: Snakemake numbers nodes
    in set-iteration order, which differs between runs, and results must be byte-identical."""
    nodes, edges = parse_dot(dot)
    new = {old: i for i, (old, _) in enumerate(sorted(nodes.items(), key=lambda kv: kv[1]))}
    lines = ["digraph snakemake_dag {", "    node[shape=box, style=rounded];"]
    lines += [f'    {new[old]}[label = "{label}"];' for old, label in sorted(nodes.items(), key=lambda kv: new[kv[0]])]
    lines += [f"    {a} -> {b}" for a, b in sorted((new[a], new[b]) for a, b in edges)]
    return "\n".join(lines + ["}"]) + "\n"


def parse_dot(dot: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Nodes (id -> label) and edges of a Snakemake rule-graph DOT."""
    return dict(NODE.findall(dot)), EDGE.findall(dot)


def render_svg(dot: str) -> str:
    """SVG markup of the graph: Graphviz when present, else the hand layout."""
    exe = shutil.which("dot")
    if exe:
        res = subprocess.run([exe, "-Tsvg"], input=dot, capture_output=True, text=True, check=False)
        if res.returncode == 0 and "<svg" in res.stdout:
            return res.stdout[res.stdout.find("<svg"):]
    return layered_svg(*parse_dot(dot))


def layered_svg(nodes: dict[str, str], edges: list[tuple[str, str]]) -> str:
    import networkx as nx

    # Score fusion makes rule-level cycles (select -> train -> select of another model) and self-loops
    # (train -> train): layer on the graph without the edges that would close a cycle; draw them all.
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    for a, b in edges:
        if a != b and not nx.has_path(g, b, a):
            g.add_edge(a, b)
    # Longest path from the sources: every layered edge points strictly downwards.
    layer = {}
    for n in nx.topological_sort(g):
        layer[n] = max((layer[p] + 1 for p in g.predecessors(n)), default=0)
    rows: dict[int, list[str]] = {}
    for n in sorted(g.nodes, key=lambda n: nodes[n]):
        rows.setdefault(layer[n], []).append(n)
    pos: dict[str, float] = {}
    for k in sorted(rows):
        if k:  # order by the mean position of the parents (one barycentre sweep)
            rows[k].sort(key=lambda n: sum(pos[p] for p in g.predecessors(n)) / max(1, g.in_degree(n)))
        for i, n in enumerate(rows[k]):
            pos[n] = i - (len(rows[k]) - 1) / 2
    box_w, box_h, gap_x, gap_y = 150, 30, 24, 56
    width = max(len(r) for r in rows.values()) * (box_w + gap_x) + gap_x
    height = len(rows) * (box_h + gap_y) + gap_y

    def xy(n):
        return width / 2 + pos[n] * (box_w + gap_x), gap_y / 2 + layer[n] * (box_h + gap_y)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="13">',
           '<defs><marker id="arr" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#777"/></marker></defs>']
    for a, b in edges:
        (x1, y1), (x2, y2) = xy(a), xy(b)
        if a == b:  # a loop on the box's right side
            r = x1 + box_w / 2
            out.append(f'<path d="M{r:.1f},{y1 + 8:.1f} C{r + 34:.1f},{y1 - 6:.1f} {r + 34:.1f},{y1 + box_h + 6:.1f} '
                       f'{r:.1f},{y1 + box_h - 8:.1f}" fill="none" stroke="#777" stroke-width="1.5" '
                       'marker-end="url(#arr)"/>')
            continue
        out.append(f'<line x1="{x1:.1f}" y1="{y1 + box_h:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#777" '
                   'stroke-width="1.5" marker-end="url(#arr)"/>')
    for n, label in nodes.items():
        x, y = xy(n)
        out.append(f'<rect x="{x - box_w / 2:.1f}" y="{y:.1f}" width="{box_w}" height="{box_h}" rx="8" '
                   'fill="#eef3fb" stroke="#4a6fa5" stroke-width="1.5"/>'
                   f'<text x="{x:.1f}" y="{y + box_h / 2 + 4.5:.1f}" text-anchor="middle">{html.escape(label)}</text>')
    out.append("</svg>")
    return "\n".join(out)
