"""The claims ledger: intervals, verdicts, and each claim's statistic on tables with known answers."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from repchange import claims

LAYERS = ["block1", "block2", "block3", "block4", "logits"]
SEEDS = [1, 2, 3]


def test_t_interval_is_students_interval_of_the_mean() -> None:
    values = [0.2, 0.5, 0.3, 0.9]
    mean, low, high, n = claims.t_interval(values, 0.9)
    expected = sps.t.interval(0.9, 3, loc=np.mean(values), scale=sps.sem(values))
    assert (n, mean) == (4, pytest.approx(np.mean(values)))
    assert (low, high) == pytest.approx(expected, abs=1e-12)
    assert claims.t_interval([0.4, np.nan, np.inf])[3] == 1  # non-finite values are dropped
    mean, low, high, n = claims.t_interval([0.4])
    assert mean == 0.4 and np.isnan(low) and np.isnan(high) and n == 1
    assert claims.t_interval([])[3] == 0


@pytest.mark.parametrize("low, high, direction, null, expected", [
    (0.1, 0.3, "greater", 0.0, "holds"),
    (-0.1, 0.3, "greater", 0.0, "inconclusive"),
    (-0.3, -0.1, "greater", 0.0, "does not hold"),
    (-0.3, 0.0, "greater", 0.0, "does not hold"),
    (0.6, 0.9, "greater", 0.5, "holds"),
    (0.4, 0.9, "greater", 0.5, "inconclusive"),
    (-0.3, -0.1, "less", 0.0, "holds"),
    (0.0, 0.2, "less", 0.0, "does not hold"),
    (-0.2, -0.1, "not greater", 0.0, "holds"),
    (-0.2, 0.1, "not greater", 0.0, "inconclusive"),
    (0.05, 0.1, "not greater", 0.0, "does not hold"),
    (np.nan, np.nan, "greater", 0.0, "inconclusive"),
])
def test_verdicts_follow_the_interval(low, high, direction, null, expected) -> None:
    assert claims.verdict(low, high, direction, null) == expected


def test_a_claim_with_an_unknown_direction_is_an_error() -> None:
    with pytest.raises(ValueError, match="direction must be one of"):
        claims.Claim("x", "A", "Fig. 1", "c", "s", "seed", "bigger")


def _cka_rows(value, **keys: list) -> pd.DataFrame:
    """Rows over the product of ``keys`` (+ metric cka / cka_debiased) with ``value(**row)`` as value."""
    names = list(keys)
    rows = []
    for combo in itertools.product(*keys.values()):
        row = dict(zip(names, combo))
        for metric in ("cka", "cka_debiased"):
            rows.append({**row, "metric": metric, "value": value(**row) if metric == "cka" else -9.0})
    return pd.DataFrame(rows)


def _study_a_tables() -> dict[str, pd.DataFrame]:
    depth = {layer: k for k, layer in enumerate(LAYERS)}
    jitter = {1: 0.0, 2: 0.01, 3: -0.01}
    pretraining = _cka_rows(lambda seed, layer, epoch, comparison: 1 - 0.1 * depth[layer] * epoch + jitter[seed],
                            seed=SEEDS, layer=LAYERS, epoch=[0, 1, 2], comparison=["init", "independent_init"])
    histories = pd.DataFrame([dict(degree=d, seed=s, epoch=e, train_acc=0.9 - 0.02 * d, test_acc=0.8 - 0.07 * d + jitter[s])
                              for d in (0, 9) for s in SEEDS for e in (0, 1, 2)])
    # Random labels (d=9) move only the logits further: 0.2 more there, nothing elsewhere.
    degrees = _cka_rows(lambda seed, layer, epoch, comparison, degree: 0.8 - (0.2 if degree and layer == "logits" else 0),
                        seed=SEEDS, layer=LAYERS, epoch=[2], comparison=["init"], degree=[0, 9])
    sizes = _cka_rows(lambda seed, layer, epoch, comparison, train_size: 0.9 if train_size == 64 else 0.7 + jitter[seed],
                      seed=SEEDS, layer=LAYERS, epoch=[2], comparison=["init"], train_size=[64, 640])

    def fine(seed, layer, epoch, comparison, domain, degree, shift):
        if comparison == "independent_init":
            return 0.5
        base = {"block1": 0.95, "block2": 0.9, "block3": 0.85, "block4": 0.8, "logits": 0.6}[layer]
        if domain == "cross" and layer == "block4":
            base -= 0.3
        if shift and layer == "block1":
            base += 0.01
        return base - (0.1 if degree == 9 else 0.0) + jitter[seed]

    parts = [_cka_rows(fine, seed=SEEDS, layer=LAYERS, epoch=[3], comparison=["pretrained", "independent_init"],
                       domain=[domain], degree=[degree], shift=[shift])
             for domain, degree, shift in (("same", 0, 0), ("same", 9, 0), ("cross", 0, 0), ("cross", 9, 0),
                                           ("same", 0, 1))]
    return dict(pretraining=pretraining, histories=histories, degrees=degrees, sizes=sizes,
                finetuning=pd.concat(parts, ignore_index=True))


def test_study_a_statistics_have_the_built_in_answers() -> None:
    ledger = claims.study_a_claims(**_study_a_tables()).set_index("key")
    value = ledger["value"]
    assert value["A1-depth"] == pytest.approx(-1.0)  # CKA-to-init strictly falls with depth in every seed
    assert value["A1-output"] == pytest.approx(0.2)  # block4 0.6 vs logits 0.2 (after 2 epochs, 0.1·depth·epoch)
    assert value["A2-accuracy"] == pytest.approx(0.63)
    assert value["A2-memorise"] == pytest.approx((0.9 - 0.18) - (0.8 - 0.63))
    assert value["A3-last-layers"] == pytest.approx(0.2)
    assert value["A3-size"] == pytest.approx(0.2)
    assert value["A4-head"] == pytest.approx(0.2)  # logits 0.6 vs the lowest block 0.8
    assert value["A4-random"] == pytest.approx(0.1) and value["A4-random-early"] == pytest.approx(0.1)
    assert value["A4-penultimate"] == pytest.approx(0.3)
    assert value["A4-domain-vs-task"] == pytest.approx(0.01)
    assert value["A5-closer"] == pytest.approx(np.mean([0.95, 0.9, 0.85, 0.8, 0.6]) - 0.5)
    assert value["A5-random-unlearns"] == pytest.approx(0.0)
    assert (ledger.n == 3).all()
    # Differences identical across seeds give a zero-width interval: the verdict is decided by its sign.
    assert ledger.loc["A1-depth", "verdict"] == "holds" and ledger.loc["A4-head", "verdict"] == "holds"
    unlearns = ledger.loc["A5-random-unlearns"]  # seeds scatter around 0: the interval contains the null
    assert unlearns.ci_low < 0 < unlearns.ci_high and unlearns.verdict == "inconclusive"
    assert ledger.loc["A3-size", "verdict"] == "holds"  # seeds differ: a real interval above 0


def test_a_run_without_shifted_labels_marks_that_claim_not_measured() -> None:
    tables = _study_a_tables()
    tables["finetuning"] = tables["finetuning"][tables["finetuning"]["shift"] == 0]
    row = claims.study_a_claims(**tables).set_index("key").loc["A4-domain-vs-task"]
    assert row.verdict == "not measured" and row.n == 0 and "no shifted-label" in row.per_unit


def _dynamics(targets: list[str]) -> pd.DataFrame:
    """Distances that grow with depth and epoch, larger on dissimilar targets; the two metrics proportional."""
    rows = []
    layers = ["l1", "l2", "l3"]
    for arch, target, (k, layer), epoch, cls in itertools.product(
            ["vgg_small", "resnet_small"], targets, enumerate(layers), [0, 1, 2], ["all", "0", "1"]):
        scale = 2.0 if claims.SIMILARITY_TO_SOURCE[target] == "dissimilar" else 1.0
        base = 0.1 * (k + 1) * epoch * scale * (1.1 if cls == "1" else 1.0)
        for metric, factor in (("pwsm_alpha_0", 1.0), ("procrustes_filter", 0.5)):
            rows.append(dict(arch=arch, target=target, seed=1, layer=layer, epoch=epoch, cls=cls, metric=metric,
                             value=factor * base))
    return pd.DataFrame(rows)


def test_study_b_statistics_have_the_built_in_answers() -> None:
    ledger = claims.study_b_claims(_dynamics(["fashion_heldout", "digits"])).set_index("key")
    assert ledger.loc["B-depth (pwsm_alpha_0)", "value"] == pytest.approx(1.0)
    assert ledger.loc["B-depth (procrustes_filter)", "n"] == 4  # 2 archs × 2 targets × 1 seed
    # layer-mean final distance: 0.1·2·mean(1,2,3) = 0.4 on the similar target, twice that on digits
    assert ledger.loc["B-similarity", "value"] == pytest.approx(0.4)
    assert ledger.loc["B-similarity", "n"] == 2  # one unit per arch and seed
    assert ledger.loc["B-agreement", "value"] == pytest.approx(1.0)  # proportional metrics: r = 1
    assert ledger.loc["B-agreement", "null"] == 0.5 and ledger.loc["B-agreement", "verdict"] == "holds"


def test_study_b_without_a_similar_target_says_so() -> None:
    row = claims.study_b_claims(_dynamics(["fashion_coarse", "digits"])).set_index("key").loc["B-similarity"]
    assert row.verdict == "not measured" and "similar and a dissimilar" in row.per_unit


def test_the_ledger_counts_verdicts_and_draws_every_measured_claim() -> None:
    frame = claims.ledger(claims.study_a_claims(**_study_a_tables()), claims.study_b_claims(_dynamics(["digits"])))
    assert sum(frame.attrs["counts"].values()) == len(frame) == 13 + 4
    fig = claims.fig_ledger(frame, "data: synthetic")
    assert len(fig.axes[0].get_yticklabels()) == (frame.verdict != "not measured").sum()
