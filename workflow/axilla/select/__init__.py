"""Feature selection fitted on the training partition only.

The published radiomics studies select features with a chain like

    near-zero variance → z-score (training statistics) → univariate test (p < 0.05)
    → correlation filter (|r| > 0.9) → LASSO logistic regression (k-fold CV, λ_min or λ_1se)

Each step is a scikit-learn style transformer (``fit`` / ``transform`` /
``get_feature_names_out``) that takes and returns pandas DataFrames, keeps column names, and
computes everything it stores from the rows passed to ``fit`` and nothing else, so the chain
composes and leakage can be tested uniformly. :class:`SelectionChain` runs the steps in order
and records the feature-count funnel for the report; :func:`build_chain` builds it from the
``select`` section of the config.

Modules: ``base`` (shared plumbing), ``stats`` (the vectorised tests), ``filters``, ``lasso``,
``wrappers`` (mRMR, LightGBM), ``clinical`` (univariate logit, factor-wise stepwise, VIF / GVIF),
``mutual_info`` (MI redundancy filter), ``resample`` (SMOTE as a step), ``chain``
(chain, builders, the way back to the input scale) and ``stage`` (the `select` rule's I/O).

Determinism: the only randomness (LASSO fold assignment, liblinear's coordinate order, SMOTE's
neighbours and interpolation, the MI estimator's jitter) is seeded from ``random_state``; the
global NumPy RNG is never used.
"""

from .chain import (STEP_BUILDERS, SelectionChain, build_chain, raw_scale,
                    zscore_steps)
from .clinical import StepwiseSelector, UnivariateLogitFilter, gvif, odds_ratio_table, univariate_table, vif
from .filters import CorrelationFilter, UnivariateFilter, VarianceFilter, ZScore
from .lasso import LassoSelector
from .mutual_info import MutualInfoFilter
from .resample import SMOTEStep
from .stage import combine_funnels, lasso_tables, run
from .wrappers import LGBMIncremental, MRMRSelector

__all__ = [
    "VarianceFilter",
    "ZScore",
    "UnivariateFilter",
    "CorrelationFilter",
    "LassoSelector",
    "MRMRSelector",
    "LGBMIncremental",
    "UnivariateLogitFilter",
    "StepwiseSelector",
    "MutualInfoFilter",
    "SMOTEStep",
    "SelectionChain",
    "build_chain",
    "STEP_BUILDERS",
    "zscore_steps",
    "raw_scale",
    "odds_ratio_table",
    "univariate_table",
    "vif",
    "gvif",
    "run",
    "lasso_tables",
    "combine_funnels",
]
