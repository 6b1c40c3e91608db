"""The tool's measures give a named answer or a calibrated one: undefined CKA is said, never a NaN or a
silent number; RBF CKA and the direction column; the permutation null and the bootstrap interval."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from repchange.measure.registry import MEASURES, Sides, biased_cka_chance, evaluate
from repchange.measure.metrics import (
    Factors,
    MinibatchCKA,
    UndefinedSimilarity,
    cka_from_grams,
    centred_gram,
    linear_cka,
    rbf_cka,
)
from repchange.measure.resampling import calibrate, check_resampling
from repchange.tool.track import SmallProbeWarning, Tracker

# all samples but one equal: the unbiased self-HSIC is exactly 0 in exact arithmetic, +8.9e-17 in floats
ONE_OUTLIER = torch.tensor([[3.0], [1.0], [1.0], [1.0], [1.0]], dtype=torch.float64)


def _old_debiased_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """The formula before the guard: the ratio of unbiased HSICs, unguarded."""
    fx, fy = Factors(x), Factors(y)
    from repchange.measure.hsic import _unbiased_hsic_from_parts

    cross = _unbiased_hsic_from_parts(fx.hollow_gram, fy.hollow_gram)
    return float(cross / torch.sqrt(fx.self_hsic_unbiased * fy.self_hsic_unbiased))


def test_debiased_cka_at_a_self_hsic_of_zero_is_undefined_not_a_number() -> None:
    y = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    # unguarded, the ratio divides by sqrt(8.9e-17 · HSIC(Y, Y)): a rounding-level number, returned silently
    assert math.isfinite(_old_debiased_cka(ONE_OUTLIER, y)) and float(Factors(ONE_OUTLIER).self_hsic_unbiased) < 1e-15
    with pytest.raises(UndefinedSimilarity, match=r"undefined: self-HSIC <= 0 at n = 5"):
        linear_cka(ONE_OUTLIER, y, debiased=True)
    with pytest.raises(UndefinedSimilarity, match="self-HSIC <= 0"):
        cka_from_grams(centred_gram(ONE_OUTLIER), centred_gram(y), debiased=True)
    acc = MinibatchCKA(debiased=True)
    acc.update(ONE_OUTLIER, y)
    with pytest.raises(UndefinedSimilarity, match="minibatch CKA"):
        acc.value
    assert 0 < linear_cka(ONE_OUTLIER, y) <= 1  # the biased estimator is defined here


def test_a_dead_layer_is_undefined_with_its_reason_in_every_table() -> None:
    with pytest.raises(UndefinedSimilarity, match="constant across samples"):
        Factors(torch.zeros(6, 4))
    value, note = evaluate("cka", Sides(Factors(ONE_OUTLIER), Factors(ONE_OUTLIER * 2)))
    assert value == pytest.approx(1.0)
    value, note = evaluate("cka_debiased", Sides(Factors(ONE_OUTLIER), Factors(ONE_OUTLIER * 2)))
    assert math.isnan(value) and note.startswith("undefined: self-HSIC <= 0")

    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
    x = torch.randn(20, 4, generator=torch.Generator().manual_seed(1))
    tracker = Tracker(model, x, layers=["1"], metrics=("cka", "cka_debiased", "procrustes"), null=5)
    with torch.no_grad():
        model[0].bias.fill_(-100.0)  # every ReLU dead on every probe sample
    rows = tracker.update(1)
    assert rows.value.isna().all()
    assert rows.note.str.startswith("undefined: ").all() and rows.note.str.contains("constant").all()
    assert tracker.table.loc[tracker.table.step == 1, "note"].ne("").all()


def test_streamed_cka_of_a_dead_layer_is_undefined() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
    tracker = Tracker(model, torch.randn(32, 4), layers=["1"], metrics=("cka_debiased",), streaming=True,
                      batch_size=8)
    with torch.no_grad():
        model[0].bias.fill_(-100.0)
    row = tracker.update(1).iloc[0]
    assert math.isnan(row.value) and row.note.startswith("undefined:")


def _kornblith_rbf_cka(x: np.ndarray, y: np.ndarray, threshold: float) -> float:
    """Kornblith et al.'s published numpy recipe, written out: gram_rbf, centre_gram, cka."""
    def gram(z: np.ndarray) -> np.ndarray:
        dot = z @ z.T
        sq_norms = np.diag(dot)
        sq = -2 * dot + sq_norms[:, None] + sq_norms[None, :]
        sq_median = np.median(sq)
        return np.exp(-sq / (2 * threshold**2 * sq_median))

    def centre(g: np.ndarray) -> np.ndarray:
        means = g.mean(0)
        return g - means[:, None] - means[None, :] + means.mean()

    k, l = centre(gram(x)), centre(gram(y))
    return float((k * l).sum() / (np.linalg.norm(k) * np.linalg.norm(l)))


