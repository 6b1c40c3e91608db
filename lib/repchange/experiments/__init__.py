"""The two studies' protocols as functions that return tidy tables (one row per measurement)."""

from . import metric_checks, pretraining, study_a

__all__ = ["metric_checks", "pretraining", "study_a"]
