"""Chapter summaries: the numbers and phrases the prose quotes, from tables built to give known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_analysis_b import _grows, _table

from repchange.studies import deviations, summaries
from repchange.studies.a import summaries as a_summaries
from repchange.studies.b import summaries as b_summaries


def _baseline(table: pd.DataFrame, level: float) -> pd.DataFrame:
    """An independent-net distance of ``level`` for every (arch, target, seed, layer, metric)."""
    keys = table[table.cls == "all"][["arch", "target", "seed", "layer", "metric"]].drop_duplicates()
    return keys.assign(value=level)


def test_feature_dynamics_summary_of_a_table_that_grows_with_depth() -> None:
    table = _table(_grows)  # distance (depth + 1)(1 - 0.5^epoch), doubled on "far", x1.5 under PWSM alpha=0
    s = b_summaries.feature_dynamics(table, _baseline(table, level=2.0), [0, 1, 2, 4])
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
    s = b_summaries.feature_dynamics(shallow, pd.DataFrame(), [0, 1, 2, 4])
    assert s.numbers["b1_share_deeper_pwsm0"] == 0.0 and s.numbers["b1_strictly_growing"] == 0
    assert "b1_below_baseline_pwsm0" not in s.numbers
    assert s.phrases["b1_above_baseline"] == "not measured"
    only_zero = shallow[shallow.metric != "pwsm_alpha_1"]
    assert np.isnan(b_summaries.feature_dynamics(only_zero, pd.DataFrame(), [0, 1, 2, 4]).numbers[
        "b1_alpha_rank_agreement"])


def _sweep(column: str, settings: list, cka) -> pd.DataFrame:
    """A Study A sweep table whose CKA to the own init is ``cka(layer_index, setting, seed)`` (the
    independent init sits at 0.5); train accuracy = setting / 1000."""
    rows = []
    for setting in settings:
        for seed in (1, 2, 3):
            for k, layer in enumerate(["block1", "block2", "logits"]):
                for comparison, value in (("init", cka(k, setting, seed)), ("independent_init", 0.5)):
                    for metric in ("cka", "cka_debiased"):
                        rows.append({column: setting, "seed": seed, "layer": layer, "epoch": 10,
                                     "comparison": comparison, "metric": metric, "value": value,
                                     "train_acc": setting / 1000})
    return pd.DataFrame(rows)


def test_sweep_summaries_read_the_extreme_settings_and_the_clear_changes() -> None:
    # deeper layers fall with the degree; block1 rises (0.022 on average over seeds 1-3)
    sweep = _sweep("degree", [0, 4, 9], lambda k, d, s: 0.9 - 0.02 * k * d + (0.02 + 0.001 * s) * d / 9)
    s = a_summaries.cka_vs_degree(sweep, 10)
    assert s.numbers["a3_cka_lo_block2"] == pytest.approx(0.9) and s.numbers["a3_cka_hi_logits"] == pytest.approx(
        0.9 - 0.36 + 0.022)
    assert s.numbers["a3_cka_independent_hi_block1"] == 0.5 and (s.numbers["a3_d_lo"], s.numbers["a3_d_hi"]) == (0, 9)
    assert s.phrases["a3_moved_more"] == "block2, logits" and s.phrases["a3_moved_less"] == "block1"
    # a consistent rise of 0.002, below the 0.01 smallest effect of interest, is no clear change (the ledger's rule)
    tiny = a_summaries.cka_vs_degree(_sweep("degree", [0, 9], lambda k, d, s: 0.9 - 0.02 * k * d + 0.001 * s * d / 9), 10)
    assert tiny.phrases["a3_moved_more"] == "block2, logits" and tiny.phrases["a3_moved_less"] == "none of the layers"
    size = _sweep("train_size", [64, 2048], lambda k, n, s: 0.8 - (0.05 * k + 0.02 + 0.001 * s if n == 2048 else 0))
    t = a_summaries.cka_vs_size(size, 10)
    assert (t.numbers["a4_n_small"], t.numbers["a4_n_large"]) == (64, 2048)
    assert t.numbers["a4_train_acc_large"] == pytest.approx(2.048)
    assert t.phrases["a4_moved_more"] == "block1, block2, logits" and t.phrases["a4_moved_less"] == "none of the layers"
    with pytest.raises(ValueError, match="no biased-CKA rows at epoch 3"):
        a_summaries.cka_vs_degree(sweep, 3)


def _finetune_table() -> pd.DataFrame:
    """Fine-tuning CKA at epochs 0 and 10: to the pre-trained net 0.9 - 0.1 k (layer k) for clean labels,
    0.2 lower with random labels, 0.1 lower on the cross domain and with shifted labels (plus seed noise
    that differs by condition); to an independent init 0.5 + 0.001 seed everywhere."""
    conditions = [("same", "fashion_mnist", "clean", 0, 0, 0.0), ("same", "fashion_mnist", "random d=9", 9, 0, 0.2),
                  ("same", "fashion_mnist", "shift s=seed", 0, 1, 0.1), ("cross", "digits", "clean", 0, 0, 0.1),
                  ("cross", "digits", "random d=9", 9, 0, 0.3)]
    rows = []
    for domain, target, labels, degree, shift, drop in conditions:
        for seed in (1, 2, 3):
            for k, layer in enumerate(["block1", "block4", "logits"]):
                for comparison in ("pretrained", "pretrain_init", "independent_init"):
                    value = 0.9 - 0.1 * k - drop - 0.001 * seed * drop if comparison == "pretrained" \
                        else 0.5 + 0.001 * seed
                    rows.append(dict(domain=domain, target=target, labels=labels, degree=degree, shift=shift, seed=seed,
                                     epoch=10, layer=layer, comparison=comparison, metric="cka", value=value,
                                     train_acc=0.9 - drop, test_acc=0.8 - drop))
                if labels == "clean":  # two unrelated random inits on the domain's probe: digits look more alike
                    rows.append(dict(domain=domain, target=target, labels=labels, degree=0, shift=0, seed=seed, epoch=0,
                                     layer=layer, comparison="chance", metric="cka",
                                     value=(0.6 + 0.003 * seed if domain == "cross" else 0.3 + 0.001 * seed), train_acc=np.nan,
                                     test_acc=np.nan))
    return pd.DataFrame(rows)


def test_finetuning_summaries_of_a_table_with_known_conditions() -> None:
    table = _finetune_table()
    s = a_summaries.finetuning_change(table, 10, [0, 9], ["seed"], "fashion_mnist", "digits")
    assert s.numbers["a5_same_lo_block1"] == pytest.approx(0.9) and s.numbers["a5_cross_hi_logits"] == pytest.approx(
        0.9 - 0.2 - 0.3 - 0.002 * 0.3 * 1)
    assert s.numbers["a5_test_acc_cross_lo"] == pytest.approx(0.7) and s.numbers["a5_shift_block4"] == pytest.approx(
        0.8 - 0.1 - 0.0002)
    assert s.phrases["a5_most_changed_same"] == "logits"
    assert s.phrases["a5_random_moves_same"] == "block1, block4, logits"
    # raw CKA: the cross domain and the shifted labels lie 0.1 below clean alike; above each probe's chance level
    # (0.6 on digits, 0.3 on Fashion-MNIST) the cross-domain nets have moved clearly further at every layer
    assert s.phrases["a5_cross_moves_more"] == "block1, block4, logits"
    assert s.phrases["a5_shift_moves_more"] == "none of the layers"
    assert s.tables["accuracy"].loc[("same", "fashion_mnist", "random d=9"), "train_acc"] == pytest.approx(0.7)
    r = a_summaries.finetuned_vs_references(table, 10, [0, 9], ["seed"])
    assert r.phrases["a6_closer_pretrained_clean"] == "block1, block4, logits"  # 0.9, 0.8, 0.7 against 0.5
    # logits under random labels: 0.5 - 0.0002 seed against 0.5 + 0.001 seed, 0.0024 below: under the 0.01 SESOI
    assert r.phrases["a6_closer_random_random"] == "none of the layers"
    assert r.numbers["a6_cross_independent_init_block1"] == pytest.approx(0.502) and r.numbers["a6_d_hi"] == 9
    no_shift = a_summaries.finetuned_vs_references(table[table["shift"] == 0], 10, [0, 9], [])
    assert no_shift.phrases["a6_closer_pretrained_shift"] == "not measured (no shifts)"


def _cka_table(keep_block1: bool, epochs: int = 10) -> pd.DataFrame:
    """Study A's Fig. 1 table for 3 seeds and two layers, an independent init always at CKA 0.3: the
    layer that keeps its init (block1 if ``keep_block1``, else block2) sits 0.55-0.65 above it in
    every seed, the other at -0.04, 0.02 and +0.08 (mean 0.02: not clearly above)."""
    rows = []
    for seed, wobble in zip((1, 2, 3), (-0.05, 0.0, 0.05)):
        for epoch in (0, epochs):
            for layer, kept in (("block1", keep_block1), ("block2", not keep_block1)):
                own = 0.3 + (0.6 + wobble if kept else wobble + 0.01 * seed)
                base = dict(seed=seed, layer=layer, epoch=epoch, test_acc=0.8 + seed / 100)
                for metric in ("cka", "cka_debiased"):
                    rows.append(dict(base, metric=metric, comparison="init", value=1.0 if epoch == 0 else own))
                    rows.append(dict(base, metric=metric, comparison="independent_init",
                                     value=0.2 if epoch == 0 else 0.3))
    return pd.DataFrame(rows)


def test_cka_to_init_summary_finds_the_layers_that_kept_their_init() -> None:
    s = a_summaries.cka_to_init(_cka_table(keep_block1=True), 10)
    assert s.numbers["a1_cka_final_block1"] == pytest.approx(0.9)
    assert s.numbers["a1_cka_chance_block1"] == pytest.approx(0.2)
    assert s.numbers["a1_cka_final_block2"] == pytest.approx(0.32)
    assert s.numbers["a1_cka_final_independent_block2"] == pytest.approx(0.3)
    assert s.numbers["a1_test_acc"] == pytest.approx(0.82) and s.numbers["a1_epochs"] == 10
    assert s.phrases == {"a1_depth_verdict": "falls clearly from the early layers to the later ones",
                         "a1_kept_layers": "block1"}
    other = a_summaries.cka_to_init(_cka_table(keep_block1=False), 10)  # block2 keeps, block1 not
    assert other.phrases == {"a1_depth_verdict": "does not fall by the smallest effect of interest from the early "
                                                 "layers to the later ones", "a1_kept_layers": "block2"}
    with pytest.raises(ValueError, match="no rows at epoch 7"):
        a_summaries.cka_to_init(_cka_table(True), 7)


def _histories(test_acc: dict[int, float]) -> pd.DataFrame:
    return pd.DataFrame([dict(degree=d, seed=seed, epoch=epoch, test_acc=acc if epoch == 5 else 0.1,
                              fit_acc=1.0 - d / 20, train_acc=0.9 - d / 20, train_loss=d / 10 + seed / 100)
                         for d, acc in test_acc.items() for seed in (1, 2) for epoch in (1, 5)])


def test_training_curves_summary_reads_the_last_epoch_and_the_order_of_the_degrees() -> None:
    s = a_summaries.training_curves(_histories({0: 0.9, 2: 0.6, 9: 0.1}), 5)
    assert (s.numbers["a2_test_acc_lo"], s.numbers["a2_test_acc_hi"]) == (0.9, 0.1)
    assert s.numbers["a2_running_acc_hi"] == pytest.approx(0.45)  # the running mean, beside the fitted 0.55
    assert s.numbers["a2_train_acc_d9"] == pytest.approx(0.55) and s.numbers["a2_train_loss_hi"] == pytest.approx(0.915)
    assert (s.numbers["a2_d_min"], s.numbers["a2_d_max"], s.numbers["a2_epochs"]) == (0, 9, 5)
    assert s.phrases["a2_test_verdict"] == "falls with every step of d"
    bumpy = a_summaries.training_curves(_histories({0: 0.9, 2: 0.95, 9: 0.1}), 5)
    assert bumpy.phrases["a2_test_verdict"] == "does not fall monotonically with d"


def test_metric_agreement_summary_reads_both_pairings_their_chance_and_each_alphas_pooled_r() -> None:
    paper = pd.DataFrame(dict(arch=["a", "b", "all"], target=["t", "t", "all"], mean=[0.9, 0.5, 0.7],
                              std=[0.1, 0.2, 0.25], n=[10, 30, 40], pairing="pwsm_alpha_0.5"))
    authors = paper.assign(mean=[0.6, 0.2, 0.4], pairing="cka")
    chance = pd.DataFrame(dict(pairing=["pwsm_alpha_0.5", "pwsm_alpha_0.5", "cka"], r=[0.1, 0.3, -0.2]))
    correlations = pd.DataFrame(dict(arch=["a", "a", "b", "b", "b"], target=["t", "t", "t", "t", "u"],
                                     metric=["pwsm_alpha_0", "pwsm_alpha_1", "pwsm_alpha_0", "pwsm_alpha_1",
                                             "pwsm_alpha_0"], r=[0.8, 0.6, 0.4, 0.2, 0.3], n=[5] * 5))
    s = b_summaries.metric_agreement(paper, authors, correlations, [0.0, 1.0], chance)
    n = s.numbers
    assert (n["b2_filter_r_mean"], n["b2_filter_r_std"], n["b2_filter_cells"]) == (0.7, 0.25, 40)
    assert (n["b2_filter_r_min_run"], n["b2_filter_r_max_run"]) == (0.5, 0.9)
    assert (n["b2_code_r_mean"], n["b2_code_r_min_run"], n["b2_code_r_max_run"]) == (0.4, 0.2, 0.6)
    assert n["b2_filter_r_unrelated"] == pytest.approx(0.2) and n["b2_code_r_unrelated"] == pytest.approx(-0.2)
    assert n["b2_pooled_r_pwsm0"] == pytest.approx(0.5) and n["b2_pooled_r_pwsm1"] == pytest.approx(0.4)
    assert n["b2_runs"] == 3 and n["b2_paper_r_mean"] == 0.83
    assert s.phrases["b2_paper_pairing"] == "per-filter PWSM α=0.5 vs per-filter Procrustes"
    assert s.phrases["b2_filter_r_unrelated_phrase"] == "0.200"
    published = b_summaries.metric_agreement(paper, authors, correlations, [0.0, 1.0], chance.iloc[:0])
    assert "b2_filter_r_unrelated" not in published.numbers  # no twin of a published net: no number is made up
    assert published.phrases["b2_code_r_unrelated_phrase"].startswith("not measured")
    with pytest.raises(ValueError, match=r"lack PWSM at alpha \[0.5\]"):
        b_summaries.metric_agreement(paper, authors, correlations, [0.5])


def _reuse(pwsm: dict[tuple[str, str], float], procrustes: dict[tuple[str, str], float]) -> pd.DataFrame:
    rows = [dict(arch=a, target=t, metric="pwsm_alpha_0", alpha=0.0, mean=v, std=0.01) for (a, t), v in pwsm.items()]
    rows += [dict(arch=a, target=t, metric="procrustes_filter", alpha=np.nan, mean=v, std=0.01)
             for (a, t), v in procrustes.items()]
    return pd.DataFrame(rows)


def test_reusability_summary_ranks_targets_and_architectures_and_both_ways_of_agreement() -> None:
    pwsm = {("vgg", "near"): 0.1, ("vgg", "far"): 0.4, ("res", "near"): 0.3, ("res", "far"): 0.1}
    accuracy = pd.DataFrame(dict(arch=["vgg", "res"], target=["near", "far"], train_acc=[0.9, 0.7],
                                 test_acc=[0.8, 0.6]))
    relative = _reuse(pwsm, {}).assign(ratio=lambda f: f["mean"] * 2)
    s = b_summaries.reusability(accuracy, _reuse(pwsm, {k: v * 3 for k, v in pwsm.items()}), relative)
    assert s.phrases["b3_most_reused"] == "vgg: near, res: far"
    assert s.phrases["b3_least_reused"] == "vgg: far, res: near"
    assert s.phrases["b3_arch_order"] == "res (0.20), vgg (0.25)"
    assert "from 0.20 to 0.80 (largest: vgg on far)" in s.phrases["b3_relative_sentence"]
    assert s.numbers["b3_reuse_rank_agreement"] == pytest.approx(1.0)  # Procrustes ranks as PWSM does
    assert (s.numbers["b3_reuse_min"], s.numbers["b3_reuse_max"], s.numbers["b3_test_acc_min"]) == (0.1, 0.4, 0.6)
    reversed_ranks = b_summaries.reusability(accuracy, _reuse(pwsm, {k: 1 - v for k, v in pwsm.items()}), None)
    assert reversed_ranks.numbers["b3_reuse_rank_agreement"] == pytest.approx(-1.0)
    assert reversed_ranks.phrases["b3_relative_sentence"].startswith("Not measured against a baseline")
    with pytest.raises(ValueError, match="no pwsm_alpha_0.5"):
        b_summaries.reusability(accuracy, _reuse(pwsm, {}), None, alpha=0.5)


def test_filter_crop_and_heatmap_summaries_count_the_layers_where_the_metric_and_the_pictures_agree() -> None:
    # layer l1: the most changed filter's crops kept r 0.2 (moved more than the least changed one's 0.9);
    # layer l3: the other way round (0.8 against 0.3)
    agreement = pd.DataFrame([dict(layer=layer, role=role, filter=f, cls=c, r=r + (0.05 if c else -0.05))
                              for layer, pairs in (("l1", ((7, "most", 0.2), (2, "least", 0.9))),
                                                   ("l3", ((4, "most", 0.8), (5, "least", 0.3))))
                              for f, role, r in pairs for c in (0, 1)])
    changes = {"l1": pd.DataFrame(dict(filter=[2, 7], distance=[0.1, 0.6])),
               "l3": pd.DataFrame(dict(filter=[4, 5], distance=[0.7, 0.05]))}
    s = b_summaries.filter_crops(agreement, changes, {"l1": (7, 2), "l3": (4, 5)})
    assert s.phrases == {"b4_first_layer": "l1", "b4_last_layer": "l3"}
    assert s.numbers["b4_r_most_0"] == pytest.approx(0.2) and s.numbers["b4_r_least_1"] == pytest.approx(0.3)
    assert (s.numbers["b4_d_most_0"], s.numbers["b4_d_least_0"], s.numbers["b4_d_most_1"]) == (0.6, 0.1, 0.7)
    assert s.numbers["b4_layers_where_most_changed_moved_more"] == 1
    heat = pd.DataFrame(dict(layer=["l1", "l1", "l3", "l3"], role=["most", "least"] * 2, filter=[7, 2, 4, 5],
                             heatmap_r=[0.1, 0.7, 0.2, 0.6], strength_ratio=[3.0, 1.1, 2.0, 0.9], distance=0.0))
    h = b_summaries.filter_heatmaps(heat)
    assert h.numbers["b5_layers_agreeing"] == 2 and h.numbers["b5_strength_most_1"] == 2.0
    assert h.phrases == {"b5_first_layer": "l1", "b5_last_layer": "l3"}
    flipped = b_summaries.filter_heatmaps(heat.assign(heatmap_r=[0.9, 0.2, 0.8, 0.1]))
    assert flipped.numbers["b5_layers_agreeing"] == 0


def test_metrics_chapter_summary_reads_each_check_from_its_table() -> None:
    from repchange.studies import metric_checks

    invariance = pd.DataFrame([dict(transform=t, metric=m, value=v) for t, vals in (
        ("general invertible map", {"cka": 0.61234, "pwsm_alpha_0": 0.0, "procrustes_angle": 0.4}),
        ("additive noise (sd 0.2)", {"cka": 0.9, "pwsm_alpha_0": 0.3, "procrustes_angle": 0.2}))
        for m, v in vals.items()])
    chance = pd.DataFrame([dict(n=n, p=p, trial=t, metric=m, value=v + t * 0.02)
                           for n, p in ((50, 10), (100, 1000)) for t in (0, 1)
                           for m, v in (("cka", p / (n + p)), ("cka_debiased", 0.0))])
    layers, metrics = ["b1", "b2"], ("cka", "cka_debiased", "procrustes_angle")

    def similarity(a: str, b: str, metric: str) -> float:  # the angle is lowest off the diagonal
        return (0.2 if a == b else 0.1) if metric == "procrustes_angle" else (0.9 if a == b else 0.2)

    identification = pd.DataFrame([dict(layer_a=a, layer_b=b, metric=m, value=similarity(a, b, m))
                                   for a in layers for b in layers for m in metrics])
    names = ["1 - cka", "pwsm_alpha_0", "procrustes_angle"]
    correlations = pd.DataFrame([[1.0, 0.5, 0.8], [0.5, 1.0, 0.6], [0.8, 0.6, 1.0]], index=names, columns=names)
    deletion = pd.DataFrame(dict(k=[0, 1, 1], variance_removed=[0.0, 0.4, 0.4],
                                 metric=["cka", "cka", "procrustes_angle"], value=[1.0, 0.7, 0.3]))
    n = summaries.metrics_chapter(invariance, chance, identification, correlations, deletion, [3, 4]).numbers
    assert (n["m_seed_a"], n["m_seed_b"], n["m_chance_n"], n["m_chance_p"]) == (3, 4, 100, 1000)
    assert n["m_chance_cka"] == pytest.approx(1000 / 1100 + 0.01)
    assert n["m_chance_expected"] == pytest.approx(1000 / 1100)
    assert n["m_cka_after_general_map"] == 0.612 and n["m_procrustes_after_noise"] == 0.2  # read as shown, 3 decimals
    assert (n["m_identified_cka"], n["m_identified_procrustes"]) == (1.0, 0.0)  # the angle is lowest off the diagonal
    assert n["m_r_mean_off_diagonal"] == pytest.approx((0.5 + 0.8 + 0.6) / 3)
    assert (n["m_pc1_cka"], n["m_pc1_variance"]) == (0.7, 0.4)
    assert n["m_identified_cka"] == metric_checks.identification_rate(identification, "cka")


def test_deviations_summary_quotes_each_measured_effect() -> None:
    bn_a = pd.DataFrame(dict(layer=["b1", "b2"], difference=[0.01, -0.03], batch_independent=[0.2, 0.3],
                             eval_independent=[0.25, 0.3]))
    bn_b = pd.DataFrame(dict(metric=["pwsm_alpha_0", "pwsm_alpha_0", "pwsm_alpha_1"], difference=[0.1, -0.3, 9.0]))
    centre = pd.DataFrame(dict(target=["t", "t", "t", "u", "u", "u"], layer=["l1", "l2", "l3"] * 2,
                               default=[1, 2, 3, 1, 2, 3], variant=[1, 2, 3, 3, 2, 1], difference=[0.0, 0.2] * 3))
    shift = pd.DataFrame(dict(difference=[0.004, -0.002]))
    pwsm_conv = pd.DataFrame(dict(difference=[0.001, -0.003, 0.002]))
    histories = pd.DataFrame([dict(degree=d, seed=s, epoch=e, train_acc=0.5 + 0.1 * e - 0.1 * (d == 9),
                                   fit_acc=float("nan") if e == 1 else 0.6 + 0.1 * e + 0.01 * s)
                              for d in (0, 9) for s in (1, 2) for e in (1, 2, 3)])
    fit = deviations.fit_measure_effect(histories)
    assert fit.epoch.tolist() == [2, 3, 2, 3]  # epoch 1 has no fit measurement
    assert fit.difference.tolist() == pytest.approx([0.115, 0.115, 0.215, 0.215])
    images = pd.DataFrame(dict(pairing=["pwsm_alpha_0.5", "pwsm_alpha_0.5", "cka"], images=[0.8, 0.6, 0.9],
                               all_images=[0.85, 0.5, 0.9], difference=[0.05, -0.1, 0.0]))
    s = summaries.deviations(bn_a, bn_b, centre, shift, pwsm_conv, fit, images, arch="vgg", target="digits")
    assert s.phrases["dev_images_sentence"] == (
        "vgg on digits, last checkpoint, all of each class's probe images instead of the first ones — per-filter PWSM "
        "α = 0.5 (the paper's pairing): mean r 0.700 → 0.675, each (layer, class) r moving by 0.075 on average (up to "
        "0.100); per-filter CKA (the authors' code's): mean r 0.900 → 0.900, each (layer, class) r moving by 0.000 on "
        "average (up to 0.000).")
    assert s.numbers["dev_images_mean"] == pytest.approx(0.05)
    assert s.phrases["dev_fit_sentence"].startswith("the two differ by up to +0.215 (d = 9, epoch 2: running 0.600, "
                                                    "fit 0.815); after the last epoch at d = 9: running 0.700, fit 0.915")
    assert s.numbers["dev_bn_a_max"] == pytest.approx(0.03) and s.numbers["dev_bn_b_mean"] == pytest.approx(0.2)
    assert "rank correlation 0.00" in s.phrases["dev_centre_sentence"]  # +1 on t, -1 on u
    assert "(layer mean -0.010); the random-init baseline moves by up to 0.050" in s.phrases["dev_bn_a_sentence"]
    assert "over 3 layers (up to 0.0030)" in s.phrases["dev_pwsm_sentence"]
    assert s.phrases["dev_shift_sentence"].endswith("by up to 0.004 (layer mean +0.001).")


def test_paper_beside_summary_counts_the_architectures_whose_reuse_gap_has_the_papers_sign() -> None:
    agreement_a = pd.DataFrame(dict(condition=["pre-training", "fine-tuning"], rank_agreement=[0.9, -0.5],
                                    paper_falls_over_blocks=[True, True], ours_falls_over_blocks=[True, False]))
    reuse = pd.DataFrame([dict(arch=arch, kind=kind, paper=paper, ours=ours) for arch, kind, paper, ours in (
        ("vgg", "similar", 0.1, 0.2), ("vgg", "dissimilar", 0.3, 0.4),       # both positive
        ("resnet", "similar", 0.1, 0.5), ("resnet", "dissimilar", 0.3, 0.1))])  # paper +, ours -
    agreement = pd.DataFrame(dict(arch=["vgg", "all"], target=["t", "all"], mean=[0.7, 0.74], std=[0.1, 0.2],
                                  n=[3, 9]))
    s = summaries.paper_beside(agreement_a, reuse, agreement)
    assert (s.numbers["beside_b_same_sign"], s.numbers["beside_b_archs"]) == (1, 2)
    assert s.numbers["beside_a_rank_agreement_min"] == -0.5 and s.numbers["beside_r_ours"] == 0.74
    assert "vgg: paper +0.200, ours +0.200" in s.phrases["beside_b_gap"]
    assert "resnet: paper +0.200, ours -0.400" in s.phrases["beside_b_gap"]
    assert "*fine-tuning*: layer ordering agrees with Spearman ρ = -0.50; the paper's CKA falls from block to " \
           "block, ours does not fall at every block." in s.phrases["beside_a_sentences"]
    # caught by the rehearsal on 15-Scene alone: our runs hold one kind of target, so there is no gap of ours
    one_kind = reuse.assign(ours=reuse.ours.where(reuse.kind == "similar"))
    alone = summaries.paper_beside(agreement_a, one_kind, agreement)
    assert (alone.numbers["beside_b_same_sign"], alone.numbers["beside_b_archs"]) == (0, 0)
    assert "vgg: paper +0.200, ours not measured (needs a similar and a dissimilar target)" in alone.phrases["beside_b_gap"]
