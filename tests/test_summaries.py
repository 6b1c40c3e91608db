"""Chapter summaries: the numbers and phrases the prose quotes, from tables built to give known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from repchange import summaries
from test_analysis_b import _grows, _table


def _baseline(table: pd.DataFrame, level: float) -> pd.DataFrame:
    """An independent-net distance of ``level`` for every (arch, target, seed, layer, metric)."""
    keys = table[table.cls == "all"][["arch", "target", "seed", "layer", "metric"]].drop_duplicates()
    return keys.assign(value=level)


def test_feature_dynamics_summary_of_a_table_that_grows_with_depth() -> None:
    table = _table(_grows)  # distance (depth + 1)(1 - 0.5^epoch), doubled on "far", x1.5 under PWSM alpha=0
    s = summaries.feature_dynamics(table, _baseline(table, level=2.0), [0, 1, 2, 4])
    n = s.numbers
    assert n["b1_combos"] == 2 * 3  # targets x metrics
    assert n["b1_share_deeper_pwsm0"] == 1.0 and n["b1_strictly_growing"] == 6
    assert n["b1_early_share_pwsm0"] == pytest.approx(0.5 / (1 - 0.5 ** 4))  # half of the way by epoch 1
    assert (n["b1_first_epoch"], n["b1_last_epoch"]) == (1, 4)
    assert n["b1_alpha_rank_agreement"] == pytest.approx(1.0)
    # final PWSM alpha=0 distances: 1.5 x (1, 2, 3) x 0.9375 x (1 near, 2 far); only near l1 (1.41) is below 2.0
    assert n["b1_below_baseline_pwsm0"] == pytest.approx(1 / 6)
    assert n["b1_max_ratio_pwsm0"] == pytest.approx(1.5 * 3 * 0.9375 * 2 / 2.0)
    assert s.phrases["b1_target_order_pwsm"].startswith("far (")
    assert "net l3 on far" in s.phrases["b1_above_baseline"] and "near l1" not in s.phrases["b1_above_baseline"]
    assert list(s.tables["spearman"].columns) == ["pwsm_alpha_0", "pwsm_alpha_1", "procrustes_filter"]


def test_shallow_first_tables_and_a_missing_baseline_read_the_other_way() -> None:
    shallow = _table(lambda *a: _grows(*a[:3], 2 - a[3], *a[4:]))
    s = summaries.feature_dynamics(shallow, pd.DataFrame(), [0, 1, 2, 4])
    assert s.numbers["b1_share_deeper_pwsm0"] == 0.0 and s.numbers["b1_strictly_growing"] == 0
    assert "b1_below_baseline_pwsm0" not in s.numbers
    assert s.phrases["b1_above_baseline"] == "not measured"
    only_zero = shallow[shallow.metric != "pwsm_alpha_1"]
    assert np.isnan(summaries.feature_dynamics(only_zero, pd.DataFrame(), [0, 1, 2, 4]).numbers[
        "b1_alpha_rank_agreement"])