def test_rbf_cka_matches_kornblith_and_its_invariances() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6))
    y = np.tanh(x @ rng.normal(size=(6, 5))) + 0.3 * rng.normal(size=(40, 5))
    for sigma in (0.5, 1.0):
        assert rbf_cka(x, y, sigma=sigma) == pytest.approx(_kornblith_rbf_cka(x, y, sigma), abs=1e-10)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert rbf_cka(x, 3.0 * x @ q + 5.0) == pytest.approx(1.0, abs=1e-12)  # rotation, scale, shift
    assert rbf_cka(x, y, sigma=200.0) == pytest.approx(linear_cka(x, y), abs=1e-3)  # wide kernel -> linear
    with pytest.raises(ValueError, match="sigma must be positive"):
        rbf_cka(x, y, sigma=0.0)


def test_every_measure_says_which_way_is_more_similar() -> None:
    assert {m: MEASURES[m].higher_is_better for m in MEASURES} == {
        "cka": True, "cka_debiased": True, "rbf_cka": True, "mutual_knn": True, "procrustes": False,
        "pwsm": False, "filter_procrustes": True, "mutual_knn_uncentred": True, "cknna": True, "svcca": True,
        "pwcca": True, "rsa": True, "procrustes_heldout": False, "pwsm_heldout": False, "procrustes_moments": False}
    model, x = nn.Sequential(nn.Linear(5, 12), nn.Tanh()), torch.randn(30, 5)
    rows = Tracker(model, x, layers=["1"], metrics=("cka", "procrustes", "rbf_cka", "mutual_knn"),
                   k=5).update(0)
    assert rows.set_index("metric").higher_is_better.to_dict() == {
        "cka": True, "procrustes": False, "rbf_cka": True, "mutual_knn": True}
    assert rows.set_index("metric").value.to_dict() == pytest.approx(
        {"cka": 1.0, "procrustes": 0.0, "rbf_cka": 1.0, "mutual_knn": 1.0}, abs=1e-6)


def _pair(seed: int, n: int, related: bool) -> Sides:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 30, generator=g, dtype=torch.float64)
    y = x[:, :10] @ torch.randn(10, 8, generator=g, dtype=torch.float64) if related else \
        torch.randn(n, 8, generator=g, dtype=torch.float64)
    return Sides(Factors(x), Factors(y + 0.5 * torch.randn(n, 8, generator=g, dtype=torch.float64)), k=5)


@pytest.mark.parametrize("metric", ["cka", "cka_debiased", "mutual_knn",
                                    pytest.param("procrustes", marks=pytest.mark.slow)])  # an SVD per shuffle: 16 s
def test_the_permutation_null_is_calibrated_and_finds_a_real_relation(metric: str) -> None:
    p_unrelated, z_related = [], []
    for seed in range(30):
        sides = _pair(seed, 40, related=False)
        value, _ = evaluate(metric, sides)
        p_unrelated.append(calibrate(metric, sides, value, permutations=39, seed=seed).p_value)
    # under no relation the p-value is uniform on {1/40, ..., 1}: about 5 % fall at or below 0.05
    assert np.mean(np.array(p_unrelated) <= 0.05) <= 0.2
    assert 0.3 < np.mean(p_unrelated) < 0.7
    for seed in range(3):
        sides = _pair(seed, 40, related=True)
        value, _ = evaluate(metric, sides)
        cal = calibrate(metric, sides, value, permutations=39, seed=seed)
        assert cal.p_value == pytest.approx(1 / 40)  # no shuffle comes near the true pairing
        z_related.append(cal.z if MEASURES[metric].higher_is_better else -cal.z)
        assert cal.null_low <= cal.null_mean <= cal.null_high
    assert min(z_related) > 2


def test_the_null_of_biased_cka_sits_at_its_chance_level_for_wide_layers() -> None:
    g = torch.Generator().manual_seed(0)
    n, p = 50, 2000
    sides = Sides(Factors(torch.randn(n, p, generator=g)), Factors(torch.randn(n, p, generator=g)))
    value, _ = evaluate("cka", sides)
    cal = calibrate("cka", sides, value, permutations=50)
    assert value == pytest.approx(biased_cka_chance(n, p, p), abs=0.01)  # 0.976: unrelated, yet "similar"
    assert cal.null_mean == pytest.approx(value, abs=0.01) and cal.p_value > 0.05


