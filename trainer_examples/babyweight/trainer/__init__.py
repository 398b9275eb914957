"""The babyweight example trainer: a wide-and-deep Estimator on synthetic natality data."""
