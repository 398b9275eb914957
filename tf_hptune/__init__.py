"""tf-hptune: Cloud ML Engine-style hyperparameter tuning for TensorFlow on your own machines.

The tuner side (this package's top level) never imports TensorFlow; the trial-side modules
(``tf_hptune.estimator``, ``tf_hptune.keras``) do.
"""
from __future__ import annotations

import importlib
from typing import Any

from tf_hptune.errors import SpecError, TfHptuneError
from tf_hptune.spec import StudySpec, load_spec
from tf_hptune.version import __version__

# Imported on first use: trials import this package for the reporters, and should not pay for
# the tuner's numpy and scipy (nothing here imports TensorFlow either).
_LAZY = {
    "Study": "tf_hptune.study",
    "TrialContext": "tf_hptune.context",
    "report_metric": "tf_hptune.report",
    "trial_context": "tf_hptune.context",
    "tune": "tf_hptune.notebook",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SpecError", "Study", "StudySpec", "TfHptuneError", "TrialContext", "load_spec",
    "report_metric", "trial_context", "tune", "__version__",
]
