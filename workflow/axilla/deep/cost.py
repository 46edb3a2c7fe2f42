"""The cost of `deep.reproducible: strict`: a small deep stage timed in fresh processes under
off and strict (`make bench` prints the ratio)."""

from __future__ import annotations

import os
import sys

from .reproducible import STRICT_ENV, pin_environment, strict_mode


def probe(mode: str, n_images: int = 48, epochs: int = 2) -> float:
    """CPU seconds of a small deep stage (ResNet18 2D fine-tuned on `n_images` random 64 x 64
    crops for `epochs` epochs, then features) in this process, pinned for `mode` first."""
    import time

    pin_environment(mode)
    import numpy as np

    from .backbones import extract_features
    from .stage import prepare_model

    rng = np.random.default_rng(0)
    x = rng.random((n_images, 1, 64, 64), dtype=np.float32)
    y = np.arange(n_images) % 2
    start = time.process_time()
    with strict_mode(mode, 1):
        model, _ = prepare_model("resnet18", 2, {"source": "finetune", "epochs": epochs, "patience": epochs},
                                 x, y, seed=0, threads=1, device="cpu")
        extract_features(model, x, device="cpu", threads=1)
    return time.process_time() - start


def cost_ratio(rounds: int = 2) -> tuple[float, float]:
    """(median CPU seconds of `probe` under off, under strict): fresh processes, modes alternating."""
    import statistics
    import subprocess

    times: dict[str, list[float]] = {"off": [], "strict": []}
    code = "import sys; from axilla.deep.cost import probe; print(probe(sys.argv[1]))"
    env = {k: v for k, v in os.environ.items() if k not in STRICT_ENV}
    for _ in range(rounds):
        for mode in times:
            out = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, check=True, env=env)
            times[mode].append(float(out.stdout.split()[-1]))
    return statistics.median(times["off"]), statistics.median(times["strict"])
