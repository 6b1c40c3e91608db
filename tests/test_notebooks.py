"""Every book notebook, executed by papermill with the smoke profile; then the book itself."""

from __future__ import annotations

import base64

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from repchange.book import runner
from repchange.book.parameter_checks import ParameterError
from repchange.book.glue import glued_in_cell, read_glued
from repchange.studies import verdicts
from repchange.studies.a import summaries
from repchange.studies.b import analysis

pytestmark = pytest.mark.notebook  # the slow tier: `make test` runs it, `make test-fast` leaves it out

ROOT = runner.project_root()
A1 = ROOT / "notebooks" / "a1_cka_pretraining.py"
M0 = ROOT / "notebooks" / "00_metrics.py"
LAYERS = ["block1", "block2", "block3", "block4", "logits"]


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every book notebook executed with the smoke profile, in book order, sharing one store."""
    out = tmp_path_factory.mktemp("smoke")
    store = out / "store"
    executed = {}
    for nb in runner.book_notebooks():
        runner.execute(nb, out / f"{nb.stem}.ipynb", runner.resolve_parameters(nb, "smoke"),
                       results_dir=out / "results", extra_env={"REPCHANGE_STORE": str(store)})
        executed[nb.stem] = out / f"{nb.stem}.ipynb"
    return {"out": out, "store": store, "notebooks": executed}


@pytest.fixture(scope="module")
def a1_run(smoke_runs: dict) -> dict:
    out = smoke_runs["out"]
    return {"out": out, "store": smoke_runs["store"], "notebook": smoke_runs["notebooks"]["a1_cka_pretraining"],
            "glued": read_glued(smoke_runs["notebooks"]["a1_cka_pretraining"]),
            "table": pd.read_csv(out / "results" / "a1_cka_to_init.csv")}


def test_a1_glues_every_headline_number_in_range(a1_run: dict) -> None:
    g = a1_run["glued"]
    for layer in LAYERS:
        # glued to 3 digits: with batch-statistics BatchNorm block 1 can stay at 0.9995+ after 2 smoke epochs
        assert 0.0 < g[f"a1_cka_final_{layer}"] <= 1.0
        assert 0.0 < g[f"a1_cka_chance_{layer}"] <= 1.0
        assert -0.1 < g[f"a1_cka_debiased_final_{layer}"] <= 1.0
        assert 0.0 < g[f"a1_cka_final_independent_{layer}"] <= 1.0  # 3 digits: BN batch stats
    assert g["a1_cka_final_logits"] < 0.99  # trained: the output layer has moved away from its init
    assert g["a1_epochs"] == 2
    assert g["a1_test_acc"] > 0.3  # 10 classes: chance is 0.1
    assert "profile: smoke" in g["a1_provenance"] and "seeds: [1, 2]" in g["a1_provenance"]
    assert g["a1_depth_verdict"] in summaries.DEPTH_PHRASES.values()
    kept = g["a1_kept_layers"]
    assert kept == "none of the layers" or set(kept.split(", ")) <= set(LAYERS)


def test_a1_glued_numbers_are_the_saved_table(a1_run: dict) -> None:
    table, g = a1_run["table"], a1_run["glued"]
    assert len(table) == 2 * 2 * 5 * 2 * 2  # seeds x epochs (0, 2: the evaluated ones) x layers x comparisons x metrics
    final = table[(table.epoch == 2) & (table.comparison == "init") & (table.metric == "cka")]
    for layer in LAYERS:
        assert g[f"a1_cka_final_{layer}"] == pytest.approx(final[final.layer == layer].value.mean(), abs=5e-4)
    start = table[(table.epoch == 0) & (table.comparison == "init")]
    assert start.value.to_numpy() == pytest.approx(1.0, abs=1e-9)  # epoch 0 is the init itself
    block1 = final[final.layer == "block1"].value.mean()
    logits = final[final.layer == "logits"].value.mean()
    assert block1 > logits  # the smoke run already shows the paper's ordering at its two ends


def test_metrics_chapter_glues_what_the_metrics_guarantee(smoke_runs: dict) -> None:
    g = read_glued(smoke_runs["notebooks"]["00_metrics"])
    assert g["m_chance_cka"] == pytest.approx(g["m_chance_expected"], abs=0.03)  # biased CKA ~ p/(n+p)
    assert abs(g["m_chance_cka_debiased"]) < 0.05
    assert g["m_pwsm0_after_general_map"] == pytest.approx(0.0, abs=1e-3)  # full whitening: invariant
    assert g["m_cka_after_general_map"] < 0.99  # CKA is not
    assert g["m_pwsm0_after_noise"] > g["m_procrustes_after_noise"] > 0
    for metric in ("cka", "cka_debiased", "procrustes"):
        assert 0.6 <= g[f"m_identified_{metric}"] <= 1.0  # most layers find their twin in the other seed
    assert 0.5 < g["m_r_cka_procrustes"] <= 1.0 and -1.0 <= g["m_r_pwsm0_procrustes"] <= 1.0
    assert -1.0 <= g["m_r_mean_off_diagonal"] <= 1.0
    assert 0.0 < g["m_pc1_variance"] < 1.0 and 0.0 < g["m_pc1_cka"] < 1.0
    assert "profile: smoke" in g["m_provenance"]
    tables = smoke_runs["out"] / "results"
    agreement = pd.read_csv(tables / "metrics_agreement.csv")
    assert set(agreement.metric) == {"1 - cka", "1 - cka_debiased", "procrustes_angle", "pwsm_alpha_0",
                                     "pwsm_alpha_0.5", "pwsm_alpha_1"}
    assert (agreement[agreement.metric.str.contains("angle|pwsm")].distance.between(0, 1.5708)).all()


def test_label_degree_chapters_glue_consistent_numbers(smoke_runs: dict) -> None:
    a2 = read_glued(smoke_runs["notebooks"]["a2_label_degrees"])
    assert (a2["a2_d_min"], a2["a2_d_max"]) == (0, 9)
    assert a2["a2_test_acc_lo"] > 0.3 and a2["a2_test_acc_hi"] < 0.25  # 200 test images, chance 0.1
    assert a2["a2_test_acc_lo"] > a2["a2_test_acc_hi"]
    assert a2["a2_train_loss_hi"] > a2["a2_train_loss_lo"]
    histories = pd.read_csv(smoke_runs["out"] / "results" / "a2_training_histories.csv")
    assert len(histories) == 2 * 2 * 3  # degrees x seeds x epochs 0..2
    a3 = read_glued(smoke_runs["notebooks"]["a3_cka_vs_degree"])
    for layer in LAYERS:
        for key in (f"a3_cka_lo_{layer}", f"a3_cka_hi_{layer}", f"a3_cka_independent_hi_{layer}"):
            assert 0.0 < a3[key] <= 1.0  # glued to 3 digits
    for key in ("a3_moved_more", "a3_moved_less"):
        assert a3[key] == "none of the layers" or set(a3[key].split(", ")) <= set(LAYERS)
    sweep = pd.read_csv(smoke_runs["out"] / "results" / "a3_cka_by_degree.csv")
    assert len(sweep) == 2 * 2 * 2 * 5 * 2 * 2  # seeds x degrees x epochs {0, 2} x layers x comparisons x metrics


def test_training_set_size_chapter_glues_fig3b(smoke_runs: dict) -> None:
    a4 = read_glued(smoke_runs["notebooks"]["a4_cka_vs_size"])
    assert (a4["a4_n_small"], a4["a4_n_large"]) == (64, 640)
    for layer in LAYERS:
        assert 0.0 < a4[f"a4_cka_small_{layer}"] <= 1.0 and 0.0 < a4[f"a4_cka_large_{layer}"] <= 1.0
    for key in ("a4_moved_more", "a4_moved_less"):
        assert a4[key] == "none of the layers" or set(a4[key].split(", ")) <= set(LAYERS)
    assert (set(a4["a4_moved_more"].split(", ")) & set(a4["a4_moved_less"].split(", "))) <= {"none of the layers"}
    table = pd.read_csv(smoke_runs["out"] / "results" / "a4_cka_by_train_size.csv")
    sweep, steps = table[~table.equal_steps].drop(columns="equal_steps"), table[table.equal_steps]
    assert sorted(sweep.train_size.unique()) == [64, 640] and set(sweep.degree) == {9}
    assert len(sweep) == 2 * 2 * 2 * 5 * 2 * 2  # seeds x sizes x epochs {0, 2} x layers x comparisons x metrics
    # 64 images for as many SGD steps as 640 take in 2 epochs (20 a epoch against 2): 20 epochs
    assert set(steps.train_size) == {64} and set(steps.epoch) == {0, 20} and len(steps) == 2 * 2 * 5 * 2 * 2
    assert a4["a4_steps_sentence"].startswith("mean CKA to the init of the layers before logits: ")
    a3 = pd.read_csv(smoke_runs["out"] / "results" / "a3_cka_by_degree.csv")
    shared = a3[a3.degree == 9].drop(columns="degree").reset_index(drop=True)
    mine = sweep[sweep.train_size == 640].drop(columns=["degree", "train_size"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(shared, mine)  # the d = 9 run of a3 is the 640-image run of a4


def test_finetuning_chapters_glue_fig4_and_fig5_from_one_table(smoke_runs: dict) -> None:
    a5 = read_glued(smoke_runs["notebooks"]["a5_finetuning_change"])
    a6 = read_glued(smoke_runs["notebooks"]["a6_finetuned_vs_references"])
    results = smoke_runs["out"] / "results"
    table = pd.read_csv(results / "a5_finetune_cka.csv")
    pd.testing.assert_frame_equal(table, pd.read_csv(results / "a6_finetune_cka.csv"))  # Fig. 5 reuses Fig. 4's runs
    conditions = table[["domain", "target", "labels"]].drop_duplicates()
    assert sorted(map(tuple, conditions.to_numpy())) == [
        ("cross", "digits", "clean"), ("cross", "digits", "random d=9"),
        ("same", "fashion_mnist", "clean"), ("same", "fashion_mnist", "random d=9"),
        ("same", "fashion_mnist", "shift s=seed")]
    assert set(table.comparison) == {"pretrained", "pretrain_init", "independent_init", "chance"}
    chance = table[table.comparison == "chance"]
    assert set(chance.epoch) == {0} and len(chance) == 5 * 2 * 5 * 2  # conditions x seeds x layers x metrics
    # the probe's chance level is the same two inits whatever the labels: one value per (domain, seed, layer)
    per_domain = chance[chance.metric == "cka"].groupby(["domain", "seed", "layer"]).value
    assert (per_domain.max() - per_domain.min()).max() < 1e-9
    measured = table[table.comparison != "chance"]
    assert len(measured) == 5 * 2 * 2 * 5 * 3 * 2  # conditions x seeds x epochs {0, last} x layers x comparisons x metrics
    start = table[(table.epoch == 0) & (table.comparison == "pretrained")]
    assert start.value.to_numpy() == pytest.approx(1.0, abs=1e-9)  # epoch 0 is the pre-trained net itself
    final = table[(table.epoch == 2) & (table.comparison == "pretrained") & (table.metric == "cka")]
    for layer in LAYERS:
        for key, (domain, labels) in {"same_lo": ("same", "clean"), "same_hi": ("same", "random d=9"),
                                      "cross_lo": ("cross", "clean"), "shift": ("same", "shift s=seed")}.items():
            rows = final[(final.layer == layer) & (final.domain == domain) & (final.labels == labels)]
            assert a5[f"a5_{key}_{layer}"] == pytest.approx(rows.value.mean(), abs=5e-4)
            assert 0.0 < a5[f"a5_{key}_{layer}"] <= 1.0  # glued to 3 digits
    assert a5["a5_test_acc_same_lo"] > 0.3 and a5["a5_test_acc_cross_lo"] > 0.2  # chance 0.1
    assert a5["a5_most_changed_same"] in LAYERS and a5["a5_most_changed_cross"] in LAYERS
    for name, text in {**a5, **a6}.items():
        if "moves" in name or "closer" in name:
            assert text == "none of the layers" or set(text.split(", ")) <= set(LAYERS), name
    for key in ("clean", "random", "cross", "shift"):
        both = set(a6[f"a6_closer_pretrained_{key}"].split(", ")) & set(a6[f"a6_closer_random_{key}"].split(", "))
        assert both <= {"none of the layers"}
        assert a6[f"a6_{key}_pretrained_logits"] == pytest.approx(
            a5[{"clean": "a5_same_lo_logits", "random": "a5_same_hi_logits", "cross": "a5_cross_lo_logits",
                "shift": "a5_shift_logits"}[key]], abs=1e-3)


def test_every_training_run_is_trained_once_for_the_whole_book(smoke_runs: dict) -> None:
    pretrain = list((smoke_runs["store"] / "study_a" / "pretrain").iterdir())
    # seeds {1, 2} x (degrees {0, 9} at 640 images + d = 9 at 64 images for 2 and, equal steps, 20 epochs): shared
    # by 00_metrics and a1-a6; the budget page's 320 x 2 scale: seeds {1, 2, 3} x degrees {0, 9} at 320 images, the
    # 64-image d = 9 run of seed 3 (seeds 1 and 2 are the book's) and the 64-image equal-steps runs (10 epochs)
    assert len(pretrain) == 2 * 4 + (3 * 2 + 1 + 3)
    finetune = list((smoke_runs["store"] / "study_a" / "finetune").iterdir())
    # seeds x conditions, shared by a5 and a6; + s = 1 per seed (deviations page); + the scale's 3 seeds x 5 conditions
    assert len(finetune) == 2 * 5 + 2 + 3 * 5
    assert all((run / "complete.json").exists() for run in pretrain + finetune)
    study_b_runs = {kind: list((smoke_runs["store"] / "study_b" / kind).iterdir())
                    for kind in ("source", "finetune", "dynamics", "filter_agreement", "last_checkpoint_distances")}
    assert len(study_b_runs["source"]) == 3 * 2  # per architecture the source net and its independent twin
    assert len(study_b_runs["finetune"]) == len(study_b_runs["filter_agreement"]) == 3 * 2  # archs x smoke targets
    assert len(study_b_runs["dynamics"]) == 3 * 2
    # the deviations page: the book's settings and its two variants (eval-mode BatchNorm, column centring) of
    # resnet_small x 2 targets, at the last checkpoint only
    assert len(study_b_runs["last_checkpoint_distances"]) == 3 * 2


@pytest.fixture(scope="module")
def study_b_run(smoke_runs: dict) -> dict:
    results = smoke_runs["out"] / "results"
    return {"glued": {stem: read_glued(smoke_runs["notebooks"][stem])
                      for stem in ("b1_feature_dynamics", "b2_metric_agreement", "b3_tables", "b4_class_visualisation",
                                   "b5_sample_visualisation")},
            "table": pd.read_csv(results / "b_dynamics.csv", dtype={"cls": str}),
            "baseline": pd.read_csv(results / "b_baseline.csv"),
            "correlations": pd.read_csv(results / "b_metric_correlations.csv"),
            "agreement": pd.read_csv(results / "b_filter_agreement.csv", dtype={"cls": str}),
            "agreement_chance": pd.read_csv(results / "b_filter_agreement_chance.csv", dtype={"cls": str}),
            "accuracy": pd.read_csv(results / "b_table1_accuracy.csv"),
            "reuse": pd.read_csv(results / "b_table2_reusability.csv"),
            "crops": pd.read_csv(results / "b4_crop_change.csv"),
            "heat": pd.read_csv(results / "b5_heatmap_change.csv")}


def test_feature_dynamics_chapter_glues_the_saved_table(study_b_run: dict) -> None:
    g, table = study_b_run["glued"]["b1_feature_dynamics"], study_b_run["table"]
    assert set(table.arch) == {"vgg_small", "resnet_small", "densenet_small"}
    assert set(table.target) == {"fashion_new_classes", "digits"} and set(table.epoch) == {0, 1, 2}
    assert table[table.epoch == 0].value.abs().max() < 1e-5  # epoch 0 is the source net itself
    assert (table[(table.epoch == 2) & (table.cls == "all")].value > 0).all()
    assert g["b1_combos"] == 3 * 2 * 4  # archs x targets x metrics
    trend = analysis.depth_trend(table)
    assert g["b1_mean_spearman"] == pytest.approx(trend.spearman.mean(), abs=5e-4)
    assert 0 <= g["b1_strictly_growing"] <= g["b1_combos"]
    for key in ("b1_share_deeper_pwsm0", "b1_share_deeper_procrustes", "b1_max_dead"):
        assert 0.0 <= g[key] <= 1.0
    early = analysis.early_share(table, by_epoch=1)
    assert g["b1_early_share_procrustes"] == pytest.approx(
        early[early.metric == "procrustes_filter"].share.mean(), abs=5e-4)
    assert g["b1_first_epoch"] == 1 and g["b1_last_epoch"] == 2
    assert "profile: smoke" in g["b1_provenance"] and "128 images × 2 epochs" in g["b1_provenance"]
    assert g["b1_target_order_pwsm"].split(" (")[0] in ("fashion_new_classes", "digits")
    against = analysis.versus_baseline(table, study_b_run["baseline"])
    assert len(against) == 2 * 4 * (4 + 5 + 5)  # targets x metrics x (vgg, resnet, densenet layers)
    assert g["b1_below_baseline_pwsm0"] == pytest.approx(
        (against[against.metric == "pwsm_alpha_0"].ratio < 1).mean(), abs=5e-4)
    assert 0 <= g["b1_below_baseline_procrustes"] <= 1 and g["b1_max_ratio_pwsm0"] > 0
    assert "independently trained source net" in g["b1_baseline_sentence"]
    # the smoke's source nets train 1 epoch: the plateau rule (two windows of 3 epochs) cannot judge them
    assert g["b1_source_plateau"].count("too few to judge (the rule needs at least 6)") == 3


def test_metric_agreement_and_tables_glue_what_the_saved_tables_hold(study_b_run: dict) -> None:
    g2, g3 = study_b_run["glued"]["b2_metric_agreement"], study_b_run["glued"]["b3_tables"]
    correlations, accuracy, reuse = study_b_run["correlations"], study_b_run["accuracy"], study_b_run["reuse"]
    assert g2["b2_runs"] == 6
    mean_r = correlations.groupby("metric").r.mean()
    assert g2["b2_pooled_r_pwsm0"] == pytest.approx(mean_r["pwsm_alpha_0"], abs=5e-4)
    assert g2["b2_pooled_r_pwsm1"] == pytest.approx(mean_r["pwsm_alpha_1"], abs=5e-4)
    agreement = study_b_run["agreement"]
    # the paper's statistic: one r per (layer, epoch > 0, class) cell of every run, 10 digit classes + 5 new classes,
    # for each pairing (per-filter PWSM at alpha 0.5, per-filter CKA)
    assert set(agreement.pairing) == {"pwsm_alpha_0.5", "cka"}
    assert set(agreement.epoch) == {1, 2} and len(agreement) == 2 * 2 * (4 + 5 + 5) * (10 + 5)
    for name, pairing in (("filter", "pwsm_alpha_0.5"), ("code", "cka")):
        finite = agreement[agreement.pairing == pairing].r.dropna()
        assert g2[f"b2_{name}_cells"] == len(finite)
        assert g2[f"b2_{name}_r_mean"] == pytest.approx(finite.mean(), abs=5e-4)
        assert g2[f"b2_{name}_r_std"] == pytest.approx(finite.std(), abs=5e-4)
        unrelated = study_b_run["agreement_chance"]
        assert g2[f"b2_{name}_r_unrelated"] == pytest.approx(unrelated[unrelated.pairing == pairing].r.mean(),
                                                            abs=5e-4)
    assert (g2["b2_paper_r_mean"], g2["b2_paper_r_std"]) == (0.83, 0.43)
    recomputed = analysis.metric_correlations(study_b_run["table"])
    assert recomputed.r.to_numpy() == pytest.approx(correlations.r.to_numpy(), abs=1e-9)
    assert len(accuracy) == 6 and accuracy[["train_acc", "test_acc"]].stack().between(0, 1).all()
    assert g3["b3_test_acc_max"] == pytest.approx(accuracy.test_acc.max(), abs=5e-4)
    pwsm0 = reuse[reuse.metric == "pwsm_alpha_0"]
    assert g3["b3_reuse_min"] == pytest.approx(pwsm0["mean"].min(), abs=5e-4)
    assert g3["b3_reuse_max"] == pytest.approx(pwsm0["mean"].max(), abs=5e-4)
    procrustes = reuse[reuse.metric == "procrustes_filter"].set_index(["arch", "target"])["mean"]
    rank = pwsm0.set_index(["arch", "target"])["mean"].corr(procrustes, method="spearman")
    assert g3["b3_reuse_rank_agreement"] == pytest.approx(rank, abs=5e-4)
    relative = analysis.reusability_vs_baseline(study_b_run["table"], study_b_run["baseline"])
    assert len(relative) == len(reuse) and (relative.ratio > 0).all()
    rel0 = relative[relative.metric == "pwsm_alpha_0"]
    assert f"ranges from {rel0.ratio.min():.2f} to {rel0.ratio.max():.2f}" in g3["b3_relative_sentence"]


def test_verdicts_page_glues_its_calibration_table(smoke_runs: dict) -> None:
    g = read_glued(smoke_runs["notebooks"]["verdicts"])
    table = pd.read_csv(smoke_runs["out"] / "results" / "verdicts_calibration.csv")
    assert set(table.method) == set(verdicts.METHODS) and set(table.n) == {3, 5, 10}
    assert set(table.effect_sesoi) == {0.0, 0.5, 0.8, 1.0, 2.0, 3.0}
    assert set(table[table.method == "rule"].spread_sesoi) == {0.5, 1.0, 3.0}
    assert g["verdicts_draws"] == 300 and g["verdicts_nominal"] == pytest.approx(0.025)
    rule = table[(table.method == "rule") & (table.spread_sesoi == 1.0)].set_index(["sampler", "n", "effect_sesoi"])
    # glued numbers carry three decimals
    assert g["verdicts_holds_at_half_n5"] == pytest.approx(rule.loc[("normal", 5, 0.5), "holds"], abs=5e-4)
    assert g["verdicts_power_2_n5"] == pytest.approx(rule.loc[("normal", 5, 2.0), "holds"], abs=5e-4)
    rates = table[list(verdicts.NUMERIC)].sum(axis=1)
    assert rates.to_numpy() == pytest.approx(1.0)  # every simulated claim gets exactly one verdict
    assert g["verdicts_power_3_n5"] > g["verdicts_power_2_n5"] > g["verdicts_holds_at_1_n5"]
    assert g["verdicts_old_holds_at_08_n5"] > g["verdicts_holds_at_08_n5"]  # the earlier rule let small effects hold


def test_claims_ledger_verdicts_follow_from_the_saved_numbers(smoke_runs: dict, study_b_run: dict) -> None:
    results = smoke_runs["out"] / "results"
    g = read_glued(smoke_runs["notebooks"]["claims_ledger"])
    ledger = pd.read_csv(results / "claims_ledger.csv").set_index("key")
    tallied = ledger[ledger.tallied]
    assert g["ledger_claims"] == len(tallied) and g["ledger_rows"] == len(ledger) == 68
    shares = pd.read_csv(results / "ledger_share_sensitivity.csv")
    at_share = shares[shares.share == verdicts.RANGE_SHARE].set_index("key").verdict  # the ledger's own share
    assert (at_share == tallied.loc[at_share.index, "verdict"]).all() and set(at_share.index) == set(tallied.index)
    counts, counts_holm = tallied.verdict.value_counts(), tallied.verdict_holm.value_counts()
    for verdict in verdicts.VERDICTS:
        assert g[f"ledger_{verdict.replace(' ', '_')}"] == counts.get(verdict, 0)
    assert g["ledger_holds_holm"] == counts_holm.get("holds", 0) <= counts.get("holds", 0)
    assert (ledger.verdict_holm[~ledger.tallied] == "out of tally").all()
    by_key = ledger.verdict
    for key, row in ledger.iterrows():
        if row.verdict == "not measured":
            continue
        interval = verdicts.Interval(row.value, row.ci_low, row.ci_high, int(row.n), row.p, df=int(row.df))
        expected = ("untestable at this n" if not interval.testable else
                    verdicts.verdict(row.ci_low, row.ci_high, row.value, row.direction, null=row.null, sesoi=row.sesoi))
        assert row.verdict_unconditional == expected, key
        premise_met = (not isinstance(row.premise, str) or by_key[row.premise] == "holds"
                       or bool(ledger.every_unit[row.premise]))
        assert row.verdict == (expected if premise_met else "premise not met"), key
        if interval.testable:
            assert row.ci_low <= row.value <= row.ci_high, key
            scale = verdicts.SCALES[row.scale]
            assert scale.low <= row.ci_low and row.ci_high <= scale.high, key  # within the statistic's range
    # smoke: 2 Study A seeds (1 degree of freedom: untestable); Study B 3 archs x 2 targets (one similar, one
    # dissimilar), one source seed: the unit is the source net, so 3 of them, one per architecture (0 df)
    measured_a = ledger[(ledger.study == "A") & (ledger.verdict != "not measured")]
    assert (measured_a.n == 2).all() and (measured_a.verdict_unconditional == "untestable at this n").all()
    # smoke runs two label degrees: the graded claims over every step of d need three
    graded = ["A4-graded (same)", "A4-graded (cross)", "A4-graded (same) [every step]", "A4-graded (cross) [every step]"]
    assert (ledger.loc[graded, "verdict"] == "not measured").all()
    assert ledger.loc["B-depth (pwsm_alpha_0)", "n"] == 3 and ledger.loc["B-similarity", "n"] == 3
    assert ledger.loc["B-depth (pwsm_alpha_0)", "verdict"] == "untestable at this n"
    assert ledger.loc["B-resnet-dissimilar", "n"] == 1  # one seed: no interval
    assert ledger.loc["B-awa2-vs-scene", "verdict"] == "not measured"
    a1 = pd.read_csv(results / "a1_cka_to_init.csv")
    final = a1[(a1.metric == "cka") & (a1.comparison == "init") & (a1.epoch == a1.epoch.max())]
    wide = final.pivot(index="seed", columns="layer", values="value")
    expected = (wide[LAYERS[:-1]].min(axis=1) - wide["logits"]).mean()
    assert ledger.loc["A1-output", "value"] == pytest.approx(expected, abs=1e-9)
    def per_net(table: pd.DataFrame) -> pd.Series:
        paper = table[table.pairing == "pwsm_alpha_0.5"]
        return paper.groupby(["arch", "target", "seed"]).r.mean().groupby(["arch", "seed"]).mean()

    chance = pd.read_csv(results / "b_filter_agreement_chance.csv")
    fine = per_net(study_b_run["agreement"])  # the paper's statistic; the twins' r only in the note, never subtracted
    assert ledger.loc["B-agreement", "value"] == pytest.approx(fine.mean(), abs=1e-9)
    unrelated = per_net(chance).groupby(level="arch").mean()
    assert f"vgg_small {unrelated['vgg_small']:+.3f}" in ledger.loc["B-agreement", "note"]
    assert "profile: smoke" in g["ledger_provenance_a"] and "profile: smoke" in g["ledger_provenance_b"]


def test_landing_page_states_the_ledgers_findings(smoke_runs: dict) -> None:
    """The root page glues its counts from the same ledger the ledger page saved: nothing typed by hand."""
    g = read_glued(smoke_runs["notebooks"]["intro"])
    ledger = pd.read_csv(smoke_runs["out"] / "results" / "claims_ledger.csv")
    tallied = ledger[ledger.tallied]
    counts = tallied.verdict.value_counts()
    assert f"as **{len(tallied)}** tallied claims" in g["findings_counts"]
    sentences = tallied.drop_duplicates(["study", "section", "quote"]).shape[0]
    assert f"tests **{sentences}** quoted sentences" in g["findings_counts"] and sentences < len(tallied)
    for verdict, n in counts.items():
        assert f"**{n}** {verdict}" in g["findings_counts"]
    assert f"{int((~ledger.tallied).sum())} further rows" in g["findings_counts"]
    # the scale axis: the budget page trained the smoke profile's 320 × 2 before this page read it from the store
    assert "**Scale (more images, more SGD steps):** read at 640 × 2, 320 × 2" in g["findings_robustness"]
    does_not_hold = tallied[tallied.verdict == "does not hold"].key  # every refutation, negligible ones included
    assert all(f"[`{k}`]" in g["findings_does_not_hold"] for k in does_not_hold)
    assert "A2-train-fit" in g["findings_memorised"]
    assert base64.b64decode(g["findings_forest"])[:8] == b"\x89PNG\r\n\x1a\n"  # the forest plot, glued for the page
    assert "Inconclusive is the expected verdict" in g["findings_power"]
    assert "profile: smoke" in g["findings_provenance_a"] and "profile: smoke" in g["findings_provenance_b"]
    assert runner.book_notebooks()[-1].stem == "intro"  # executed last: it reads what the chapters stored


def test_estimator_grid_page_shows_the_trust_report_on_study_as_own_activations(smoke_runs: dict) -> None:
    g = read_glued(smoke_runs["notebooks"]["estimator_grid"])
    # kind "null" is a word here, not a missing value
    report = pd.read_csv(smoke_runs["out"] / "results" / "estimator_trust_a.csv", keep_default_na=False,
                         na_values={"change": [""], "change_low": [""], "change_high": [""]})
    assert set(report.layer) == set(LAYERS)
    assert set(report.kind) == {"ignore", "catch", "artefact", "null", "twin"}  # smoke: seeds 1 and 2, 2 the twin
    assert g["grid_trust_resamples"] == 5 and "reseeded twin read" in g["grid_trust_advice"]
    ortho = report[report.construction == "orthogonal transform"]
    cka = ortho[ortho.metric == "cka"].change_high  # NaN where shuffled rows read as the samples themselves
    assert cka.notna().any() and (cka.dropna() < 0.05).all()  # CKA ignores a rotation on these activations too


def test_budget_page_reads_the_ledgers_pretraining_claims_at_each_measured_epoch(smoke_runs: dict) -> None:
    results = smoke_runs["out"] / "results"
    g = read_glued(smoke_runs["notebooks"]["budget"])
    frame = pd.read_csv(results / "budget_ledger.csv")
    ledger = pd.read_csv(results / "claims_ledger.csv").set_index("key")
    assert g["budget_count"] == frame.budget.nunique() == 1  # smoke: 2 epochs, so one budget (epoch 2)
    at_end = frame[frame.budget == g["budget_epochs"]].set_index("key")
    # the last budget is the ledger's own reading of the same claims: same statistics, same verdicts
    assert at_end.value.to_numpy() == pytest.approx(ledger.loc[at_end.index, "value"].to_numpy(), abs=1e-12)
    assert (at_end.verdict == ledger.loc[at_end.index, "verdict"]).all()
    assert g["budget_fit_gap"] == pytest.approx(at_end.loc["A2-train-fit", "value"], abs=5e-4)
    assert g["budget_flip_count"] == 0


def test_budget_page_reads_every_study_a_claim_at_each_scale_and_its_own_scale_is_the_ledger(smoke_runs: dict) -> None:
    results = smoke_runs["out"] / "results"
    g = read_glued(smoke_runs["notebooks"]["budget"])
    scales = pd.read_csv(results / "scale_ledger.csv")
    ledger = pd.read_csv(results / "claims_ledger.csv").set_index("key")
    # smoke: the book's 640 × 2 (2 seeds) and the trained 320 × 2 (3 seeds), each in both BatchNorm modes
    assert set(zip(scales.images, scales.epochs, scales.bn, scales.seeds)) == {
        (640, 2, "batch", 2), (640, 2, "eval", 2), (320, 2, "batch", 3), (320, 2, "eval", 3)}
    assert g["scale_count"] == 2
    own = scales[(scales.images == 640) & (scales.bn == "batch")].set_index("key")
    study_a = ledger[ledger.study == "A"]
    assert set(own.index) == set(study_a.index)
    assert own.value.to_numpy() == pytest.approx(study_a.loc[own.index, "value"].to_numpy(), abs=1e-12, nan_ok=True)
    assert (own.verdict == study_a.loc[own.index, "verdict"]).all()
    tallied = scales[scales.tallied]
    assert g["scale_claims"] == tallied.key.nunique()
    moving = tallied[tallied.verdict != "not measured"].groupby(["bn", "key"]).verdict.nunique()
    assert g["scale_claims_moving"] == len({key for (_, key), n in moving.items() if n > 1})
    # the smoke book's own seeds [1, 2] do not hold the scale's [1, 2, 3]: read at its own n, which every label names
    assert "320 × 2: read (n = 3 seeds)" in g["scale_provenance"] and "640 × 2: read (n = 2 seeds" in g["scale_provenance"]


def _checked_cells(notebook: Path) -> list[tuple[str, dict]]:
    """(source, glued values) of every cell marked ``# NBVAL_CHECK_OUTPUT`` in an executed notebook: what
    nbval-lax compares, read as the values the cell glued (the book's copy drops plain-text results)."""
    import nbformat

    return [(cell.source, glued_in_cell(cell)) for cell in nbformat.read(notebook, as_version=4).cells
            if cell.cell_type == "code" and "NBVAL_CHECK_OUTPUT" in cell.source]


CHECKED = [nb.stem for nb in runner.book_notebooks() if "NBVAL_CHECK_OUTPUT" in nb.read_text()]


def test_every_chapter_with_numbers_has_a_checked_cell() -> None:
    assert set(CHECKED) == {nb.stem for nb in runner.book_notebooks()} - {"intro", "explorer"}


@pytest.mark.parametrize("stem", CHECKED)
def test_headline_cells_reproduce_from_an_empty_store(smoke_runs: dict, built_book: Path, stem: str) -> None:
    """Training is deterministic: the book built on a second, empty store (every run trained again, in book
    order) glues the same headline values, to the last digit, in every cell marked ``# NBVAL_CHECK_OUTPUT``."""
    first = _checked_cells(smoke_runs["notebooks"][stem])
    second = _checked_cells(built_book / "src" / "notebooks" / f"{stem}.ipynb")
    assert first and all(glued for _, glued in first), f"{stem} has no checked cell that glues a value"
    assert second == first


def test_bad_parameters_fail_before_training(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with pytest.raises(ParameterError, match=r"a_dataset = 'imagenet': unknown data set"):  # the runner's door
        runner.resolve_parameters(A1, "smoke", {"a_dataset": "imagenet"})
    params = {**runner.resolve_parameters(A1, "smoke"), "a_dataset": "imagenet"}  # papermill without the runner
    with pytest.raises(runner.NotebookFailed, match=r"ParameterError: .*a_dataset = 'imagenet': unknown data set"):
        runner.execute(A1, tmp_path / "bad.ipynb", params, extra_env={"REPCHANGE_STORE": str(store)})
    assert not store.exists()  # nothing was trained or stored
    with pytest.raises(ValueError, match=r"has no parameter\(s\) \['a_degrees'\]; its parameters"):
        runner.resolve_parameters(A1, "smoke", {"a_degrees": [3]})  # Figure 1 has clean labels only
    with pytest.raises(ValueError, match=r"\['n_probe'\] \('n_probe' is now 'a_probe_size'\)"):
        runner.resolve_parameters(A1, "smoke", {"n_probe": 3})  # a name from before the shared vocabulary
    with pytest.raises(ValueError, match=r"\['a_probe_sise'\] \(did you mean 'a_probe_size'\?\)"):
        runner.resolve_parameters(A1, "smoke", {"a_probe_sise": 3})
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        runner.resolve_parameters(A1, "fast")


@pytest.mark.parametrize("stem, overrides, message", [
    ("a2_label_degrees", {"a_degrees": [0, 10]}, r"ParameterError: .*a_degrees\[1\] = 10: must be at most 9"),
    ("a5_finetuning_change", {"a_finetune_epochs": -1}, r"ParameterError: .*a_finetune_epochs = -1: must be at least 1"),
    ("b1_feature_dynamics", {"b_archs": ["alexnet"]}, r"ParameterError: .*b_archs\[0\] = 'alexnet': unknown architecture"),
    ("b1_feature_dynamics", {"b_targets": ["scene15"]}, r"ParameterError: .*b_archs and b_targets do not go together"),
    ("b1_feature_dynamics", {"b_archs": ["resnet50"], "b_targets": ["scene15"], "data_root": "EMPTY"},
     r"DataNotFoundError: .*scene15"),
])
def test_a_wrong_parameter_stops_a_papermill_run_before_any_training(stem: str, overrides: dict, message: str,
                                                                      tmp_path: Path) -> None:
    """Papermill straight onto the notebook (no runner, so no door): the notebook's own checks stop it."""
    notebook = ROOT / "notebooks" / f"{stem}.py"
    store = tmp_path / "store"
    (tmp_path / "empty").mkdir()
    overrides = {k: str(tmp_path / "empty") if v == "EMPTY" else v for k, v in overrides.items()}
    params = {**runner.resolve_parameters(notebook, "smoke"), **overrides}
    with pytest.raises(runner.NotebookFailed, match=message):
        runner.execute(notebook, tmp_path / "bad.ipynb", params, extra_env={"REPCHANGE_STORE": str(store)})
    assert not list(store.rglob("complete.json")) and not list(store.rglob("*.pt"))  # nothing trained or stored


def test_cli_reports_a_bad_parameter_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "repchange", "run", str(A1), "--profile", "smoke", "-p", "a_pretrain_epochs", "0",
         "--out", str(tmp_path / "run")],
        capture_output=True, text=True, env={**__import__("os").environ, "REPCHANGE_STORE": str(tmp_path / "s")})
    assert proc.returncode == 2
    assert "error: a1_cka_pretraining.py: bad parameter: a_pretrain_epochs = 0: must be at least 1" in proc.stderr
    assert not (tmp_path / "run").exists()  # refused at the door: no kernel started, nothing written


