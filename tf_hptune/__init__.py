"""tf-hptune: Cloud ML Engine-style hyperparameter tuning for TensorFlow on your own machines.

The tuner side (this package's top level) never imports TensorFlow; the trial-side modules
(``tf_hptune.estimator``, ``tf_hptune.keras``) do.
"""
from __future__ import annotations

from tf_hptune.errors import SpecError, TfHptuneError
from tf_hptune.spec import StudySpec, load_spec
from tf_hptune.study import Study

__version__ = "0.1.0"

__all__ = ["SpecError", "Study", "StudySpec", "TfHptuneError", "load_spec", "__version__"]
