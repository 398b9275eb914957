"""``tf.contrib.layers``' feature-column helpers, on TensorFlow 2.15's ``tf.compat.v1``
feature columns (usable with ``tf.estimator`` models, ``input_layer`` and ``linear_model``).

A sparse column's ``combiner`` was applied by 1.x linear models; here a linear model sums
(``sparse_combiner`` of the canned estimator chooses), so another combiner is logged and
otherwise ignored. Everything else in ``tf.contrib.layers`` (layers, optimizers, regularizers)
is not provided.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import tensorflow as tf

from tf_hptune.runtime import MODE_NAME

_fc = tf.compat.v1.feature_column
bucketized_column = _fc.bucketized_column
one_hot_column = _fc.indicator_column
create_feature_spec_for_parsing = _fc.make_parse_example_spec


def _combiner(name: str, combiner: str) -> None:
    if combiner != "sum":
        tf.compat.v1.logging.warning(
            "%s: combiner=%r of a sparse column is ignored in the %s (linear models sum)",
            name, combiner, MODE_NAME)


def real_valued_column(column_name: str, dimension: int = 1, default_value: Any = None,
                       dtype: Any = tf.float32, normalizer: Any = None) -> Any:
    return _fc.numeric_column(column_name, shape=(dimension,), default_value=default_value,
                             dtype=dtype, normalizer_fn=normalizer)


def sparse_column_with_keys(column_name: str, keys: Iterable[Any], default_value: int = -1,
                            combiner: str = "sum", dtype: Any = tf.string) -> Any:
    _combiner(column_name, combiner)
    return _fc.categorical_column_with_vocabulary_list(column_name, list(keys), dtype=dtype,
                                                      default_value=default_value)


def sparse_column_with_hash_bucket(column_name: str, hash_bucket_size: int,
                                   combiner: str = "sum", dtype: Any = tf.string,
                                   hash_keys: Any = None) -> Any:
    if hash_keys is not None:
        raise ValueError(f"sparse_column_with_hash_bucket(hash_keys=...) has no equivalent in "
                         f"the {MODE_NAME}")
    _combiner(column_name, combiner)
    return _fc.categorical_column_with_hash_bucket(column_name, hash_bucket_size, dtype=dtype)


def sparse_column_with_integerized_feature(column_name: str, bucket_size: int,
                                           combiner: str = "sum", dtype: Any = tf.int64
                                           ) -> Any:
    _combiner(column_name, combiner)
    return _fc.categorical_column_with_identity(column_name, bucket_size)


def sparse_column_with_vocabulary_file(column_name: str, vocabulary_file: str,
                                       num_oov_buckets: int = 0, vocab_size: int | None = None,
                                       default_value: int = -1, combiner: str = "sum",
                                       dtype: Any = tf.string) -> Any:
    _combiner(column_name, combiner)
    return _fc.categorical_column_with_vocabulary_file(
        column_name, vocabulary_file, vocabulary_size=vocab_size,
        num_oov_buckets=num_oov_buckets,
        default_value=None if num_oov_buckets else default_value, dtype=dtype)


def weighted_sparse_column(sparse_id_column: Any, weight_column_name: str,
                           dtype: Any = tf.float32) -> Any:
    return _fc.weighted_categorical_column(sparse_id_column, weight_column_name, dtype=dtype)


def embedding_column(sparse_id_column: Any, dimension: int, combiner: str = "mean",
                     initializer: Any = None, ckpt_to_load_from: str | None = None,
                     tensor_name_in_ckpt: str | None = None, max_norm: float | None = None,
                     trainable: bool = True) -> Any:
    return _fc.embedding_column(sparse_id_column, dimension, combiner=combiner,
                               initializer=initializer, ckpt_to_load_from=ckpt_to_load_from,
                               tensor_name_in_ckpt=tensor_name_in_ckpt, max_norm=max_norm,
                               trainable=trainable)


def shared_embedding_columns(sparse_id_columns: Iterable[Any], dimension: int,
                             combiner: str = "mean", shared_embedding_name: str | None = None,
                             initializer: Any = None, ckpt_to_load_from: str | None = None,
                             tensor_name_in_ckpt: str | None = None,
                             max_norm: float | None = None, trainable: bool = True) -> Any:
    return _fc.shared_embedding_columns(
        list(sparse_id_columns), dimension, combiner=combiner, initializer=initializer,
        shared_embedding_collection_name=shared_embedding_name,
        ckpt_to_load_from=ckpt_to_load_from, tensor_name_in_ckpt=tensor_name_in_ckpt,
        max_norm=max_norm, trainable=trainable)


def crossed_column(columns: Iterable[Any], hash_bucket_size: int, combiner: str = "sum",
                   ckpt_to_load_from: str | None = None, tensor_name_in_ckpt: str | None = None,
                   hash_key: int | None = None) -> Any:
    """Hashed sparse columns are crossed by their raw feature (the cross hashes anyway)."""
    if ckpt_to_load_from or tensor_name_in_ckpt:
        raise ValueError(f"crossed_column(ckpt_to_load_from=...) has no equivalent in the "
                         f"{MODE_NAME}")
    _combiner("crossed_column", combiner)
    keys = [c.key if type(c).__name__ == "HashedCategoricalColumn" else c for c in columns]
    return _fc.crossed_column(keys, hash_bucket_size, hash_key=hash_key)


def input_from_feature_columns(columns_to_tensors: Mapping[str, Any],
                               feature_columns: Iterable[Any],
                               weight_collections: list[str] | None = None,
                               trainable: bool = True, scope: str | None = None,
                               cols_to_outs: dict[Any, Any] | None = None) -> Any:
    with tf.compat.v1.variable_scope(scope, default_name="input_from_feature_columns"):
        return _fc.input_layer(columns_to_tensors, list(feature_columns),
                              weight_collections=weight_collections, trainable=trainable,
                              cols_to_output_tensors=cols_to_outs)


def parse_feature_columns_from_examples(serialized: Any, feature_columns: Iterable[Any],
                                        name: str | None = None,
                                        example_names: Any = None) -> Any:
    spec = _fc.make_parse_example_spec(list(feature_columns))
    return tf.compat.v1.io.parse_example(serialized, spec, name=name,
                                         example_names=example_names)


__all__ = [
    "bucketized_column", "create_feature_spec_for_parsing", "crossed_column", "embedding_column",
    "input_from_feature_columns", "one_hot_column", "parse_feature_columns_from_examples",
    "real_valued_column", "shared_embedding_columns", "sparse_column_with_hash_bucket",
    "sparse_column_with_integerized_feature", "sparse_column_with_keys",
    "sparse_column_with_vocabulary_file", "weighted_sparse_column",
]
