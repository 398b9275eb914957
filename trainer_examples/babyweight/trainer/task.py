"""Entry point: ``python -m trainer.task --job-dir DIR [--nnsize 64 --nembeds 3 ...]``."""

from __future__ import annotations

import argparse
import json
import os
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line flags, as the Cloud ML Engine babyweight trainer took them."""
    from trainer import data

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--job-dir",
        "--job_dir",
        "--output_dir",
        dest="job_dir",
        required=True,
        help="where to write checkpoints and summaries (a trial id is appended when tuning)",
    )
    parser.add_argument("--batch_size", type=int, default=512)
    parser.add_argument(
        "--train_examples", type=int, default=50000, help="size of the training set"
    )
    parser.add_argument("--eval_examples", type=int, default=10000, help="size of the eval set")
    parser.add_argument(
        "--nnsize", type=int, default=64, help="hidden layers sized from --nnsize: n, n/2, n/4"
    )
    parser.add_argument(
        "--nembeds", type=int, default=3, help="embedding size of the crossed wide columns"
    )
    parser.add_argument(
        "--eval_steps", type=int, default=None, help="eval batches per evaluation (all if unset)"
    )
    parser.add_argument("--learning_rate", type=float, default=None, help="DNN learning rate")
    parser.add_argument(
        "--num_epochs", type=float, default=12, help="passes over the training set"
    )
    parser.add_argument(
        "--train_steps", type=int, default=None, help="overrides --num_epochs when set"
    )
    parser.add_argument("--num_evals", type=int, default=4, help="evaluations during training")
    parser.add_argument(
        "--data_dir",
        default=data.default_data_dir(),
        help="cache of generated CSV files ($TF_HPTUNE_DATA_DIR or ~/.cache/tf_hptune/babyweight)",
    )
    parser.add_argument("--seed", type=int, default=data.DEFAULT_SEED, help="data and model seed")
    parser.add_argument(
        "--num_threads", type=int, default=2, help="TensorFlow intra/inter-op threads (0: all)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # Append the trial id to the output path, so that trials of a tuning job do not clobber
    # each other; this is what trainers written for Cloud ML Engine did.
    args.output_dir = os.path.join(
        args.job_dir,
        json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {}).get("trial", ""),
    )
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    import tensorflow as tf

    from trainer import model

    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.INFO)
    model.train_and_evaluate(args)


if __name__ == "__main__":
    main(sys.argv[1:])
