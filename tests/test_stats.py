from __future__ import annotations

import pandas as pd
import pytest

from repchange.studies.stats import clearly, paired_difference


def test_paired_difference_pairs_by_seed_and_flags_clear_effects() -> None:
    rows = []
    for seed, shift in ((1, 0.0), (2, 1.0), (3, 2.0)):  # seed effects cancel in the pairing
        rows += [dict(seed=seed, layer="a", cond="x", value=5.0 + shift), dict(seed=seed, layer="a", cond="y", value=4.0 + shift),
                 dict(seed=seed, layer="b", cond="x", value=1.0 + shift * 0.1 + seed * 0.05),
                 dict(seed=seed, layer="b", cond="y", value=1.0 + shift * 0.1 - (seed - 2) * 0.3)]
    out = paired_difference(pd.DataFrame(rows), column="cond", a="x", b="y", by=["layer"]).set_index("layer")
    assert out.loc["a", "mean"] == pytest.approx(1.0) and out.loc["a", "sem"] == pytest.approx(0.0)
    assert not out.loc["a", "clear"]  # zero spread: a standard error of 0 is not evidence
    diffs = pd.Series([0.05 - 0.3, 0.10, 0.15 + 0.3])  # 0.05·seed + 0.3·(seed - 2)
    assert out.loc["b", "mean"] == pytest.approx(diffs.mean()) and out.loc["b", "sem"] == pytest.approx(diffs.sem())
    assert not out.loc["b", "clear"] and int(out.loc["b", "n"]) == 3
    with pytest.raises(ValueError, match=r"cond has no rows for \['z'\]"):
        paired_difference(pd.DataFrame(rows), column="cond", a="x", b="z", by=["layer"])


def test_paired_difference_detects_a_consistent_shift() -> None:
    rows = [dict(seed=s, layer="a", cond=c, value=v) for s, (x, y) in enumerate([(1.0, 0.5), (1.1, 0.5), (0.9, 0.5)])
            for c, v in (("x", x), ("y", y))]
    out = paired_difference(pd.DataFrame(rows), column="cond", a="x", b="y", by=["layer"])
    assert bool(out.clear.iloc[0]) and out["mean"].iloc[0] == pytest.approx(0.5)


def test_clearly_names_the_groups_with_a_clear_paired_difference_in_each_direction() -> None:
    rows = []
    for seed, noise in enumerate([0.0, 0.02, -0.01]):
        rows += [dict(seed=seed, layer="up", cond="x", value=1.0 + noise), dict(seed=seed, layer="up", cond="y", value=0.5),
                 dict(seed=seed, layer="down", cond="x", value=0.2 + noise), dict(seed=seed, layer="down", cond="y", value=0.6),
                 dict(seed=seed, layer="noise", cond="x", value=noise * 10), dict(seed=seed, layer="noise", cond="y", value=0.0)]
    frame = pd.DataFrame(rows)
    assert clearly(frame, "higher", column="cond", a="x", b="y") == ["up"]
    assert clearly(frame, "lower", column="cond", a="x", b="y") == ["down"]
    assert clearly(frame, "lower", column="cond", a="y", b="x") == ["up"]
    with pytest.raises(ValueError, match="direction must be 'lower' or 'higher'"):
        clearly(frame, "smaller", column="cond", a="x", b="y")
