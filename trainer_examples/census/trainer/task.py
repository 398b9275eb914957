"""Entry point: ``python -m trainer.task --job-dir DIR [--first-layer-size 100 ...]``."""

from __future__ import annotations

import argparse
import json
import os
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line flags, as the Cloud ML Engine census trainer took them (dashes or
    underscores)."""
    from trainer import data

    parser = argparse.ArgumentParser(description=__doc__)

    def flag(name: str, **kwargs) -> None:
        spellings = [f"--{name}", f"--{name.replace('_', '-')}"]
        parser.add_argument(*dict.fromkeys(spellings), dest=name, **kwargs)

    parser.add_argument(
        "--job-dir",
        "--job_dir",
        "--output_dir",
        dest="job_dir",
        required=True,
        help="where to write checkpoints and summaries (a trial id is appended when tuning)",
    )
    flag("first_layer_size", type=int, default=100, help="units of the first hidden layer")
    flag("num_layers", type=int, default=4, help="number of hidden layers")
    flag("scale_factor", type=float, default=0.7, help="each layer's size over the previous")
    flag("hidden_units", default=None,
         help="explicit layer sizes, e.g. '256 128 64' (overrides the three flags above)")
    flag("learning_rate", type=float, default=0.003, help="Adam (deep) and Ftrl (wide) rate")
    flag("batch_size", type=int, default=128, help="training batch size")
    flag("dropout", type=float, default=0.0, help="dropout rate of the hidden layers")
    flag("embedding_size", type=int, default=8, help="embedding of occupation, education...")
    flag("train_examples", type=int, default=20000, help="size of the training set")
    flag("eval_examples", type=int, default=4000, help="size of the eval set")
    flag("num_epochs", type=float, default=5, help="passes over the training set")
    flag("train_steps", type=int, default=None, help="overrides --num_epochs when set")
    flag("eval_steps", type=int, default=None, help="eval batches per evaluation (all if unset)")
    flag("num_evals", type=int, default=8, help="evaluations during training")
    flag("seed", type=int, default=data.DEFAULT_SEED, help="data and model seed")
    flag("num_threads", type=int, default=2, help="TensorFlow intra/inter-op threads (0: all)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # Append the trial id to the output path, as trainers written for Cloud ML Engine did, so
    # that the trials of a tuning job do not overwrite each other.
    trial = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {}).get("trial", "")
    args.output_dir = os.path.join(args.job_dir, trial)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    import tensorflow as tf

    from trainer import model

    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.INFO)
    model.train_and_evaluate(args)


if __name__ == "__main__":
    main(sys.argv[1:])
