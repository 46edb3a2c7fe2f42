"""The `preprocess` rule's command line: `python -m axilla.preprocess` and the per-job arguments
the rule derives from the manifest."""

from __future__ import annotations

import json
import logging
import re

from ..exclusion import in_validated, write_marker_dir
from ..settings import Preprocess, section
from .stage import preprocess_image

log = logging.getLogger(__name__)


def index_rows(images) -> dict[tuple[str, str, str], list[dict]]:
    """The manifest's rows (as dicts) by (patient_id, modality, view), built once per workflow
    parse: filtering the whole table in every job's params made building the DAG quadratic in the
    cohort, and pandas row access was most of what remained."""
    out: dict[tuple[str, str, str], list[dict]] = {}
    for row in images.to_dict("records"):
        out.setdefault((row["patient_id"], row["modality"], row["view"]), []).append(row)
    return out


def rule_extra_args(rows: dict, patient: str, modality: str, view: str, settings: Preprocess,
                    validated: str | None = None) -> str:
    """Optional arguments of one `preprocess` job from the manifest's rows (`rows`: :func:`index_rows`).

    `--pixel-spacing` from an optional manifest column `pixel_spacing` ("x,y" mm); `--pre-image`
    (the same patient's `dce.pre_view` image) when separate-file DCE subtraction is configured;
    `--patient` and `--validated` when validation may exclude patients the Snakefile planned jobs
    for (`validated`: the validated manifest; see :mod:`axilla.exclusion`).
    """
    import shlex

    args = []
    own = rows.get((patient, modality, view))
    if own:
        value = own[0].get("pixel_spacing")
        if isinstance(value, str) and value.strip():
            args.append("--pixel-spacing " + shlex.quote(value.strip()))
    pre_view = settings.dce.pre_view
    if settings.dce.subtract and pre_view and re.match(r"^DCE\d+$", view) and view != pre_view:
        pre = rows.get((patient, modality, pre_view))
        if not pre:
            raise ValueError(f"preprocess.{modality}.dce.pre_view {pre_view}: patient {patient} has no such image "
                             "(list the view under 'views')")
        args.append("--pre-image " + shlex.quote(str(pre[0]["image"])))
    if validated:
        args.append(f"--patient {shlex.quote(patient)} --validated {shlex.quote(str(validated))}")
    return " ".join(args)


def main(argv: list[str] | None = None) -> None:
    """`python -m axilla.preprocess`: the `preprocess` rule's command.

    A shell command rather than a `script:` because this runs once per image: Snakemake's script
    wrapper costs ~0.3 s of imports per job, a fifth of the whole study's time on the demo.
    """
    import argparse

    from ..io import parse_pixel_spacing, setup_logging

    ap = argparse.ArgumentParser(prog="python -m axilla.preprocess", description=main.__doc__)
    ap.add_argument("--image", required=True)
    # none for an auto view's image without a manual mask
    ap.add_argument("--mask", action="append", default=[], metavar="RATER=PATH")
    ap.add_argument("--modality", required=True)
    ap.add_argument("--view", required=True)
    ap.add_argument("--settings", default="{}", help="JSON: the modality's `preprocess` config")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pixel-spacing", default="", help="per-row 2D spacing 'x,y' in mm (manifest pixel_spacing)")
    ap.add_argument("--pre-image", default="", help="pre-contrast image for DCE subtraction")
    ap.add_argument("--primary", default=None, help="rater whose mask the QC overlay shows")
    ap.add_argument("--patient", default=None, help="the image's patient (with --validated)")
    ap.add_argument("--validated", default=None,
                    help="validated manifest: an image it does not list (its patient excluded) gets a marker only")
    ap.add_argument("--out", required=True)
    ap.add_argument("--log")
    a = ap.parse_args(argv)
    setup_logging(a.log)
    if a.validated and not in_validated(a.validated, a.patient, a.modality, a.view):
        log.warning("%s %s: %s", a.modality, a.view, write_marker_dir(a.out, a.patient, a.modality, a.view,
                                                                      a.validated))
        return
    masks = dict(m.split("=", 1) for m in a.mask)
    spacing = parse_pixel_spacing(a.pixel_spacing) if a.pixel_spacing else None
    settings = section(f"preprocess.{a.modality}", check=False, **json.loads(a.settings))
    preprocess_image(a.image, masks, a.modality, a.view, settings,
                     a.out, threads=a.threads, pixel_spacing=spacing, pre_image_path=a.pre_image or None,
                     primary=a.primary)

