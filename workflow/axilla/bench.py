"""Benchmarks, not tests: `python -m axilla.bench` (`make bench`), `python -m axilla.bench
preprocess` (`make bench-preprocess`) and `python -m axilla.bench scaling` (`make bench-scaling`,
:mod:`axilla.scaling`).

Preprocessing (`preprocess`): seconds per image per modality/view of `preprocess_image` with a
config's settings (see `preprocess_main`).

Radiomics (default): axilla's radiomics stage against a bare pyradiomics loop, and deep-feature
throughput. A demo cohort is generated and 20 of its images (every modality) preprocessed as the
demo study does; then, on the same images and masks,
- axilla: `axilla.radiomics.extract_image`, the stage's function (reads the preprocessed folder,
  extracts every rater's mask with the filters computed once, writes the per-image CSV);
- bare: pyradiomics' `RadiomicsFeatureExtractor.execute` once per image x mask, results kept in
  memory. For 2D images it runs without `force2D` (on a 2D array the flag drops an in-plane axis,
  see `axilla.radiomics._planar`), so both compute the same features.
Each image is timed `--rounds` times per method, the order of the two methods alternating between
rounds and images so neither always runs warm; the per-image medians are summed. Time is process
CPU time (this machine is shared; CPU time is what competing load disturbs least), with one BLAS
and one ITK thread, as the pipeline's jobs run. Printed: `radiomics_overhead_ratio=<axilla/bare>`
over all 20 images, the same ratio over the images with a single mask (pure overhead, no shared
filtering), and deep-feature throughput from `axilla.deep.throughput` on CPU and, when present, GPU.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _one_blas_thread() -> None:
    """The radiomics benchmark's jobs run with one BLAS thread, as the pipeline's (Snakemake sets it).

    Called before numpy loads: nothing this module imports at the top loads it.
    """
    for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(v, "1")


def prepare(workdir: Path, n_images: int = 20, seed: int = 42) -> list[tuple[str, str, str]]:
    """Demo cohort -> `n_images` preprocessed image folders, all views of one patient after another
    (every modality present). Returns (folder, modality, view)."""
    import pandas as pd
    import yaml

    from . import demo
    from .preprocess import preprocess_image
    from .settings import load

    st = load(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))
    demo.generate(workdir / "cohort", n_patients=20, seed=seed, rater_fraction=st.demo.rater_fraction)
    manifest = pd.read_csv(workdir / "cohort" / "manifest.csv", dtype=str)
    # alternate patients with one mask per image and patients with several raters' masks, so
    # the images include both the plain case and shared filtering
    n_raters = manifest.groupby("patient_id").rater.nunique()
    single, multi = list(n_raters[n_raters == 1].index), list(n_raters[n_raters > 1].index)
    order = [p for pair in zip(multi, single) for p in pair] + multi[len(single):] + single[len(multi):]
    manifest["_order"] = manifest.patient_id.map({p: i for i, p in enumerate(order)})
    out = []
    for (_, pid, mod, view), g in manifest.groupby(["_order", "patient_id", "modality", "view"], sort=True):
        if len(out) == n_images:
            break
        prep = workdir / "prep" / pid / f"{mod}_{view}"
        masks = {r: str(workdir / "cohort" / m) for r, m in zip(g.rater, g["mask"])}
        preprocess_image(str(workdir / "cohort" / g.image.iloc[0]), masks, mod, view,
                         st.preprocess[mod], str(prep))
        out.append((str(prep), mod, view))
    return out


def _axilla(prep: str, params: str, mod: str, view: str, out_csv: str) -> None:
    from . import radiomics

    radiomics.extract_image(prep, params, mod, view, out_csv)


def _bare(prep: str, params: str) -> list:
    import SimpleITK as sitk
    from radiomics import featureextractor

    ex = featureextractor.RadiomicsFeatureExtractor(params)
    image = str(Path(prep) / "image.nii.gz")
    if sitk.ReadImage(image).GetDimension() == 2:
        ex.settings = {k: v for k, v in ex.settings.items() if k not in ("force2D", "force2Ddimension")}
    return [ex.execute(image, str(m)) for m in sorted(Path(prep).glob("mask-*.nii.gz"))]


def radiomics_ratio(images: list[tuple[str, str, str]], params_dir: Path, rounds: int, out_dir: Path) -> dict:
    import SimpleITK as sitk

    from .preprocess import raters_in
    from .radiomics import make_extractor

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    make_extractor({})  # pyradiomics' console level, as in the stage
    params = {m: str(params_dir / f"{m}.yaml") for m in ("MG", "MRI", "US")}
    runs = {
        "axilla": lambda i, p, m, v: _axilla(p, params[m], m, v, str(out_dir / f"{i}.csv")),
        "bare": lambda i, p, m, v: _bare(p, params[m]),
    }
    # warm-up: lazy imports (scikit-image, trimesh) and first-call costs, untimed
    for kind in ("MG", "MRI"):
        i, (p, m, v) = next((i, x) for i, x in enumerate(images) if x[1] == kind)
        for f in runs.values():
            f(i, p, m, v)
    times = {k: [[] for _ in images] for k in runs}
    for r in range(rounds):
        for i, (p, m, v) in enumerate(images):
            order = ("axilla", "bare") if (r + i) % 2 == 0 else ("bare", "axilla")
            for k in order:
                t = time.process_time()
                runs[k](i, p, m, v)
                times[k][i].append(time.process_time() - t)
    med = {k: [statistics.median(x) for x in v] for k, v in times.items()}
    single = [i for i, (p, _, _) in enumerate(images) if len(raters_in(p)) == 1]
    return {
        "images": len(images), "masks": sum(len(raters_in(p)) for p, _, _ in images),
        "axilla_s": sum(med["axilla"]), "bare_s": sum(med["bare"]),
        "ratio": sum(med["axilla"]) / sum(med["bare"]),
        "single_images": len(single),
        "ratio_single": (sum(med["axilla"][i] for i in single) / sum(med["bare"][i] for i in single)) if single else None,
        "per_modality": {mod: (sum(med["axilla"][i] for i, x in enumerate(images) if x[1] == mod),
                               sum(1 for x in images if x[1] == mod)) for mod in ("MG", "MRI", "US")},
    }


def deep_throughput(n_images: int) -> list[str]:
    try:
        import torch

        from . import deep
    except ImportError as e:  # pragma: no cover - the deep stack is a dependency
        return [f"deep throughput: not measured ({e})"]
    if not hasattr(deep, "throughput"):
        return ["deep throughput: not measured (axilla.deep.throughput not available)"]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    lines = []
    for device in devices:
        # every backbone in 2D, the ResNets (the 3D-capable ones) in 3D as well
        nets = [(b, 2) for b in deep.BACKBONES] + [(b, 3) for b in deep.BACKBONES if b.startswith("resnet")]
        for backbone, dims in nets:
            rate = deep.throughput(backbone, dims, n_images, device)
            lines.append(f"deep_throughput_{device}_{backbone}_{dims}d={rate:.1f} images/s")
    return lines


def radiomics_main(argv: list[str] | None = None) -> None:
    """`python -m axilla.bench`: radiomics stage vs bare pyradiomics, then deep-feature throughput."""
    _one_blas_thread()
    ap = argparse.ArgumentParser(prog="python -m axilla.bench", description=radiomics_main.__doc__,
                                 epilog="python -m axilla.bench preprocess --help: the preprocessing benchmark")
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--params", default=str(ROOT / "resources" / "radiomics"), help="folder of <MOD>.yaml")
    ap.add_argument("--deep-images", type=int, default=32)
    ap.add_argument("--workdir", help="keep the demo images here (default: a temporary folder)")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="axilla-bench-") as tmp:
        work = Path(a.workdir or tmp)
        (work / "out").mkdir(parents=True, exist_ok=True)
        images = prepare(work, a.images)
        res = radiomics_ratio(images, Path(a.params), a.rounds, work / "out")
    print(f"radiomics: {res['images']} images, {res['masks']} masks, median of {a.rounds} rounds, CPU seconds: "
          f"axilla {res['axilla_s']:.2f}, bare pyradiomics {res['bare_s']:.2f}")
    for mod, (secs, n) in res["per_modality"].items():
        if n:
            print(f"radiomics_seconds_per_image_{mod}={secs / n:.2f} (axilla, {n} images)")
    if res["ratio_single"] is not None:
        print(f"radiomics_overhead_ratio_single_mask={res['ratio_single']:.3f} ({res['single_images']} images)")
    print(f"radiomics_overhead_ratio={res['ratio']:.3f}", flush=True)
    for line in deep_throughput(a.deep_images):
        print(line, flush=True)
    from .deep.cost import cost_ratio

    off, strict = cost_ratio()
    print(f"deep_strict_cost_ratio={strict / off:.2f} (deep.reproducible strict / off, CPU seconds "
          f"{strict:.1f} / {off:.1f}: ResNet18 2D, 48 crops 64 x 64, 2 epochs + features)", flush=True)


# ---------------------------------------------------------------------------------------------
# preprocessing


def preprocess_main(argv: list[str] | None = None) -> None:
    """`python -m axilla.bench preprocess`: seconds per image per modality with a config's settings.

    Times `preprocess_image` (read, every step, writes) in this process on the first `--n`
    images per modality/view of the demo cohort (generated into a temporary folder if absent)
    and, with `--breast1`, on pyradiomics' breast MRI case as a real-sized 3D image.
    """
    import yaml

    from .preprocess import set_threads

    ap = argparse.ArgumentParser(prog="python -m axilla.bench preprocess", description=preprocess_main.__doc__)
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--n", type=int, default=3, help="images per modality/view")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--breast1", default=None, help="folder with breast1_image.nrrd / breast1_label.nrrd")
    ap.add_argument("--demo-dir", default=None, help="an existing demo cohort folder (default: the config's, "
                                                     "else a temporary 20-patient one)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    from .settings import load

    st = load(yaml.safe_load(Path(a.config).read_text()))
    set_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        src = _demo_cohort(a.demo_dir, st, max(20, a.n), Path(tmp))
        cases = _preprocess_cases(src, st.primary_rater, a.n, a.breast1)
        times = _time_preprocess(cases, st.preprocess, tmp, a.threads)
    _print_preprocess(times, a.config, a.threads)


def _demo_cohort(demo_dir: str | None, st, n_patients: int, tmp: Path) -> Path:
    """`demo_dir`, else the config's demo cohort when generated, else a new one under `tmp`
    (``st``: the config's :class:`axilla.settings.Study`)."""
    from . import demo

    phases = demo.dce_phases_for(st.views)
    src = Path(demo_dir or f"resources/demo/{demo.folder(st.demo.n_patients, st.seed, phases, st.demo.missing)}")
    if not (src / "manifest.csv").exists():
        src = tmp / "demo"
        demo.generate(src, n_patients, st.seed, st.demo.rater_fraction, dce_phases=phases, missing=st.demo.missing)
    return src


def _preprocess_cases(src: Path, rater: str, n: int, breast1: str | None) -> list[tuple[str, str, str, str]]:
    """(modality, view, image, mask): the first `n` images per modality/view, then breast1."""
    import pandas as pd

    man = pd.read_csv(src / "manifest.csv", dtype=str)
    man = man[man.rater == rater]
    cases = []
    for (mod, view), grp in man.groupby(["modality", "view"], sort=True):
        for r in grp.head(n).itertuples():
            cases.append((mod, view, str(src / r.image), str(src / r.mask)))
    if breast1:
        b = Path(breast1)
        cases.append(("MRI", "T2(breast1)", str(b / "breast1_image.nrrd"), str(b / "breast1_label.nrrd")))
    return cases


def _time_preprocess(cases: list, preprocess: dict, tmp: str, threads: int) -> dict[str, list[float]]:
    """Wall seconds of `preprocess_image` per case, by "<modality> <view>" (``preprocess``:
    modality -> :class:`axilla.settings.Preprocess`)."""
    from .preprocess import preprocess_image

    times: dict[str, list[float]] = {}
    for i, (mod, view, img, msk) in enumerate(cases):
        settings = preprocess[mod]
        t0 = time.perf_counter()
        preprocess_image(img, {"A": msk}, mod, view.split("(")[0], settings, f"{tmp}/out/{i}", threads=threads)
        times.setdefault(f"{mod} {view}", []).append(time.perf_counter() - t0)
    return times


def _print_preprocess(times: dict[str, list[float]], config: str, threads: int) -> None:
    import numpy as np

    print(f"preprocess benchmark ({config}, {threads} thread(s); in-process, excludes ~0.4 s interpreter "
          "start-up per job)")
    print(f"{'modality view':<20} {'images':>6} {'s/image':>9}")
    by_mod: dict[str, list[float]] = {}
    for key, ts in times.items():
        print(f"{key:<20} {len(ts):>6} {np.mean(ts):>9.3f}")
        if "(" not in key:  # the extra real-sized case is reported on its own
            by_mod.setdefault(key.split()[0], []).extend(ts)
    for mod, ts in by_mod.items():
        print(f"{mod + ' (all views)':<20} {len(ts):>6} {np.mean(ts):>9.3f}")


# ---------------------------------------------------------------------------------------------
# entry point


def main(argv: list[str] | None = None) -> None:
    """`python -m axilla.bench preprocess|scaling ...`: those benchmarks; otherwise radiomics + deep."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["preprocess"]:
        return preprocess_main(argv[1:])
    if argv[:1] == ["scaling"]:
        from .scaling import main as scaling_main

        return scaling_main(argv[1:])
    return radiomics_main(argv)


if __name__ == "__main__":
    main()
