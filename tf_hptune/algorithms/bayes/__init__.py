"""Bayesian optimisation: a GP model (``gp``), acquisition functions (``acquisition``), their
optimizer over mixed spaces (``optimizer``) and the designer that joins them (``designer``)."""
from __future__ import annotations

from tf_hptune.algorithms.bayes.designer import BayesianDesigner

__all__ = ["BayesianDesigner"]
