"""The census example trainer: a wide-and-deep income classifier on synthetic census data."""
