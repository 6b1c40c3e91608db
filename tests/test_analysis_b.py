"""Study B summaries on dynamics tables the tests write, with known answers."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from repchange.studies.b import analysis

LAYERS = ["l1", "l2", "l3"]
EPOCHS = [0, 1, 2, 4]


ALPHA_OF = {"pwsm_alpha_0": 0.0, "pwsm_alpha_1": 1.0}  # procrustes_filter: no alpha (NaN)


def _table(distance, *, archs=("net",), targets=("near", "far"), classes=("0", "1"), seeds=(1,)) -> pd.DataFrame:
    """A dynamics table whose value is ``distance(arch, target, seed, depth, epoch, cls, metric)``."""
    rows = []
    for arch, target, seed, (depth, layer), epoch, cls, metric in itertools.product(
            archs, targets, seeds, enumerate(LAYERS), EPOCHS, ("all", *classes),
            ("pwsm_alpha_0", "pwsm_alpha_1", "procrustes_filter")):
        rows.append(dict(arch=arch, target=target, seed=seed, layer=layer, epoch=epoch, cls=cls, metric=metric,
                         alpha=ALPHA_OF.get(metric), value=distance(arch, target, seed, depth, epoch, cls, metric),
                         dead_fraction=0.0,
                         train_acc=0.5 + 0.1 * epoch, test_acc=0.4 + 0.1 * epoch))
    return pd.DataFrame(rows)


def _grows(arch, target, seed, depth, epoch, cls, metric) -> float:
    """Distance grows with depth, saturates in time (half reached at epoch 1), doubles on the far target."""
    return (depth + 1) * (1 - 0.5 ** epoch) * (2 if target == "far" else 1) * (1.5 if metric == "pwsm_alpha_0" else 1)


def test_depth_trend_and_final_distances_read_the_last_checkpoint() -> None:
    table = _table(_grows)
    final = analysis.final_distances(table)
    assert set(final.depth) == {0, 1, 2}
    row = final[(final.target == "far") & (final.layer == "l3") & (final.metric == "procrustes_filter")]
    assert row.value.item() == pytest.approx(3 * (1 - 0.5 ** 4) * 2)
    trend = analysis.depth_trend(table)
    assert np.allclose(trend.spearman, 1.0) and np.allclose(trend.deepest_over_first, 3.0)
    shallow_first = _table(lambda *a: _grows(*a[:3], 2 - a[3], *a[4:]))
    assert np.allclose(analysis.depth_trend(shallow_first).spearman, -1.0)


def test_early_share_is_the_fraction_reached_by_the_chosen_epoch() -> None:
    share = analysis.early_share(_table(_grows), by_epoch=1)
    assert np.allclose(share.share, 0.5 / (1 - 0.5 ** 4))
    with pytest.raises(ValueError, match="epoch 3 is not a checkpoint"):
        analysis.early_share(_table(_grows), by_epoch=3)


def test_target_ranking_reusability_and_accuracy_tables() -> None:
    table = _table(_grows, seeds=(1, 2))
    ranking = analysis.target_ranking(table, "procrustes_filter")
    assert list(ranking.index) == ["far", "near"] and ranking["far"] == pytest.approx(2 * ranking["near"])
    reuse = analysis.reusability(table).set_index(["target", "metric"])
    per_epoch = np.array([2 * (1 - 0.5 ** e) for e in EPOCHS[1:]])  # layer mean of (depth + 1) = 2, near target
    near = reuse.loc[("near", "procrustes_filter")]
    assert near["mean"] == pytest.approx(per_epoch.mean())
    assert near["std"] == pytest.approx(np.repeat(per_epoch, 2).std(ddof=1))  # two seeds pooled
    accuracy = analysis.accuracy_table(table)
    assert accuracy.test_acc.tolist() == pytest.approx([0.8, 0.8])
    with pytest.raises(ValueError, match="no rows for metric 'cka'"):
        analysis.target_ranking(table, "cka")
    with pytest.raises(ValueError, match=r"lacks columns \['train_acc'\]"):
        analysis.accuracy_table(table.drop(columns="train_acc"))


def test_metric_correlations_use_class_points_after_epoch_zero_and_drop_nans() -> None:
    rng = np.random.default_rng(0)
    noise = {}

    def related(arch, target, seed, depth, epoch, cls, metric):
        base = _grows(arch, target, seed, depth, epoch, cls, "procrustes_filter") + (0 if cls == "all" else int(cls))
        if metric == "pwsm_alpha_1":  # unrelated to the base, fixed per point
            return noise.setdefault((target, depth, epoch, cls), rng.normal())
        if metric == "pwsm_alpha_0" and depth == 2:
            return np.nan  # undefined per-class whitening in the deepest layer
        return base if metric == "procrustes_filter" else 3 * base + 1

    correlations = analysis.metric_correlations(_table(related)).set_index(["target", "metric"])
    assert correlations.loc[("far", "pwsm_alpha_0"), "r"] == pytest.approx(1.0)
    assert correlations.loc[("far", "pwsm_alpha_0"), "n"] == 2 * 3 * 2  # 2 layers x epochs 1,2,4 x 2 classes
    assert correlations.loc[("far", "pwsm_alpha_1"), "n"] == 3 * 3 * 2
    assert abs(correlations.loc[("far", "pwsm_alpha_1"), "r"]) < 0.9
    with pytest.raises(ValueError, match="no metric 'cka'"):
        analysis.metric_correlations(_table(related), reference="cka")


def test_layer_order_follows_the_table_and_names_unknown_archs() -> None:
    assert analysis.layer_order(_table(_grows), "net") == LAYERS
    with pytest.raises(ValueError, match="no rows for architecture 'vgg19'"):
        analysis.layer_order(_table(_grows), "vgg19")


def test_versus_baseline_divides_the_final_distance_by_the_independent_net_level() -> None:
    table = _table(_grows)
    baseline = table[(table.epoch == 0) & (table.cls == "all")][["arch", "target", "seed", "layer", "metric"]].copy()
    baseline["value"] = 2.0
    against = analysis.versus_baseline(table, baseline).set_index(["target", "metric", "layer"])
    final = 3 * (1 - 0.5 ** 4)  # deepest layer, near target, procrustes
    assert against.loc[("near", "procrustes_filter", "l3"), "ratio"] == pytest.approx(final / 2)
    assert against.loc[("near", "procrustes_filter", "l3"), "baseline"] == 2.0
    with pytest.raises(ValueError, match="shares no"):
        analysis.versus_baseline(table, baseline.assign(arch="other"))


def test_reusability_vs_baseline_is_table_2_in_units_of_the_independent_net() -> None:
    table = _table(_grows)
    baseline = table[(table.epoch == 0) & (table.cls == "all")][["arch", "target", "seed", "layer", "metric"]].copy()
    baseline["value"] = baseline.layer.map({"l1": 1.0, "l2": 2.0, "l3": 6.0})  # layer mean 3
    relative = analysis.reusability_vs_baseline(table, baseline).set_index(["target", "metric"])
    reuse = analysis.reusability(table).set_index(["target", "metric"])
    assert relative.loc[("far", "pwsm_alpha_1"), "ratio"] == pytest.approx(reuse.loc[("far", "pwsm_alpha_1"), "mean"] / 3)
    with pytest.raises(ValueError, match="shares no"):
        analysis.reusability_vs_baseline(table, baseline.assign(target="elsewhere"))


def test_any_alpha_gets_a_label_and_its_place_from_the_alpha_column() -> None:
    table = _table(_grows)
    table.loc[table.metric == "pwsm_alpha_1", "alpha"] = 0.25  # an alpha no label was written for
    table.loc[table.metric == "pwsm_alpha_1", "metric"] = "pwsm_alpha_0.25"
    assert analysis.metric_order(table) == ["pwsm_alpha_0", "pwsm_alpha_0.25", "procrustes_filter"]
    labels = analysis.metric_labels(table)
    assert labels["pwsm_alpha_0.25"] == "PWSM α=0.25 (partial whitening)"
    assert labels["procrustes_filter"] == analysis.FILTER_PROCRUSTES_LABEL
    reuse = analysis.reusability(table)
    assert reuse.set_index("metric").alpha.drop("procrustes_filter").to_dict() == {"pwsm_alpha_0": 0.0,
                                                                                   "pwsm_alpha_0.25": 0.25}
    from repchange.studies.b import figures

    fig = figures.fig_reusability(reuse, "test")
    titles = [ax.get_title().replace("\n", " ") for ax in fig.axes[:3]]  # wrapped to their panels
    assert titles == [labels[m] for m in analysis.metric_order(table)]


def test_claims_of_an_alpha_the_table_lacks_are_not_measured() -> None:
    from repchange.studies import claims

    table = _table(_grows)
    ledger = claims.study_b_claims(table, alpha=0.5).set_index("key")
    assert ledger.loc["B-depth (pwsm_alpha_0.5)", "verdict"] == "not measured"
    assert "add its alpha" in ledger.loc["B-depth (pwsm_alpha_0.5)", "note"]
    assert ledger.loc["B-depth (procrustes_filter)", "verdict"] != "not measured"
