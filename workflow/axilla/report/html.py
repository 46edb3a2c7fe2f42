"""HTML building blocks of the report: embedded figures and images, tables, the page itself."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import pandas as pd

from .spec import ABSENT, SECTIONS

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1180px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45;font-size:16px}
h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #ccc;margin-top:2.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .6em;
text-align:right}th{background:#f1f1f1}td:first-child,th:first-child{text-align:left}
.note{color:#555;font-size:.92em}.absent{color:#8a5a00;font-style:italic}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.85em}
img,svg{max-width:100%;height:auto}.grid{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
nav ol{columns:3;font-size:.92em}
"""


def fig_to_img(fig, alt: str, fmt: str = "png") -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    if fmt == "svg":
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
        plt.close(fig)
        return buf.getvalue().decode("utf-8")[buf.getvalue().decode("utf-8").find("<svg"):]
    # dpi 100: a 6.4-inch figure is 640 px wide, shown 1:1 at 100 % zoom (text ≥ 9 pt stays legible)
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def file_img(path: str, alt: str) -> str:
    data = Path(path).read_bytes()
    if path.lower().endswith(".svg"):
        text = data.decode("utf-8")
        return text[text.find("<svg"):]
    mime = "image/png" if path.lower().endswith(".png") else "image/jpeg"
    return f'<img alt="{html.escape(alt)}" src="data:{mime};base64,{base64.b64encode(data).decode()}">'


def _is_p_column(name) -> bool:
    name = str(name)
    return name == "p" or name.endswith(("_p", " p"))


def table_html(df: pd.DataFrame, floatfmt: str = "{:.3f}") -> str:
    def fmt(v, is_p=False):
        if isinstance(v, (float, np.floating)):
            if np.isnan(v):
                return ""
            # journals print small p-values as a bound, not as 0.000
            return "&lt;0.001" if is_p and v < 0.001 else floatfmt.format(v)
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    p_cols = [_is_p_column(c) for c in df.columns]
    body = "".join("<tr>" + "".join(f"<td>{fmt(v, p)}</td>" for v, p in zip(row, p_cols)) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def absent(what: str = "") -> str:
    return f"<p class='absent'>{html.escape(what + ': ' if what else '')}{ABSENT}.</p>"


def optional_table(d: Doc, paths, what: str) -> pd.DataFrame | None:
    """The first of `paths` (an optional report input) as a table; None, with the "not produced"
    note added to `d`, when the study wrote none."""
    if not paths:
        d.add(absent(what))
        return None
    return pd.read_csv(paths[0])


def h3(text: str) -> str:
    return f"<h3>{html.escape(text)}</h3>"


class Doc:
    """The report's body as a list of parts (joined by newlines), with the sections written so far."""

    def __init__(self):
        self.parts: list[str] = []
        self.done: list[str] = []

    def add(self, text: str) -> None:
        self.parts.append(text)

    def section(self, sid: str) -> None:
        heading = dict(SECTIONS)[sid]
        self.done.append(sid)
        self.add(f"<h2 id='{sid}'>{html.escape(heading)}</h2>")

    def page(self, title: str) -> str:
        """The whole self-contained HTML file."""
        return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
                "<meta name='viewport' content='width=device-width, initial-scale=1'>"
                f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
                + "\n".join(self.parts) + "</body></html>\n")
