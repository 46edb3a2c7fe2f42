"""Built-in synthetic demo cohort: MG, MRI and US images, multi-rater masks and a clinical table.

The cohort is written in exactly the format a user supplies (manifest + clinical table + NIfTI
images and masks), so the demo exercises the same code path as a real study. Everything is a
deterministic function of ``seed``: patient ``i`` draws from its own
``SeedSequence(seed, spawn_key=(1, i, ...))`` streams (``base``), so adding patients never changes
the existing ones, and ``plan`` can list the files without rendering anything.

Latent model
------------
Each patient has five independent standard-normal latent phenotypes::

    irregularity   margin irregularity  -> boundary harmonics, spicules, blurred margin, shape/margin
    heterogeneity  internal texture      -> texture variance, necrotic core, DCE rim enhancement
    cortex         node cortex thickness -> US node cortex width, eccentricity, effaced hilum
    size           tumour size           -> radius r0 = 6.5 mm * exp(0.25 * size), within [3, 12] mm
    proliferation  proliferation         -> Ki-67, grade, ER negativity, lower ADC

and the outcome is::

    logit P(ln_status = 1) = -0.89 + 1.8 irregularity + 1.5 heterogeneity + 2.25 cortex
                                   + 0.9 size + 0.9 proliferation

(``latent.INTERCEPT``, ``latent.COEFFICIENTS``; expected prevalence ~41 %, AUC of the true linear
predictor ~0.94). The imaging phenotypes carry most of the signal; clinical variables are noisy
readouts of the latents (diameter from size; Ki-67, grade, ER from proliferation; shape, margin,
BI-RADS from irregularity; imaging_node from cortex; see ``clinical.clinical``). Blood counts
react weakly to the outcome itself (log neutrophils +0.15, log lymphocytes -0.10, log platelets
+0.08 when ln_status = 1), which raises SII = N x P / L in node-positive patients. Two simulated
readers (junior, senior) give a probability of metastasis without and with an AI score
(``clinical.readings``, ``READER_NOISE``) for the reader-study tables. The same formulas, with
their numbers, go into the generated README.md (``readme``).

Images carry a scanner effect: centre B (~30 % of patients) has a different gain and a higher
noise level than centre A, so an external validation on centre B is realistic (``renderers``).

Modules: ``base`` (keyed streams, checks), ``plan`` (the manifest), ``latent`` (the outcome
model), ``shapes`` (lesion and node), ``clinical`` (clinical values, readers), ``cohort``
(patients, clinical and truth tables), ``geometry`` (grids, ROIs, rater masks), ``renderers``
(images), ``kinetics`` (DCE enhancement per phase: DCE1, DCE2 always, DCE3 and DCE4 when a
study's views list them, from a stream of their own), ``readme``, ``writer`` (``generate``).
"""

from __future__ import annotations

from .clinical import BLOOD_EFFECT, CENTRE_B_FRACTION, CLINICAL_COLUMNS, READER_NOISE
from .cohort import clinical_table, truth_table
from .latent import COEFFICIENTS, INTERCEPT, LATENTS
from .kinetics import DCE_TUMOUR, MAX_DCE_PHASES
from .plan import BASE_DCE_PHASES, MANIFEST_COLUMNS, RATERS, VIEWS, absent, dce_phases_for, folder, plan, views
from .readme import readme
from .renderers import MG_SHAPE, MG_SPACING, MRI_SHAPE, MRI_SPACING, US_SHAPE, US_SPACING
from .writer import generate

__all__ = [
    "BASE_DCE_PHASES", "BLOOD_EFFECT", "CENTRE_B_FRACTION", "CLINICAL_COLUMNS", "COEFFICIENTS", "DCE_TUMOUR",
    "INTERCEPT", "LATENTS", "MANIFEST_COLUMNS", "MAX_DCE_PHASES", "MG_SHAPE", "MG_SPACING", "MRI_SHAPE",
    "MRI_SPACING", "RATERS", "READER_NOISE", "US_SHAPE", "US_SPACING", "VIEWS", "absent", "clinical_table",
    "dce_phases_for",
    "folder", "generate", "plan", "readme", "truth_table", "views",
]
