"""DCE-MRI signal per phase in the demo: one empirical enhancement curve for the tumour and a
persistent one for the background, through the two phases the demo always had (DCE1, DCE2).

Tumour amplitude at phase k (k = 1, 2, ...; one phase = one post-contrast acquisition)::

    A(k) = E * (1 - q**k) * exp(-w * k)

wash-in (1 - q**k) times wash-out exp(-w k): with ``WASHOUT`` w = 0.08 per phase and the curve
through A(1) = 600 and A(2) = 820, the signal peaks at phase 3 and washes out slightly by phase
4 (a type III curve, typical of invasive carcinoma). Texture, rim and necrosis contrasts sharpen
after the first phase and level off; the rim contrast fades as the centre fills in (centripetal
enhancement). Background (fat, fibroglandular tissue): ``base + E_bg * (1 - 0.5**k)``,
persistent enhancement. DCE1 and DCE2 keep their original numbers exactly (the default demo's
files do not change); DCE3 and DCE4 follow from the curves.
"""

from __future__ import annotations

import math

MAX_DCE_PHASES = 4
WASHOUT = 0.08
A1, A2 = 600.0, 820.0  # tumour amplitude of DCE1, DCE2 (the demo's original values)

# Through A1 and A2: A2 / A1 = (1 + q) exp(-w), and E from A1.
Q = A2 / A1 * math.exp(WASHOUT) - 1.0
E = A1 * math.exp(WASHOUT) / (1.0 - Q)


def amplitude(k: int) -> float:
    """Tumour DCE amplitude at phase ``k`` (the curve above)."""
    return E * (1.0 - Q ** k) * math.exp(-WASHOUT * k)


def _background(k: int, base: float, rise: float) -> float:
    return base + rise * (1.0 - 0.5 ** k)


# Fat 100 -> 120, fibroglandular 150 -> 350 at saturation: (110, 250) at DCE1, (115, 300) at DCE2.
DCE_BACKGROUND = {f"DCE{k}": (_background(k, 100.0, 20.0), _background(k, 150.0, 200.0))
                  for k in range(1, MAX_DCE_PHASES + 1)}

# view -> (amplitude, texture t, rim r, necrosis n); DCE1 / DCE2 exactly as before.
DCE_TUMOUR = {
    "DCE1": (A1, 1.0, 0.5, 0.6),
    "DCE2": (A2, 1.4, 1.0, 0.8),
    "DCE3": (amplitude(3), 1.5, 0.8, 0.85),
    "DCE4": (amplitude(4), 1.5, 0.6, 0.85),
}
