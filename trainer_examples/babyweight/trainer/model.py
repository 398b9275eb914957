"""Input functions, feature columns and the wide-and-deep Estimator of the babyweight model."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from trainer import data

CSV_DEFAULTS = [[0.0], ["null"], [0.0], ["null"], [0.0]]


def read_dataset(filename: str, mode: str, batch_size: int = 512, seed: int | None = None):
    """An input_fn reading the CSV file: endless and shuffled to train, one pass to evaluate."""

    def decode_csv(lines):
        columns = tf.io.decode_csv(lines, record_defaults=CSV_DEFAULTS)
        features = dict(zip(data.CSV_COLUMNS, columns))
        label = features.pop(data.LABEL_COLUMN)
        return features, label

    def _input_fn():
        dataset = tf.data.TextLineDataset([filename]).skip(1)  # the header line
        if mode == tf.estimator.ModeKeys.TRAIN:
            dataset = dataset.cache().shuffle(10 * batch_size, seed=seed).repeat()
        dataset = dataset.batch(batch_size).map(decode_csv).prefetch(2)
        return dataset

    return _input_fn


def hidden_units(nnsize: int) -> list[int]:
    """Three hidden layers sized from ``--nnsize``: n, n/2, n/4, at least 2 units each."""
    return [max(2, nnsize // d) for d in (1, 2, 4)]


def get_wide_deep(nembeds: int):
    """Wide (sparse, linear) and deep (dense) feature columns."""
    fc = tf.feature_column
    is_male = fc.categorical_column_with_vocabulary_list("is_male", data.IS_MALE_VALUES)
    mother_age = fc.numeric_column("mother_age")
    plurality = fc.categorical_column_with_vocabulary_list("plurality", data.PLURALITY_VALUES)
    gestation_weeks = fc.numeric_column("gestation_weeks")

    # Discretize.
    age_buckets = fc.bucketized_column(mother_age, boundaries=np.arange(15, 45, 1).tolist())
    gestation_buckets = fc.bucketized_column(
        gestation_weeks, boundaries=np.arange(17, 47, 1).tolist()
    )

    # Sparse columns are wide: a linear relationship with the output.
    wide = [is_male, plurality, age_buckets, gestation_buckets]

    # Feature cross all the wide columns and embed into a lower dimension.
    crossed = fc.crossed_column(wide, hash_bucket_size=20000)
    embed = fc.embedding_column(crossed, nembeds)

    # Continuous columns are deep: a complex relationship with the output.
    deep = [
        mother_age,
        gestation_weeks,
        fc.indicator_column(is_male),
        fc.indicator_column(plurality),
        embed,
    ]
    return wide, deep


def my_rmse(labels, predictions):
    """The evaluation metric the tuner optimizes."""
    pred_values = predictions["predictions"]
    return {"rmse": tf.compat.v1.metrics.root_mean_squared_error(labels, pred_values)}


def train_and_evaluate(args) -> None:
    """Train the model, evaluating it at each checkpoint (about four times)."""
    train_file = data.ensure_csv(args.data_dir, "train", args.train_examples, args.seed)
    eval_file = data.ensure_csv(args.data_dir, "eval", args.eval_examples, args.seed)
    train_steps = args.train_steps or math.ceil(
        args.num_epochs * args.train_examples / args.batch_size
    )
    checkpoint_steps = max(1, math.ceil(train_steps / args.num_evals))

    threads = args.num_threads
    session_config = tf.compat.v1.ConfigProto(
        intra_op_parallelism_threads=threads, inter_op_parallelism_threads=threads
    )
    run_config = tf.estimator.RunConfig(
        model_dir=args.output_dir,
        save_checkpoints_steps=checkpoint_steps,
        keep_checkpoint_max=3,
        session_config=session_config,
        tf_random_seed=args.seed,
    )
    learning_rate = args.learning_rate

    def dnn_optimizer():
        return tf.keras.optimizers.legacy.Adagrad(learning_rate=learning_rate or 0.1)

    def linear_optimizer():
        return tf.keras.optimizers.legacy.Ftrl(learning_rate=0.2)

    wide, deep = get_wide_deep(args.nembeds)
    estimator = tf.estimator.DNNLinearCombinedRegressor(
        model_dir=args.output_dir,
        linear_feature_columns=wide,
        linear_optimizer=linear_optimizer,
        dnn_feature_columns=deep,
        dnn_hidden_units=hidden_units(args.nnsize),
        dnn_optimizer=dnn_optimizer,
        config=run_config,
    )
    estimator = tf.estimator.add_metrics(estimator, my_rmse)
    train_spec = tf.estimator.TrainSpec(
        input_fn=read_dataset(train_file, tf.estimator.ModeKeys.TRAIN, args.batch_size, args.seed),
        max_steps=train_steps,
    )
    eval_spec = tf.estimator.EvalSpec(
        input_fn=read_dataset(eval_file, tf.estimator.ModeKeys.EVAL, args.batch_size),
        steps=args.eval_steps,
        start_delay_secs=0,  # evaluate at every checkpoint
        throttle_secs=0,
    )
    tf.estimator.train_and_evaluate(estimator, train_spec, eval_spec)
