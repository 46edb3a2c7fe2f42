"""Statistics of model evaluation, each pinned to a named reference definition.

The statistics modules are pure (arrays in, numbers or DataFrames out); `stage` holds the rules'
entry points (`run`, `evaluate_cohorts`, `run_optimism`), the only code here that reads or
writes files. The definitions follow the references that radiology papers cite, so numbers can
be checked against R by a reviewer:

* AUC           Mann-Whitney statistic, "higher score = positive", never flipped.   (discrimination)
* DeLong        R pROC `ci.auc(method="delong")` / `roc.test(method="delong", paired=TRUE)`.
* Calibration   R rms `val.prob` (logistic recalibration; p of exactly 0 or 1 left out).  (calibration)
* HL            Hosmer-Lemeshow with `pandas.qcut` decile groups.
* NRI / IDI     R Hmisc `improveProb` (category-free NRI, IDI, their standard errors).  (reclassification)
* Net benefit   Vickers & Elkin decision-curve analysis, "p >= pt is treated".  (decision)
* Proportions   Wilson score 95 % CI (statsmodels `proportion_confint(method="wilson")`).  (proportions)
* Surgery spared  patients called negative at a training cut-off; net reduction in interventions
                (Vickers; dcurves `net_intervention_avoided`).  (spared)
* Permutation   Ojala & Garriga permutation p-value of the held-out AUC.  (permutation)
* Sample size   Riley et al. (BMJ 2020) criteria 1-3 for a binary outcome, as R pmsampsize.  (samplesize)

Scores of exactly tied predictions are handled explicitly everywhere; see each docstring.
"""

from .availability import AVAILABILITY_COLUMNS, availability_metrics
from .calibration import brier, calibration_intercept_slope, hosmer_lemeshow
from .decision import (
    DCA_COLUMNS,
    DEFAULT_DCA_THRESHOLDS,
    REFERENCE_STRATEGIES,
    clinical_impact,
    decision_curve,
    net_benefit,
)
from .discrimination import auc_ci_delong, auc_variance_delong, delong_test, roc_auc
from .optimism import OPTIMISM_COLUMNS, bootstrap_optimism_auc, refit_optimism_table
from .permutation import NULL_COLUMNS, PERMUTATION_COLUMNS, permutation_test, permuted_labels
from .proportions import PROPORTION_CI_COLUMNS, proportion_cis, wilson_interval
from .readers import (
    READER_COLUMNS,
    READER_PAIR_COLUMNS,
    READER_VS_MODEL_COLUMNS,
    reader_calls,
    reader_frame,
    reader_problems,
    reader_tables,
)
from .reclassification import idi, nri_continuous
from .samplesize import SAMPLE_SIZE_COLUMNS, cox_snell_r2, riley_binary
from .spared import INTERVENTION_COLUMNS, SPARED_COLUMNS, interventions_curve, net_reduction, sensitivity_threshold
from .stage import evaluate_cohorts, load_readers, run, run_optimism
from .tables import METRIC_COLUMNS, PAIRWISE_COLUMNS, metrics_table, pairwise_table
from .thresholds import threshold_metrics, youden_threshold

__all__ = [
    "INTERVENTION_COLUMNS", "NULL_COLUMNS", "PERMUTATION_COLUMNS", "SAMPLE_SIZE_COLUMNS", "SPARED_COLUMNS",
    "cox_snell_r2", "interventions_curve", "net_reduction", "permutation_test", "permuted_labels", "riley_binary",
    "sensitivity_threshold",
    "AVAILABILITY_COLUMNS", "DCA_COLUMNS", "DEFAULT_DCA_THRESHOLDS", "METRIC_COLUMNS", "OPTIMISM_COLUMNS", "PAIRWISE_COLUMNS",
    "PROPORTION_CI_COLUMNS", "READER_COLUMNS", "READER_PAIR_COLUMNS", "READER_VS_MODEL_COLUMNS",
    "REFERENCE_STRATEGIES", "auc_ci_delong", "availability_metrics", "auc_variance_delong", "bootstrap_optimism_auc", "brier",
    "calibration_intercept_slope", "clinical_impact", "decision_curve", "delong_test", "evaluate_cohorts",
    "hosmer_lemeshow", "idi", "load_readers", "metrics_table", "net_benefit", "nri_continuous",
    "pairwise_table", "proportion_cis", "reader_calls", "reader_frame", "reader_problems", "reader_tables",
    "refit_optimism_table", "roc_auc", "run", "run_optimism", "threshold_metrics", "wilson_interval",
    "youden_threshold",
]
