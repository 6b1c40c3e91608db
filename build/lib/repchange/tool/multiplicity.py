"""p-values adjusted for the many values of one table (layers × metrics, × steps for a Tracker).

A permutation null gives each value its own p-value; a report of 5 layers × 3 metrics × 20 steps holds
300 of them, and about 15 fall below 0.05 with no effect anywhere. :func:`adjusted` adds, beside each p-value,
the p-value adjusted over every defined p-value of the table (the family), and the family named:
Benjamini–Hochberg (``"bh"``, the false discovery rate; scipy's ``false_discovery_control``), Benjamini–Yekutieli
(``"by"``, any dependence), or Holm (``"holm"``, the family-wise error; statsmodels' ``multipletests``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["METHODS", "adjusted", "check_adjustment"]

METHODS = {"bh": "Benjamini–Hochberg", "by": "Benjamini–Yekutieli", "holm": "Holm"}


def check_adjustment(method: str | None) -> None:
    """Refuse, before any work, an adjustment method other than None or one of :data:`METHODS`."""
    if method is not None and method not in METHODS:
        raise ValueError(f"p_adjust must be None or one of {list(METHODS)} ({', '.join(METHODS.values())}), "
                         f"got {method!r}")


def _adjust(p: np.ndarray, method: str) -> np.ndarray:
    if method == "holm":
        try:
            from statsmodels.stats.multitest import multipletests
        except ImportError:
            raise ValueError("method='holm' uses statsmodels: pip install statsmodels, or choose 'bh' or 'by'") \
                from None
        return multipletests(p, method="holm")[1]
    from scipy.stats import false_discovery_control

    return false_discovery_control(p, method=method)


def adjusted(table: pd.DataFrame, method: str = "bh", family: str | None = None) -> pd.DataFrame:
    """``table`` with ``p_adjusted`` (NaN where ``p_value`` is) and ``p_adjustment`` (the method and the family's
    size) added; ``family`` names what the family spans in that text (default: the table's layers, metrics and
    steps present). A table without ``p_value`` comes back unchanged."""
    check_adjustment(method)
    if "p_value" not in table:
        return table
    out = table.copy()
    defined = out["p_value"].notna().to_numpy()
    out["p_adjusted"] = np.nan
    if defined.any():
        out.loc[defined, "p_adjusted"] = _adjust(out.loc[defined, "p_value"].to_numpy(dtype=float), method)
    if family is None:
        spans = [c for c in ("step", "layer", "layer_a", "layer_b", "metric") if c in out and out[c].nunique() > 1]
        family = " × ".join(f"{c.replace('_', ' ')}s" for c in spans) or "values"
    out["p_adjustment"] = np.where(defined, f"{METHODS[method]} over {int(defined.sum())} p-values ({family})", "")
    return out
