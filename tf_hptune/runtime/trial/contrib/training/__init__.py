"""``tf.contrib.training``: ``HParams`` (and ``parse_values``) only."""
from __future__ import annotations

from tf_hptune.runtime.trial.contrib.training.hparam import HParams, parse_values

__all__ = ["HParams", "parse_values"]
