"""Input functions, feature columns and the wide-and-deep Estimator of the census model."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from trainer import data

EVAL_BATCH_SIZE = 1000


def input_fn(
    features: dict[str, np.ndarray],
    labels: np.ndarray,
    mode: str,
    batch_size: int,
    seed: int | None = None,
):
    """An input_fn over in-memory columns: endless and shuffled to train, one pass to evaluate."""

    def _input_fn():
        dataset = tf.data.Dataset.from_tensor_slices((features, labels))
        if mode == tf.estimator.ModeKeys.TRAIN:
            dataset = dataset.shuffle(len(labels), seed=seed).repeat()
        return dataset.batch(batch_size).prefetch(2)

    return _input_fn


def hidden_units(first_layer_size: int, num_layers: int, scale_factor: float) -> list[int]:
    """Layer sizes shrinking geometrically from ``first_layer_size``, at least 2 units each."""
    return [max(2, int(first_layer_size * scale_factor**i)) for i in range(num_layers)]


def layer_sizes(args) -> list[int]:
    """``--hidden_units`` when given (sizes separated by spaces or commas), else the sizes from
    ``--first_layer_size``, ``--num_layers`` and ``--scale_factor``."""
    if args.hidden_units:
        return [int(u) for u in args.hidden_units.replace(",", " ").split()]
    return hidden_units(args.first_layer_size, args.num_layers, args.scale_factor)


def _normalizer(mean: float, sd: float):
    return lambda x: (x - mean) / sd


def get_wide_deep(embedding_size: int):
    """Wide (sparse, linear) and deep (dense) feature columns."""
    fc = tf.feature_column
    cats = {
        name: fc.categorical_column_with_vocabulary_list(name, values)
        for name, values in data.CATEGORICAL.items()
    }
    nums = {
        name: fc.numeric_column(name, normalizer_fn=_normalizer(mean, sd))
        for name, (mean, sd) in data.NUMERIC.items()
    }
    age_buckets = fc.bucketized_column(
        fc.numeric_column("age"), boundaries=[18, 25, 30, 35, 40, 45, 50, 55, 60, 65]
    )
    wide = [
        *cats.values(),
        age_buckets,
        fc.crossed_column(["education", "occupation"], hash_bucket_size=1000),
        fc.crossed_column([age_buckets, "marital_status"], hash_bucket_size=200),
    ]
    deep = [
        *nums.values(),
        fc.embedding_column(cats["occupation"], embedding_size),
        fc.embedding_column(cats["education"], embedding_size),
        fc.embedding_column(cats["native_country"], embedding_size),
        *(fc.indicator_column(cats[name])
          for name in ("workclass", "marital_status", "relationship", "race", "gender")),
    ]
    return wide, deep


def train_and_evaluate(args) -> None:
    """Train the model, evaluating accuracy and AUC at each of ``--num_evals`` checkpoints."""
    train_x, train_y = data.split(args.train_examples, "train", args.seed)
    eval_x, eval_y = data.split(args.eval_examples, "eval", args.seed)
    train_steps = args.train_steps or math.ceil(
        args.num_epochs * args.train_examples / args.batch_size
    )
    threads = args.num_threads
    run_config = tf.estimator.RunConfig(
        model_dir=args.output_dir,
        save_checkpoints_steps=max(1, math.ceil(train_steps / args.num_evals)),
        keep_checkpoint_max=3,
        session_config=tf.compat.v1.ConfigProto(
            intra_op_parallelism_threads=threads, inter_op_parallelism_threads=threads
        ),
        tf_random_seed=args.seed,
    )
    learning_rate = args.learning_rate

    def dnn_optimizer():
        return tf.keras.optimizers.legacy.Adam(learning_rate=learning_rate)

    def linear_optimizer():
        return tf.keras.optimizers.legacy.Ftrl(learning_rate=learning_rate)

    wide, deep = get_wide_deep(args.embedding_size)
    estimator = tf.estimator.DNNLinearCombinedClassifier(
        model_dir=args.output_dir,
        linear_feature_columns=wide,
        linear_optimizer=linear_optimizer,
        dnn_feature_columns=deep,
        dnn_hidden_units=layer_sizes(args),
        dnn_optimizer=dnn_optimizer,
        dnn_dropout=args.dropout or None,
        config=run_config,
    )
    train_spec = tf.estimator.TrainSpec(
        input_fn=input_fn(train_x, train_y, tf.estimator.ModeKeys.TRAIN, args.batch_size,
                          args.seed),
        max_steps=train_steps,
    )
    eval_spec = tf.estimator.EvalSpec(
        input_fn=input_fn(eval_x, eval_y, tf.estimator.ModeKeys.EVAL, EVAL_BATCH_SIZE),
        steps=args.eval_steps,
        start_delay_secs=0,  # evaluate at every checkpoint
        throttle_secs=0,
    )
    tf.estimator.train_and_evaluate(estimator, train_spec, eval_spec)
