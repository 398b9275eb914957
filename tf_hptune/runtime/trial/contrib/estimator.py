"""``tf.contrib.estimator``: ``add_metrics``, ``forward_features`` and the early-stopping
hooks, as TensorFlow 2.15's Estimator has them (``forward_features`` is rebuilt here)."""
from __future__ import annotations

from typing import Any

import tensorflow as tf

from tf_hptune.runtime.trial.contrib import forwarding

_EARLY_STOPPING = "tensorflow_estimator.python.estimator.early_stopping"
__getattr__ = forwarding("tf.contrib.estimator", {
    "add_metrics": "tensorflow_estimator.python.estimator.extenders:add_metrics",
    "InMemoryEvaluatorHook":
        "tensorflow_estimator.python.estimator.hooks.hooks:InMemoryEvaluatorHook",
    **{name: f"{_EARLY_STOPPING}:{name}" for name in (
        "make_early_stopping_hook", "stop_if_higher_hook", "stop_if_lower_hook",
        "stop_if_no_increase_hook", "stop_if_no_decrease_hook")},
})


def forward_features(estimator: Any, keys: str | list[str] | None = None,
                     sparse_default_values: dict[str, Any] | None = None) -> Any:
    """An Estimator like ``estimator`` whose predictions (and ``PredictOutput`` exports) also
    hold the input features ``keys`` (every feature when None); sparse features are made
    dense with ``sparse_default_values[key]``, if given. Predictions must be a dict."""
    v1 = tf.compat.v1
    wanted = [keys] if isinstance(keys, str) else keys
    defaults = sparse_default_values or {}

    def model_fn(features: Any, labels: Any, mode: str, config: Any) -> Any:
        spec = estimator.model_fn(features, labels, mode, config)
        if mode != v1.estimator.ModeKeys.PREDICT:
            return spec
        if not isinstance(spec.predictions, dict) or not isinstance(features, dict):
            raise ValueError("forward_features needs dicts of predictions and of features, got "
                             f"{type(spec.predictions).__name__} and {type(features).__name__}")
        forwarded = {}
        for key in sorted(features) if wanted is None else wanted:
            if key not in features or key in spec.predictions:
                raise ValueError(f"forward_features: {key!r} is not a feature, or is a "
                                 f"prediction already (features {sorted(features)}, "
                                 f"predictions {sorted(spec.predictions)})")
            value = features[key]
            if isinstance(value, tf.SparseTensor):
                value = tf.sparse.to_dense(value, default_value=defaults.get(key))
            forwarded[key] = value
        outputs = {name: v1.estimator.export.PredictOutput({**out.outputs, **forwarded})
                   if isinstance(out, v1.estimator.export.PredictOutput) else out
                   for name, out in (spec.export_outputs or {}).items()}
        return spec._replace(predictions={**spec.predictions, **forwarded},
                             export_outputs=outputs or spec.export_outputs)

    return v1.estimator.Estimator(model_fn=model_fn, model_dir=estimator.model_dir,
                                  config=estimator.config,
                                  warm_start_from=estimator._warm_start_settings)


__all__ = ["forward_features"]
