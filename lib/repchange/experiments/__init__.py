"""The two studies' protocols as functions that return tidy tables (one row per measurement)."""

from . import study_a

__all__ = ["study_a"]