def test_profiles_resolve_for_every_book_notebook() -> None:
    notebooks = runner.book_notebooks()
    assert notebooks[:2] == [M0, A1]
    for nb in notebooks:
        for profile in ("default", "smoke", "paper"):
            params = runner.resolve_parameters(nb, profile)
            assert params.get("profile", profile) == profile


@pytest.fixture(scope="module")
def built_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke book built on a fresh, empty store of its own (every run trained again): its output folder,
    with the store at ``<out>/store``. Its executed notebooks are the second execution the determinism test
    compares with :func:`smoke_runs`."""
    out = tmp_path_factory.mktemp("book")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REPCHANGE_STORE", str(out / "store"))
        runner.build_book("smoke", out=out)
    return out


def test_book_builds_with_warnings_as_errors(a1_run: dict, built_book: Path) -> None:
    assert (built_book / "html" / "index.html").exists()
    page = (built_book / "html" / "notebooks" / "a1_cka_pretraining.html").read_text()
    assert f'{a1_run["glued"]["a1_cka_final_block1"]:.3f}' in page
    assert "profile: smoke" in page and "<img" in page and "provenance admonition" in page
    assert (built_book / "results" / "a1_cka_to_init.csv").exists()
    reference = (built_book / "html" / "book" / "parameters.html").read_text()
    for nb in runner.book_notebooks():  # every notebook's every parameter, as papermill reads them
        assert nb.name in reference
        for name in runner.declared_parameters(runner.read_notebook(nb)):
            assert f"<code class=\"docutils literal notranslate\"><span class=\"pre\">{name}</span></code>" in reference
    assert 'href="parameters.html"' in (built_book / "html" / "book" / "how_to_run.html").read_text()
    # every page ends with the library code it calls, each module one link away, its source on that page
    assert "The library code behind this page" in page and 'href="../book/code/studies.a.tables.html"' in page
    tables = (built_book / "html" / "book" / "code" / "studies.a.tables.html").read_text()
    assert "<span class=\"nf\">cka_to_init</span>" in tables and 'href="../../notebooks/a1_cka_pretraining.html"' in tables


def test_the_built_book_works_in_headless_chromium(built_book: Path) -> None:
    """Every page loads without a script error or failed request, no broken image or internal link,
    every notebook figure is captioned with its profile and seeds."""
    from repchange.book import check

    try:
        check.find_chromium()
    except FileNotFoundError as err:
        if __import__("os").environ.get("REPCHANGE_REQUIRE_BROWSER") == "1":
            raise
        pytest.skip(str(err))
    problems = check.check_site(built_book / "html")
    assert not problems, "\n".join(map(str, problems))
    pages = {p.relative_to(built_book / "html").as_posix() for p in (built_book / "html").rglob("*.html")}
    assert {"notebooks/claims_ledger.html", "notebooks/explorer.html", "book/parameters.html"} <= pages


def test_visualisation_chapters_pick_the_most_and_least_changed_filters(study_b_run: dict) -> None:
    g4, g5 = study_b_run["glued"]["b4_class_visualisation"], study_b_run["glued"]["b5_sample_visualisation"]
    assert g4["b4_first_layer"] == g5["b5_first_layer"] == "conv2_2"  # vgg_small: second and second-to-last
    assert g4["b4_last_layer"] == g5["b5_last_layer"] == "conv3_2"
    for i in (0, 1):
        assert g4[f"b4_d_most_{i}"] >= g4[f"b4_d_least_{i}"] >= 0  # ordered by the per-filter distance
        for role in ("most", "least"):
            assert -1 <= g4[f"b4_r_{role}_{i}"] <= 1 and -1 <= g5[f"b5_r_{role}_{i}"] <= 1
            assert g5[f"b5_strength_{role}_{i}"] > 0
    heat = study_b_run["heat"]
    assert len(heat) == 4 and set(heat.role) == {"most", "least"}
    for layer, rows in heat.groupby("layer"):
        d = rows.set_index("role").distance
        assert d["most"] >= d["least"]
    crops = study_b_run["crops"]
    assert len(crops) == 2 * 2 * 4  # layers x filters x classes shown
    assert g4["b4_r_most_0"] == pytest.approx(
        crops[(crops.layer == "conv2_2") & (crops.role == "most")].r.mean(), abs=5e-4)
    assert "net: vgg_small" in g4["b4_provenance"] and "digits" in g5["b5_provenance"]


def test_a_parameter_line_papermill_cannot_read_is_an_error_not_a_dropped_parameter(tmp_path: Path) -> None:
    source = A1.read_text().replace("device: str = \"auto\"", "device: str = \"auto\"  # cpu = slow")
    nb = tmp_path / "a1_copy.py"
    nb.write_text(source)
    with pytest.raises(ValueError, match="papermill cannot read the parameter line 'device: str"):
        runner.resolve_parameters(nb, "default")


def test_deviations_page_glues_the_measured_effects_it_saved(smoke_runs: dict) -> None:
    results = smoke_runs["out"] / "results"
    g = read_glued(smoke_runs["notebooks"]["deviations"])
    bn_a = pd.read_csv(results / "deviation_bn_study_a.csv")
    assert list(bn_a.layer) == LAYERS and g["dev_bn_a_max"] == pytest.approx(bn_a.difference.abs().max(), abs=5e-4)
    assert (bn_a.difference == bn_a["eval"] - bn_a["batch"]).all()
    shift = pd.read_csv(results / "deviation_shift.csv")
    assert g["dev_shift_max"] == pytest.approx(shift.difference.abs().max(), abs=5e-4)
    centre = pd.read_csv(results / "deviation_centring.csv")
    assert set(centre.metric) == {"procrustes_filter"} and g["dev_centre_mean"] > 0  # the two centrings differ
    pwsm_conv = pd.read_csv(results / "deviation_pwsm_convention.csv")
    assert len(pwsm_conv) > 0 and g["dev_pwsm_mean"] == pytest.approx(pwsm_conv.difference.abs().mean(), abs=5e-4)
    for key in ("dev_bn_a_sentence", "dev_bn_b_sentence", "dev_centre_sentence", "dev_shift_sentence", "dev_pwsm_sentence"):
        assert any(ch.isdigit() for ch in g[key]), key  # every effect is a measured number


def test_papers_beside_page_sets_the_published_numbers_next_to_this_run(smoke_runs: dict) -> None:
    results = smoke_runs["out"] / "results"
    g = read_glued(smoke_runs["notebooks"]["paper_beside_run"])
    a = pd.read_csv(results / "paper_beside_study_a.csv")
    assert len(a) == 3 * 5 and a.paper.iloc[0] == 0.895 and a.ours.between(0, 1).all()
    a1 = pd.read_csv(results / "a1_cka_to_init.csv")
    final = a1[(a1.metric == "cka") & (a1.comparison == "init") & (a1.epoch == a1.epoch.max())]
    assert a.ours.iloc[0] == pytest.approx(final[final.layer == "block1"].value.mean(), abs=1e-9)
    reuse = pd.read_csv(results / "paper_beside_table2.csv")
    assert set(reuse.arch) == {"vgg19", "resnet50", "densenet121"} and set(reuse.kind) == {"similar", "dissimilar"}
    assert 0 <= g["beside_b_same_sign"] <= g["beside_b_archs"] == 3
    assert (g["beside_r_paper"], g["beside_r_paper_std"]) == (0.83, 0.43)


def test_your_own_model_chapter_glues_the_tracked_table(smoke_runs: dict) -> None:
    g = read_glued(smoke_runs["notebooks"]["c1_your_own_model"])
    table = pd.read_csv(smoke_runs["out"] / "results" / "c1_tracked_resnet18.csv")
    assert table.layer.unique().tolist() == ["relu", "layer1", "layer2", "layer3", "layer4"]
    assert sorted(table.step.unique()) == list(range(g["c1_epochs"] + 1))
    start = table[table.step == 0]
    assert start[start.metric == "cka"].value.tolist() == pytest.approx([1.0] * 5)  # the init against itself
    final = table[(table.step == table.step.max()) & (table.metric == "cka")].set_index("layer").value
    assert g["c1_cka_most"] == pytest.approx(final.min(), abs=5e-4)
    assert g["c1_most"].strip("`") == final.idxmin() and g["c1_least"].strip("`") == final.idxmax()
    assert final.min() < 0.99  # training moved at least one stage away from its init
    # the null band: every value of the tracked metrics that get it, the init against itself above its band
    banded = table[table.metric.isin(["cka", "cka_debiased"])]
    assert banded.null_low.notna().all() and (banded.null_low <= banded.null_high).all()
    assert (start[start.metric == "cka"].value > start[start.metric == "cka"].null_high).all()
    assert table[table.metric == "procrustes"].null_low.isna().all()  # not asked for Procrustes
    matrix = pd.read_csv(smoke_runs["out"] / "results" / "c1_resnet_vs_vit.csv")
    assert set(matrix.layer_b) == {f"encoder.layers.encoder_layer_{i}" for i in range(4)}
    assert len(matrix) == 5 * 4 == g["c1_pairs"] and g["c1_factorisations"] == 9
    assert g["c1_above_null"] == int((matrix.value > matrix.null_high).sum())
    assert g["c1_best_sentence"].count("↔") == 5
    # the change monitor: a look at 0 and after every few batches, five stages, alarms at stages / alpha
    changes = pd.read_csv(smoke_runs["out"] / "results" / "c1_change_monitor.csv")
    assert changes.layer.unique().tolist() == table.layer.unique().tolist()
    assert changes.step.nunique() == g["c1_looks"] > g["c1_epochs"] + 1
    assert g["c1_monitor_threshold"] == pytest.approx(5 / 0.05)
    assert changes[changes.step == 0].change.abs().max() < 1e-9  # the init against itself on any half of the probe
    alarmed = changes.groupby("layer").first_alarm.max().dropna()
    assert all(f"`{layer}`" in g["c1_monitor_sentence"] for layer in changes.layer.unique())
    assert (changes[changes.alarm].e_value.groupby(changes.layer).max() >= g["c1_monitor_threshold"]).all() \
        if len(alarmed) else "No stage alarmed" in g["c1_monitor_sentence"]
    trust = pd.read_csv(smoke_runs["out"] / "results" / "c1_validate.csv")
    assert set(trust[trust.kind == "twin"].layer) == set(table.layer)  # another seed's ResNet-18 beside the constructions
    bert = pd.read_csv(smoke_runs["out"] / "results" / "c1_validate_bert.csv", keep_default_na=False)
    assert set(bert.layer) == {f"hidden_states.{i}" for i in range(5)}  # the embeddings and every block
    assert g["c1_bert_sentences"] >= 15 and "ignored the isometries" in g["c1_bert_advice"]


def test_a_warm_build_keeps_every_unchanged_notebook(built_book: Path, capsys) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REPCHANGE_STORE", str(built_book / "store"))
        capsys.readouterr()
        runner.build_book("smoke", out=built_book)
    printed = capsys.readouterr().out
    assert "executing" not in printed
    assert printed.count("unchanged since its last execution") == len(runner.book_notebooks())
    assert "HTML: no staged page changed since the last build, kept" in printed and "building HTML" not in printed
    assert (built_book / "html" / "notebooks" / "a1_cka_pretraining.html").exists()