def test_the_bootstrap_interval_covers_debiased_cka_and_is_refused_where_it_would_shift() -> None:
    sides = _pair(0, 120, related=True)
    value, _ = evaluate("cka_debiased", sides)
    cal = calibrate("cka_debiased", sides, value, bootstrap=200)
    assert cal.ci_low < value < cal.ci_high and cal.ci_high - cal.ci_low < 0.5
    assert "no bootstrap interval" in calibrate("cka", sides, evaluate("cka", sides)[0], bootstrap=20).note
    with pytest.raises(ValueError, match="bootstrap intervals are given for"):
        check_resampling(["cka", "procrustes"], 0, 100)
    with pytest.raises(ValueError, match="confidence must lie"):
        check_resampling(["cka_debiased"], 0, 100, confidence=1.5)
    with pytest.raises(ValueError, match="0 \\(off\\) or positive"):
        Tracker(nn.Sequential(nn.Linear(3, 4)), torch.randn(10, 3), layers=["0"], null=-1)


def test_a_tracker_warns_where_n_is_too_small_for_biased_cka() -> None:
    model = nn.Sequential(nn.Linear(4, 600), nn.ReLU())
    x = torch.randn(40, 4)
    with pytest.warns(SmallProbeWarning, match=r"1 \(widths 600, 600: 0.94\)"):
        Tracker(model, x, layers=["1"], metrics=("cka",))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallProbeWarning)
        Tracker(model, x, layers=["1"], metrics=("cka_debiased",))  # the debiased estimator: no warning
        Tracker(nn.Sequential(nn.Linear(4, 6), nn.ReLU()), torch.randn(400, 4), layers=["1"], metrics=("cka",))


def test_tracked_values_carry_the_null_band() -> None:
    torch.manual_seed(0)
    model, x = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 8)), torch.randn(60, 6)
    tracker = Tracker(model, x, layers=["1", "2"], metrics=("cka", "cka_debiased"), null=30, bootstrap=30)
    rows = tracker.update(0)
    assert {"null_mean", "null_sd", "null_low", "null_high", "p_value", "z", "ci_low", "ci_high"} <= set(rows)
    assert np.allclose(rows.p_value, 1 / 31)  # a layer against itself beats every shuffle
    debiased = rows[rows.metric == "cka_debiased"]
    assert debiased.ci_low.notna().all() and rows[rows.metric == "cka"].ci_low.isna().all()


def test_p_values_are_adjusted_over_the_table_and_the_correction_is_named() -> None:
    from scipy.stats import false_discovery_control

    from repchange.tool.multiplicity import adjusted

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 24), nn.Tanh(), nn.Linear(24, 12), nn.Tanh(), nn.Linear(12, 4))
    x = torch.randn(60, 6)
    tracker = Tracker(model, x, layers=["1", "3"], metrics=("cka", "cka_debiased"), null=50)
    for step in range(2):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.3 * torch.randn_like(p))
        tracker.update(step)
    table = tracker.table
    assert len(table) == 8 and table.p_value.notna().all()
    assert table.p_adjusted.to_numpy() == pytest.approx(false_discovery_control(table.p_value.to_numpy()))
    assert set(table.p_adjustment) == {"Benjamini–Hochberg over 8 p-values (steps × layers × metrics)"}
    spread = pd.DataFrame(dict(layer=list("abcde"), metric="cka", p_value=[0.01, 0.02, 0.03, np.nan, 0.5]))
    bh = adjusted(spread)
    assert bh.p_adjusted.tolist()[:3] == pytest.approx([0.04, 0.04, 0.04]) and bh.p_adjusted.iloc[4] == 0.5  # p m / rank, m = 4
    assert np.isnan(bh.p_adjusted.iloc[3]) and bh.p_adjustment.iloc[3] == ""
    assert bh.p_adjustment.iloc[0] == "Benjamini–Hochberg over 4 p-values (layers)"
    holm = adjusted(spread, "holm")
    ordered = np.sort(spread.p_value.dropna().to_numpy())
    expected = np.minimum(1, np.maximum.accumulate(ordered * (len(ordered) - np.arange(len(ordered)))))
    assert np.sort(holm.p_adjusted.dropna().to_numpy()) == pytest.approx(expected)  # Holm's step-down, written out
    plain = Tracker(model, x, layers=["1"], metrics=("cka",), null=10, p_adjust=None)
    plain.update(0)
    assert "p_value" in plain.table and "p_adjusted" not in plain.table
    with pytest.raises(ValueError, match="p_adjust must be None or one of"):
        Tracker(model, x, layers=["1"], null=10, p_adjust="bonferroni")
