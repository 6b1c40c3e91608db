"""The claims ledger: intervals, verdicts, and each claim's statistic on tables with known answers."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from repchange.studies import claims

LAYERS = ["block1", "block2", "block3", "block4", "logits"]
SEEDS = [1, 2, 3]


def test_a_claim_with_an_unknown_direction_is_an_error() -> None:
    with pytest.raises(ValueError, match="direction must be one of"):
        claims.Claim("x", "A", "Sec. 3", "Fig. 1", "quote", "c", "s", "seed", "bigger")
    with pytest.raises(ValueError, match="kind must be one of"):
        claims.Claim("x", "A", "Sec. 3", "Fig. 1", "quote", "c", "s", "seed", "greater", kind="rumour")


# ----------------------------------------------------------------------------------------------
# Every claim can fail: one synthetic world in which every claim holds, and for each claim a change
# of that world that contradicts it. Values carry small per-cell noise, so intervals have width.

def _study_a_world() -> dict:
    independent = {("same", "clean"): [0.5, 0.45, 0.4, 0.3, 0.2], ("same", "random d=9"): [0.95, 0.9, 0.7, 0.45, 0.3],
                   ("same", "random d=4"): [0.5] * 5, ("cross", "random d=4"): [0.5] * 5,
                   ("cross", "clean"): [0.5, 0.45, 0.4, 0.3, 0.2], ("cross", "random d=9"): [0.5, 0.45, 0.4, 0.3, 0.2],
                   ("same", "shift s=seed"): [0.5, 0.45, 0.4, 0.3, 0.2]}
    return {
        "pre_init": [0.95, 0.85, 0.7, 0.5, 0.2],
        "chance_pre": [0.9, 0.8, 0.6, 0.4, 0.1],  # two unrelated random inits on the pre-training probe
        "fit_acc": {0: 0.99, 1: 0.98, 9: 0.97}, "test_acc": {0: 0.85, 1: 0.6, 9: 0.1},
        "train_loss": {0: (2.0, 0.5), 1: (2.1, 1.0), 9: (2.3, 2.0)},  # (first epoch, last epoch)
        # random labels: the early blocks all but keep their init, the later ones move a little less than with clean
        "degree": {0: [0.90, 0.80, 0.6, 0.4, 0.2], 9: [0.999, 0.995, 0.65, 0.45, 0.15]},
        "degree_early": {0: [0.95, 0.9, 0.8, 0.6, 0.4], 9: [0.97, 0.93, 0.8, 0.6, 0.2]},  # epoch 1: equal steps
        "size": {64: 0.9, 640: 0.7}, "size_steps": 0.85,  # 64 images trained as many steps as 640 take
        # early layers, each above its probe's chance: clean > shifted labels > cross domain > random labels, every
        # gap beyond δ = 5 % of the early layers' range above chance (0.7, 0.75 here)
        "fine": {("same", "clean"): [0.998, 0.996, 0.92, 0.8, 0.5], ("same", "random d=9"): [0.8, 0.75, 0.6, 0.3, 0.1],
                 ("same", "random d=4"): [0.95, 0.9, 0.75, 0.5, 0.3],
                 ("cross", "clean"): [0.88, 0.86, 0.8, 0.5, 0.4], ("cross", "random d=9"): [0.88, 0.75, 0.55, 0.25, 0.1],
                 ("cross", "random d=4"): [0.92, 0.82, 0.7, 0.4, 0.2],
                 ("same", "shift s=seed"): [0.95, 0.93, 0.85, 0.7, 0.3]},
        "chance": {"same": [0.3, 0.25, 0.2, 0.15, 0.1], "cross": [0.3, 0.25, 0.2, 0.15, 0.1]},
        "own_init": {k: list(v) for k, v in independent.items()},  # Fig. 5's reference: the pre-training's own init
        "independent": independent,
    }


def _set(path: tuple, value):
    """A change of the world: ``world[path[0]][path[1]]... = value`` (a list value replaces a prefix)."""
    def change(world: dict) -> None:
        *keys, last = path
        target = world
        for k in keys:
            target = target[k]
        if isinstance(value, list) and isinstance(target[last], list):
            target[last] = value + target[last][len(value):]
        else:
            target[last] = value
    return change


def _set_layer(path: tuple, layer: int, value: float):
    def change(world: dict) -> None:
        target = world
        for k in path:
            target = target[k]
        target[layer] = value
    return change


def _both(*changes):
    def change(world: dict) -> None:
        for c in changes:
            c(world)
    return change


FIG5 = {  # Fig. 5's claims: (world key of the reference's profile, condition, contradicting change)
    "A5c-closer-shift": (("same", "shift s=seed"), [0.99] * 5),
    "A5c-margin-shift": (("same", "shift s=seed"), [0.1] * 5),
    "A5-closer": (("same", "clean"), [1.0] * 5),
    "A5d-closer-cross": (("cross", "clean"), [1.0] * 5),
    "A5d-margin-cross": (("cross", "clean"), [0.0] * 5),
}
CONTRADICT_A = {
    "A1-depth": _set(("pre_init",), [0.2, 0.5, 0.7, 0.85, 0.95]),
    "A1-depth [every step]": _set(("pre_init",), [0.95, 0.85, 0.9, 0.5, 0.2]),  # early mean still above: only a step
    "A1-output": _set_layer(("pre_init",), 4, 0.99),
    "A2-train-fit": _set(("fit_acc", 9), 0.5),
    "A2-test-falls": _set(("test_acc", 1), 0.9),
    "A2-loss-slower": _set(("train_loss", 9), (1.5, 0.2)),  # the random-label curve runs below the clean one
    "A-cross-early": _set(("fine", ("cross", "clean")), [0.99, 0.98]),
    # the every-step reading fails on one step up; the fitted change over d only where random labels change less
    "A4-graded (same) [every step]": _set(("fine", ("same", "random d=4")), [0.999, 0.998, 0.95, 0.85, 0.6]),
    "A4-graded (cross) [every step]": _set(("fine", ("cross", "random d=4")), [0.97, 0.95, 0.9, 0.6, 0.5]),
    "A4-graded (same)": _both(_set(("fine", ("same", "random d=4")), [0.999, 0.998, 0.95, 0.85, 0.6]),
                              _set(("fine", ("same", "random d=9")), [0.999, 0.998, 0.95, 0.85, 0.6])),
    "A4-graded (cross)": _both(_set(("fine", ("cross", "random d=4")), [0.97, 0.95, 0.9, 0.6, 0.5]),
                               _set(("fine", ("cross", "random d=9")), [0.97, 0.95, 0.9, 0.6, 0.5])),
    "A4-clean-early": _set(("fine", ("same", "clean")), [0.95, 0.9]),
    "A3-less-change": _set(("degree", 9), [0.8, 0.7, 0.5, 0.3, 0.1]),
    "A3-less-change [all layers]": _set(("degree", 9), [0.8, 0.7, 0.5, 0.3, 0.1]),
    "A3-less-change-early": _set(("degree", 9), [0.8, 0.7]),
    "A3-less-change-early [early layers only]": _set(("degree", 9), [0.8, 0.7]),
    "A3-structure-early": _set(("degree", 9), [0.8, 0.7]),  # random labels move the early layers further
    "A-early-static": _set(("degree", 9), [0.95, 0.9]),  # the early layers leave their init by 0.075
    "A3-last-layers": _set_layer(("degree", 9), 4, 0.35),
    "A3-size": _set(("size", 64), 0.6),
    "A3-size [all layers]": _set(("size", 64), 0.6),
    "A3-size-steps": _set(("size_steps",), 0.6),
    "A4-head": _set_layer(("fine", ("same", "clean")), 4, 0.95),
    "A4-random": _set(("fine", ("same", "random d=9")), [1.0, 0.99, 0.95, 0.9, 0.8]),
    "A4-random-vs-scratch": _set(("chance_pre",), [0.0] * 5),  # above its chance, scratch moved less
    "A4-random-vs-scratch [equal SGD steps]": _set(("degree_early", 9), [1.0] * 5),
    "A4b-random-cross": _set(("fine", ("cross", "random d=9")), [0.99, 0.95, 0.9, 0.7, 0.6]),
    "A4c-cross-vs-clean": _both(_set(("fine", ("cross", "clean")), [1.0, 0.99]), _set(("fine", ("same", "clean")), [0.96, 0.95])),
    "A4c-cross-vs-random": _set(("fine", ("cross", "clean")), [0.8, 0.7]),
    "A4c-shift-vs-clean": _both(_set(("fine", ("same", "shift s=seed")), [1.0, 0.99]),
                                _set(("fine", ("same", "clean")), [0.96, 0.95])),
    "A4c-shift-vs-random": _set(("fine", ("same", "shift s=seed")), [0.8, 0.7]),
    "A4c-penultimate": _set_layer(("fine", ("same", "shift s=seed")), 3, 0.4),
    **{key: _set(("own_init", condition), change) for key, (condition, change) in FIG5.items()},
    **{f"{key} [independent init]": _set(("independent", condition), change) for key, (condition, change) in FIG5.items()},
    "A5b-random-unlearns": _set(("own_init", ("same", "random d=9")), [0.3] * 5),
    "A5b-random-unlearns [independent init]": _set(("independent", ("same", "random d=9")), [0.3] * 5),
    "A5b-random-unlearns [block4]": _set_layer(("own_init", ("same", "random d=9")), 3, 0.1),
    "A5b-random-unlearns [logits]": _set_layer(("own_init", ("same", "random d=9")), 4, 0.0),
    "A5b-random-early": _both(_set(("fine", ("same", "random d=9")), [1.0, 0.99]),
                              _set(("fine", ("same", "clean")), [0.96, 0.95])),
}
STEPS = dict(finetune_steps=10, pretrain_steps_per_epoch=10)  # one fine-tuning run = one pre-training epoch


def _study_a_tables(world: dict, noise: float = 0.001) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(0)

    def rows(profile: list[float], **keys) -> list[dict]:
        out = []
        for seed in SEEDS:
            for layer, v in zip(LAYERS, profile):
                value = v + noise * rng.standard_normal()
                out += [dict(keys, seed=seed, layer=layer, metric="cka", value=value),
                        dict(keys, seed=seed, layer=layer, metric="cka_debiased", value=-9.0)]
        return out

    pretraining = pd.DataFrame(rows([1.0] * 5, epoch=0, comparison="init") + rows(world["pre_init"], epoch=2, comparison="init")
                               + rows(world["chance_pre"], epoch=0, comparison="independent_init"))
    # train_acc (the running mean in train mode) is far below fit_acc: the claim must read fit_acc
    histories = pd.DataFrame([dict(degree=d, seed=s, epoch=e, train_acc=0.3 * world["fit_acc"][d],
                                   fit_acc=world["fit_acc"][d] + noise * rng.standard_normal(),
                                   test_acc=world["test_acc"][d] + noise * rng.standard_normal(),
                                   train_loss=world["train_loss"][d][e - 1] + noise * rng.standard_normal())
                              for d in (0, 1, 9) for s in SEEDS for e in (1, 2)])
    degrees = pd.DataFrame(sum((rows(world["degree"][d], epoch=2, comparison="init", degree=d)
                                + rows(world["degree_early"][d], epoch=1, comparison="init", degree=d) for d in (0, 9)), []))
    sizes = pd.DataFrame(sum((rows([world["size"][n]] * 5, epoch=2, comparison="init", train_size=n, equal_steps=False)
                              for n in (64, 640)), [])
                         + rows([world["size_steps"]] * 5, epoch=20, comparison="init", train_size=64, equal_steps=True))
    fine = []
    for (domain, labels), profile in world["fine"].items():
        keys = dict(domain=domain, labels=labels, degree=int(labels.split("=")[1]) if "random" in labels else 0)
        fine += rows(profile, comparison="pretrained", epoch=3, **keys)
        fine += rows(world["own_init"][(domain, labels)], comparison="pretrain_init", epoch=3, **keys)
        fine += rows(world["independent"][(domain, labels)], comparison="independent_init", epoch=3, **keys)
        fine += rows(world["chance"][domain], comparison="chance", epoch=0, **keys)
    return dict(pretraining=pretraining, histories=histories, degrees=degrees, sizes=sizes, finetuning=pd.DataFrame(fine))


def _a_ledger(world: dict, noise: float = 0.001, **kwargs) -> pd.DataFrame:
    return claims.study_a_claims(**_study_a_tables(world, noise), **STEPS, **kwargs).set_index("key")


def test_every_study_a_claim_holds_in_a_world_made_to_support_it() -> None:
    ledger = _a_ledger(_study_a_world())
    assert set(ledger.index) == set(CONTRADICT_A)  # every claim of the ledger has its contradiction below
    assert (ledger.verdict == "holds").all(), ledger.loc[ledger.verdict != "holds", ["value", "ci_low", "ci_high"]]
    assert (ledger.n == 3).all()
    assert (ledger.ci_high > ledger.ci_low).all()  # noisy: real intervals


@pytest.mark.parametrize("key", sorted(CONTRADICT_A))
def test_each_study_a_claim_does_not_hold_where_the_data_contradict_it(key: str) -> None:
    world = _study_a_world()
    CONTRADICT_A[key](world)
    row = _a_ledger(world).loc[key]
    assert row.verdict == "does not hold", (row.value, row.ci_low, row.ci_high)


def test_study_a_statistics_are_the_stated_differences() -> None:
    world = _study_a_world()
    world["chance"]["cross"] = [0.5, 0.45, 0.4, 0.35, 0.3]  # the cross-domain probe's chance level differs
    ledger = _a_ledger(world, noise=0.0)
    value = ledger["value"]
    assert value["A1-depth"] == pytest.approx(0.9 - np.mean([0.7, 0.5, 0.2]))  # early blocks − the later layers
    assert value["A1-depth [every step]"] == pytest.approx(-0.1)  # steps -0.1, -0.15, -0.2, -0.3
    assert value["A3-last-layers"] == pytest.approx((0.2 - 0.15) - (0.6 - 0.65))  # logits − the largest of the blocks
    assert value["A2-train-fit"] == pytest.approx(-0.02) and ledger.loc["A2-train-fit", "null"] == -0.05
    assert value["A2-test-falls"] == pytest.approx(-0.25)  # steps 0.85 → 0.6 → 0.1: the larger is -0.25
    assert value["A3-less-change"] == pytest.approx(np.mean([0.099, 0.195, 0.05, 0.05]))  # the blocks only
    assert value["A3-less-change [all layers]"] == pytest.approx(np.mean([0.099, 0.195, 0.05, 0.05, -0.05]))
    assert value["A3-less-change-early [early layers only]"] == pytest.approx(0.147)  # the first two blocks
    assert value["A3-less-change-early"] == pytest.approx(0.147 - 0.05)  # − the later blocks, logits left out
    assert value["A3-structure-early"] == pytest.approx(0.147)  # two degrees: the fitted change is the difference
    assert value["A-early-static"] == pytest.approx(0.997 - 1.0)
    assert value["A4c-penultimate"] == pytest.approx((0.7 - 0.15) - (0.5 - 0.35))  # each above its probe's chance
    assert value["A4c-cross-vs-clean"] == pytest.approx(np.mean([0.998 - 0.3, 0.996 - 0.25])
                                                        - np.mean([0.88 - 0.5, 0.86 - 0.45]))
    assert value["A5b-random-unlearns [block4]"] == pytest.approx(0.3 - 0.45)
    assert value["A5b-random-unlearns"] == pytest.approx(np.mean([0.8, 0.75, 0.6, 0.3, 0.1])
                                                         - np.mean([0.95, 0.9, 0.7, 0.45, 0.3]))
    assert value["A5d-margin-cross"] == pytest.approx(np.mean([0.998, 0.996, 0.92, 0.8, 0.5]) - np.mean([0.88, 0.86, 0.8, 0.5, 0.4]))
    assert value["A2-loss-slower"] == pytest.approx(((2.3 - 2.0) + (2.0 - 0.5)) / 2)  # mean gap over epochs 1, 2
    assert value["A4-clean-early"] == pytest.approx(0.997 - 1.0)
    # layer means: clean 0.8428, d=4 0.68, d=9 0.51: steps -0.1628, -0.17; the fitted change over d = 0..9
    assert value["A4-graded (same) [every step]"] == pytest.approx(0.68 - np.mean([0.998, 0.996, 0.92, 0.8, 0.5]))
    slope = np.polyfit([0, 4, 9], [np.mean([0.998, 0.996, 0.92, 0.8, 0.5]), 0.68, 0.51], 1)[0]
    assert value["A4-graded (same)"] == pytest.approx(9 * slope)
    fine_x = np.mean([0.8 - 0.3, 0.75 - 0.25, 0.6 - 0.2, 0.3 - 0.15, 0.1 - 0.1])
    assert value["A4-random-vs-scratch"] == pytest.approx(fine_x - np.mean([0.099, 0.195, 0.05, 0.05, 0.05]))
    assert value["A4-random-vs-scratch [equal SGD steps]"] == pytest.approx(fine_x - np.mean([0.07, 0.13, 0.2, 0.2, 0.1]))
    assert "epoch 1 (10 steps) against 10 fine-tuning steps" in ledger.loc["A4-random-vs-scratch [equal SGD steps]", "note"]


def test_fig5_reads_the_papers_reference_and_shows_the_authors_code_beside_it() -> None:
    """The paper's Fig. 5 reference is the net's own pre-training init; an independent init (the authors' code) is
    a row beside each claim, out of the tally, and :func:`reference_dependence` names the claims whose verdict moves."""
    world = _study_a_world()
    FIG5_CHANGE = CONTRADICT_A["A5-closer [independent init]"]
    FIG5_CHANGE(world)
    frame = claims.ledger(claims.study_a_claims(**_study_a_tables(world), **STEPS))
    rows = frame.set_index("key")
    assert rows.loc["A5-closer", "verdict"] == "holds" and rows.loc["A5-closer [independent init]", "verdict"] == "does not hold"
    assert rows.loc["A5-closer", "tallied"] and not rows.loc["A5-closer [independent init]", "tallied"]
    assert rows.loc["A5-closer [independent init]", "verdict_holm"] == "out of tally"
    dependent = claims.reference_dependence(frame).set_index("key")
    # the same change moves the margins measured against the independent init too; nothing else depends on it
    assert set(dependent.index) == {"A5-closer", "A5c-margin-shift", "A5d-margin-cross"}
    assert (dependent.iloc[:, 0] != dependent.iloc[:, 1]).all()


def test_a_run_without_shifted_labels_marks_those_claims_not_measured() -> None:
    tables = _study_a_tables(_study_a_world())
    tables["finetuning"] = tables["finetuning"][~tables["finetuning"].labels.str.startswith("shift")]
    ledger = claims.study_a_claims(**tables).set_index("key")
    untested = ledger[ledger.verdict == "not measured"]
    shifted = {"A-cross-early", "A4c-shift-vs-clean", "A4c-shift-vs-random", "A4c-penultimate", "A5c-closer-shift",
               "A5c-margin-shift", "A5c-closer-shift [independent init]", "A5c-margin-shift [independent init]"}
    assert set(untested.index) == shifted | {"A4-random-vs-scratch [equal SGD steps]"}  # no steps given here
    assert (untested.n == 0).all() and untested.loc[sorted(shifted)].note.str.contains("no shifted-label").all()


def _study_b_world() -> dict:
    return {"depth": [1.0, 2.0, 3.0], "epoch": [0.0, 0.5, 0.8, 1.0], "dissimilar": 2.0, "resnet_dissimilar": 0.8,
            "scene15": 1.2, "awa2": 1.0, "r": 0.9, "r_code": 0.8, "r_twin": 0.3, "early_dissimilar": 1.0,
            "dissimilar_first_epoch": 1.0, "procrustes_follows": True, "twin": 0.5}


B_SEEDS = [1, 2, 3]


def _dynamics(world: dict, targets: list[str], noise: float = 0.005) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for arch, target, seed, (k, layer), (e, epoch_factor), cls in itertools.product(
            ["vgg_small", "resnet_small", "densenet_small"], targets, B_SEEDS, enumerate(["l1", "l2", "l3"]),
            enumerate(world["epoch"]), ["all", "0", "1"]):
        kind = claims.SIMILARITY_TO_SOURCE[target]
        scale = world.get(target, world["dissimilar"] if kind == "dissimilar" else 1.0)
        if kind == "dissimilar" and arch == "resnet_small":
            scale *= world["resnet_dissimilar"]
        if kind == "dissimilar" and k == 0:
            scale *= world["early_dissimilar"]
        if kind == "dissimilar" and e == 1:
            scale *= world["dissimilar_first_epoch"]
        base = 0.1 * world["depth"][k] * epoch_factor * scale
        shared = 0.01 * rng.standard_normal() if e else 0.0  # a cell's deviation both metrics see
        for metric, alpha, factor in (("pwsm_alpha_0", 0.0, 1.0), ("procrustes_filter", None, 0.5)):
            value = factor * (base + shared)
            if metric == "procrustes_filter" and not world["procrustes_follows"] and e:
                value = 0.1 + 0.05 * rng.random()  # unrelated to the PWSM distance
            rows.append(dict(arch=arch, target=target, seed=seed, layer=layer, epoch=e, cls=cls, metric=metric,
                             alpha=alpha, value=value + (noise * rng.standard_normal() if e else 0.0)))
    return pd.DataFrame(rows)


def _agreement(world: dict, targets: list[str], twin: bool = False) -> pd.DataFrame:
    """Per-filter agreement r's of both pairings: the paper's (per-filter PWSM at α = 0.5) and the authors'
    code's (per-filter CKA); ``twin``: the chance level's table (each source net against its twin, no epochs)."""
    rng = np.random.default_rng(3 if twin else 2)
    return pd.DataFrame([dict(arch=a, target=t, seed=s, layer="l1", cls=c, pairing=p,
                              r=(world["r_twin"] if twin else world[key]) + 0.02 * rng.standard_normal(), n_filters=16,
                              **({} if twin else {"epoch": e}))
                         for p, key in (("pwsm_alpha_0.5", "r"), ("cka", "r_code"))
                         for a in ["vgg_small", "resnet_small"] for t in targets for s in B_SEEDS
                         for e in ([0] if twin else [1, 2]) for c in ["0", "1"]])


CONTRADICT_B = {
    "B-depth (pwsm_alpha_0)": _set(("depth",), [3.0, 2.0, 1.0]),
    "B-depth (procrustes_filter)": _set(("depth",), [3.0, 2.0, 1.0]),
    "B-upward (pwsm_alpha_0)": _set(("epoch",), [0.0, 1.0, 0.8, 0.5]),
    "B-upward (procrustes_filter)": _set(("epoch",), [0.0, 1.0, 0.8, 0.5]),
    "B-similarity": _set(("dissimilar",), 0.5),
    "B-resnet-dissimilar": _set(("resnet_dissimilar",), 1.5),
    "B-awa2-vs-scene": _set(("scene15",), 0.8),
    "B-agreement": _set(("r",), -0.2),  # the two distances run against each other across filters
    "B-agreement-code": _set(("r_code",), -0.2),
    "B-agreement [r > 0.5]": _set(("r",), 0.3),  # positive, but not highly so
    "B-agreement-code [r > 0.5]": _set(("r_code",), 0.3),
    "B-early-dissimilar": _set(("dissimilar_first_epoch",), 0.2),  # at the first checkpoint, dissimilar moved less
    "B-early-dissimilar [first layer]": _set(("early_dissimilar",), 0.3),
    "B-metrics-alike": _set(("procrustes_follows",), False),
    "B-early-slight": _set(("twin",), 0.1),  # the first layer moved further than an unrelated twin stands
    "B-deep-limited": _set(("twin",), 5.0),  # the last layer moved a tenth of the twin's distance
    "B-domain-over-task": _set(("scene15",), 3.0),  # the task change (15-Scene) moved more than the domain change
}
QUALITATIVE_B = {"B-domain-shift"}  # listed with its words, never measured
# A Spearman ρ over three layers saturates at ±1 for every seed: the seeds coincide within each architecture, so the
# exact test flips three values (2^(1-3)) and cannot decide either way — tested on its own below.
SATURATED_B = {"B-depth [last checkpoint, Spearman] (pwsm_alpha_0)",
               "B-depth [last checkpoint, Spearman] (procrustes_filter)"}
OFFLINE = ["fashion_new_classes", "fashion_inverted", "digits"]


def _baseline(world: dict, targets: list[str]) -> pd.DataFrame:
    """Each source net's layers against its independently trained twin: ``world["twin"]`` for PWSM at every layer,
    half of it for the per-filter Procrustes distance (as the dynamics scale them)."""
    return pd.DataFrame([dict(arch=a, target=t, seed=s, layer=layer, metric=m, value=world["twin"] * f)
                         for a in ["vgg_small", "resnet_small", "densenet_small"] for t in targets for s in B_SEEDS
                         for layer in ["l1", "l2", "l3"] for m, f in (("pwsm_alpha_0", 1.0), ("procrustes_filter", 0.5))])


def _b_claims(world: dict, targets: list[str], agreement: bool = True) -> pd.DataFrame:
    tables = (_agreement(world, targets), _agreement(world, targets, twin=True)) if agreement else (None, None)
    return claims.study_b_claims(_dynamics(world, targets), tables[0], agreement_unrelated=tables[1],
                                 baseline=_baseline(world, targets))


PAPER_ONLY = ["B-awa2-vs-scene", "B-domain-over-task"]  # read on the paper's targets (15-Scene, AwA2, Fruits-360)


def _study_b_ledger(world: dict) -> pd.DataFrame:
    offline = _b_claims(world, OFFLINE).set_index("key")
    paper = _b_claims(world, ["awa2", "scene15", "fruits360"], agreement=False).set_index("key")
    return pd.concat([offline.drop(index=PAPER_ONLY), paper.loc[PAPER_ONLY]])


def test_every_study_b_claim_holds_in_a_world_made_to_support_it() -> None:
    ledger = _study_b_ledger(_study_b_world())
    assert set(ledger.index) == set(CONTRADICT_B) | QUALITATIVE_B | SATURATED_B | {"B-feature017-down"}
    saturated = ledger.loc[sorted(SATURATED_B)]
    assert (saturated.verdict == "inconclusive").all() and saturated.no_spread.all() and (saturated.p == 0.25).all()
    qualitative = ledger.loc[sorted(QUALITATIVE_B)]
    assert (qualitative.verdict == "not measured").all() and (qualitative.kind == "qualitative").all()
    ledger = ledger.drop(index=sorted(QUALITATIVE_B | SATURATED_B) + ["B-feature017-down"])  # feature017: below
    assert (ledger.verdict == "holds").all(), ledger.loc[ledger.verdict != "holds", ["value", "ci_low", "ci_high"]]
    # The unit is the source net (3 archs × 3 seeds): a net's fine-tunings on 3 targets are one value, and the
    # architecture is a fixed effect (9 nets − 3 architectures = 6 degrees of freedom).
    assert ledger.loc["B-depth (pwsm_alpha_0)", "n"] == 9 and ledger.loc["B-depth (pwsm_alpha_0)", "df"] == 6
    assert ledger.loc["B-depth (pwsm_alpha_0)", "per_unit"].startswith("vgg_small/s1: ")
    assert ledger.loc["B-resnet-dissimilar", "n"] == 3  # one ResNet source net per seed
    assert ledger.loc["B-agreement", "value"] == pytest.approx(0.9, abs=0.02)  # the paper's statistic: mean r
    assert ledger.loc["B-early-dissimilar [first layer]", "kind"] == "beside"


@pytest.mark.parametrize("key", sorted(CONTRADICT_B))
def test_each_study_b_claim_does_not_hold_where_the_data_contradict_it(key: str) -> None:
    world = _study_b_world()
    CONTRADICT_B[key](world)
    row = _study_b_ledger(world).loc[key]
    assert row.verdict == "does not hold", (row.value, row.ci_low, row.ci_high)


def test_one_source_net_per_architecture_is_untestable() -> None:
    """Three architectures with one seed each: the architecture is a fixed effect, so no degree of freedom is left."""
    world = _study_b_world()
    dynamics = _dynamics(world, OFFLINE)
    row = claims.study_b_claims(dynamics[dynamics.seed == 1]).set_index("key").loc["B-depth (pwsm_alpha_0)"]
    assert row.n == 3 and row.df == 0 and row.verdict == "untestable at this n"
    assert "no interval can be conclusive" in row.note


def test_b_upward_is_a_continuous_statistic_with_spread() -> None:
    """Every layer rises monotonically, so a rank correlation would sit at 1 for every net; the relative rise varies
    between nets and gives a real interval (the epoch profile 0.5, 0.8, 1.0: slope 0.25 per epoch over a span of 2,
    mean 0.767 → +0.652)."""
    row = _study_b_ledger(_study_b_world()).loc["B-upward (pwsm_alpha_0)"]
    assert not row.no_spread and row.ci_low < row.value < row.ci_high and row.scale == "relative change"
    assert row.value == pytest.approx(0.5 / (2.3 / 3), abs=0.02)


def test_residual_rank_correlation_removes_only_the_shared_layer_epoch_pattern() -> None:
    """Two metrics that share only a layer × epoch pattern (independent noise otherwise) correlate strongly when
    pooled, but not once that pattern is taken out; two that also share the targets' effects and the cells' own
    deviations still do — the agreement the sentence speaks of is kept."""
    rng = np.random.default_rng(0)
    cells = pd.DataFrame([dict(target=t, layer=l, epoch=e) for t in "abc" for l in range(4) for e in range(1, 6)])
    trend = cells.layer + 0.5 * cells.epoch
    target_effect = cells.target.map({"a": 0.0, "b": 1.0, "c": 2.0})
    shared = rng.standard_normal(len(cells))
    cells["x"] = trend + 0.3 * rng.standard_normal(len(cells))
    cells["y"] = trend + 0.3 * rng.standard_normal(len(cells))
    from repchange.studies.b.claims import residual_rank_correlation

    assert cells.x.corr(cells.y, method="spearman") > 0.8
    assert abs(residual_rank_correlation(cells, "x", "y", ["layer", "epoch"])) < 0.35
    cells["x2"] = trend + target_effect + 0.3 * shared
    cells["y2"] = trend + target_effect + 0.3 * shared + 0.05 * rng.standard_normal(len(cells))
    assert residual_rank_correlation(cells, "x2", "y2", ["layer", "epoch"]) > 0.8


def test_study_b_claims_a_run_cannot_test_say_so() -> None:
    ledger = claims.study_b_claims(_dynamics(_study_b_world(), ["fashion_coarse", "digits"])).set_index("key")
    assert ledger.loc["B-similarity", "verdict"] == "not measured"
    assert "similar and a dissimilar" in ledger.loc["B-similarity", "note"]
    assert ledger.loc["B-awa2-vs-scene", "verdict"] == "not measured"
    assert ledger.loc["B-agreement", "verdict"] == "not measured"
    assert ledger.loc["B-agreement-code", "verdict"] == "not measured"
    world = _study_b_world()
    no_twins = claims.study_b_claims(_dynamics(world, OFFLINE), _agreement(world, OFFLINE)).set_index("key")
    assert no_twins.loc["B-agreement", "verdict"] == "holds"  # the statistic needs no twin; the note says it is missing
    assert "unrelated filter pairs: not measured" in no_twins.loc["B-agreement", "note"]


@pytest.mark.parametrize("trend, expected", [([0.0, 1.0, 0.8, 0.5], "holds"), ([0.0, 0.5, 0.8, 1.0], "does not hold")])
def test_the_feature017_exception_reads_vgg19_on_fruits(trend: list[float], expected: str) -> None:
    """The paper's feature017 (torchvision VGG19's features[17], conv3_4) on Fruits-360 falls over the epochs; three
    seeds of it give an interval, a rising layer refutes it; without VGG19 on Fruits-360 it is not measured."""
    world = {**_study_b_world(), "epoch": trend}
    dynamics = _dynamics(world, ["fruits360"])
    dynamics = dynamics[dynamics.arch == "vgg_small"].assign(arch="vgg19", layer=lambda f: f.layer.map(
        {"l1": "conv1_2", "l2": "conv3_4", "l3": "conv5_4"}))
    row = claims.study_b_claims(dynamics).set_index("key").loc["B-feature017-down"]
    assert row.n == 3 and row.verdict == expected, (row.value, row.ci_low, row.ci_high)
    offline = _b_claims(_study_b_world(), OFFLINE).set_index("key").loc["B-feature017-down"]
    assert offline.verdict == "not measured" and "VGG19 fine-tuned on Fruits-360" in offline.note


def test_the_domain_claim_reads_the_offline_control_where_it_is_there() -> None:
    """Offline, the domain change (inverted new classes against new classes) against the task change (new classes
    against the held-out source classes): measured only with the held-out control among the targets."""
    world = _study_b_world()
    absent = _b_claims(world, OFFLINE).set_index("key").loc["B-domain-over-task"]
    assert absent.verdict == "not measured" and "fashion_heldout" in absent.note
    row = _b_claims(world, [*OFFLINE, "fashion_heldout"]).set_index("key").loc["B-domain-over-task"]
    assert row.n == 9 and np.isfinite(row.value)


def _full_ledger(a_world: dict | None = None) -> pd.DataFrame:
    world = _study_b_world()
    return claims.ledger(claims.study_a_claims(**_study_a_tables(a_world or _study_a_world()), **STEPS),
                         _b_claims(world, OFFLINE))


def test_the_ledger_counts_verdicts_and_draws_every_measured_claim() -> None:
    frame = _full_ledger()
    tallied = frame.kind.isin(["quote", "reading"])
    assert sum(frame.attrs["counts"].values()) == tallied.sum() == frame.tallied.sum()
    # offline, the paper-only rows and VGG19's feature017 are "not measured" rows; the qualitative one is listed
    assert len(frame) == len(CONTRADICT_A) + len(CONTRADICT_B) + len(QUALITATIVE_B) + len(SATURATED_B) + 1
    assert set(frame.key[~frame.tallied]) >= {"A4-head", "A3-size [all layers]", "B-early-dissimilar [first layer]"}
    fig = claims.fig_ledger(frame, "data: synthetic")
    assert len(fig.axes[0].get_yticklabels()) == (frame.verdict != "not measured").sum()
    fig.canvas.draw()  # the legend sits off the data: below the axes, overlapping no point of them
    renderer = fig.canvas.get_renderer()
    legend, axes = fig.legends[0].get_window_extent(renderer), fig.axes[0].get_window_extent(renderer)
    assert legend.y1 <= axes.y0 and not legend.overlaps(axes)


def test_a_source_nets_fine_tunings_are_averaged_into_one_unit() -> None:
    """B-agreement per source net = the mean over its targets of each run's mean r: the paper's statistic, with the
    twin's agreement on unrelated filter pairs in the note, never subtracted."""
    world = _study_b_world()
    agreement, twin = _agreement(world, OFFLINE), _agreement(world, OFFLINE, twin=True)
    ledger = claims.study_b_claims(_dynamics(world, OFFLINE), agreement, agreement_unrelated=twin).set_index("key")

    def per_net(table: pd.DataFrame) -> pd.Series:
        paper = table[table.pairing == "pwsm_alpha_0.5"]
        return paper.groupby(["arch", "target", "seed"]).r.mean().groupby(["arch", "seed"]).mean()

    fine = per_net(agreement)
    assert ledger.loc["B-agreement", "n"] == len(fine) == 6
    assert ledger.loc["B-agreement", "value"] == pytest.approx(fine.groupby(level="arch").mean().mean())
    assert ledger.loc["B-agreement", "null"] == 0.0 and ledger.loc["B-agreement [r > 0.5]", "null"] == 0.5
    unrelated = per_net(twin).groupby(level="arch").mean()
    assert f"vgg_small {unrelated['vgg_small']:+.3f}" in ledger.loc["B-agreement", "note"]
    assert "context, not a null" in ledger.loc["B-agreement", "note"]


def test_agreement_on_unrelated_filter_pairs_cannot_refute_the_agreement() -> None:
    """Twins whose unrelated filter pairs agree even more (r 0.95 against 0.9) leave "they tend to agree" holding:
    the subtraction the ledger once made read that as a refutation."""
    world = _study_b_world()
    world["r_twin"] = 0.95
    ledger = _b_claims(world, OFFLINE).set_index("key")
    assert ledger.loc["B-agreement", "verdict"] == "holds" and ledger.loc["B-agreement [r > 0.5]", "verdict"] == "holds"
    assert ledger.loc["B-agreement", "estimator_free"] and not ledger.loc["B-similarity", "estimator_free"]


def test_claims_on_random_labels_read_premise_not_met_when_the_run_did_not_memorise() -> None:
    """A2-train-fit does not hold (random labels not fitted): the A3 claims keep their numbers but read
    "premise not met"; when it holds they keep their verdicts."""
    world = _study_a_world()
    CONTRADICT_A["A2-train-fit"](world)
    frame = claims.ledger(claims.study_a_claims(**_study_a_tables(world), **STEPS)).set_index("key")
    premised = ["A3-less-change", "A3-less-change [all layers]", "A3-less-change-early",
                "A3-less-change-early [early layers only]", "A-early-static", "A3-last-layers", "A3-size",
                "A3-size [all layers]", "A3-size-steps", "A4-random-vs-scratch",
                "A4-random-vs-scratch [equal SGD steps]"]  # the scratch side: A2-train-fit's d = 9 runs
    assert frame.loc["A2-train-fit", "verdict"] == "does not hold"
    assert (frame.loc[premised, "verdict"] == "premise not met").all()
    assert (frame.loc[premised, "verdict_unconditional"] == "holds").all()
    assert frame.loc[premised, "note"].str.contains("premise A2-train-fit reads does not hold").all()
    assert (frame.drop(index=premised + ["A2-train-fit"]).verdict == "holds").all()
    clean = claims.ledger(claims.study_a_claims(**_study_a_tables(_study_a_world()), **STEPS)).set_index("key")
    assert (clean.loc[premised, "verdict"] == "holds").all()


def test_a_difference_below_the_smallest_effect_of_interest_reads_negligible() -> None:
    """A consistent but tiny difference (0.002 in CKA, below the 0.01 SESOI) does not hold, as a negligible effect,
    not "holds"; the note says it is real."""
    world = _study_a_world()
    world["degree"][9][:2] = [world["degree"][0][0] + 0.002, world["degree"][0][1] + 0.002]
    row = _a_ledger(world, noise=0.0001).loc["A3-less-change-early [early layers only]"]
    assert row.ci_low > 0 and row.verdict == "does not hold" and row.refuted_as == "negligible"
    assert row.sesoi == pytest.approx(0.05 * np.mean([1 - 0.9, 1 - 0.8]), rel=1e-3)  # 5 % of the early layers' range
    assert "real but below the smallest effect of interest" in row.note


def test_the_verdict_at_three_times_the_sesoi_shows_which_verdicts_depend_on_it() -> None:
    world = _study_a_world()
    world["degree"][9][:2] = [world["degree"][0][0] + 0.02, world["degree"][0][1] + 0.02]  # 2 δ: holds, not at 3 δ
    row = _a_ledger(world, noise=0.0001).loc["A3-less-change-early [early layers only]"]
    assert row.verdict == "holds" and row.verdict_3sesoi == "does not hold"


def test_the_ledger_adds_holm_adjusted_verdicts_over_the_tallied_claims() -> None:
    frame = _full_ledger()
    from statsmodels.stats.multitest import multipletests

    family = frame[frame.tallied & frame.p.notna()]
    adjusted = multipletests(family.p, method="holm")[1]
    for (_, row), p_adj in zip(family.iterrows(), adjusted):
        conclusive = row.verdict in ("holds", "does not hold")
        expected = row.verdict if not conclusive or p_adj < 0.05 else "inconclusive"
        assert row.verdict_holm == expected, row.key
    assert (frame.verdict_holm[~frame.tallied] == "out of tally").all()
    assert sum(frame.attrs["counts_holm"].values()) == frame.tallied.sum()
    for study in ("A", "B"):  # each paper as its own family, beside the pooled one
        family = frame[frame.tallied & (frame.study == study) & frame.p.notna()]
        adjusted = multipletests(family.p, method="holm")[1]
        expected = [v if v not in ("holds", "does not hold") or q < 0.05 else "inconclusive"
                    for v, q in zip(family.verdict, adjusted)]
        assert family.verdict_holm_paper.tolist() == expected


def test_a_saturated_statistic_is_not_printed_as_a_point_interval() -> None:
    """Six units with one value: the exact test decides, and the reader sees "no spread" with its exact p."""
    claim = claims.Claim("X", "B", "Sec. 4.1", "Fig. 2", "quote", "c", "s", "source net", "greater", 0.5, scale="share")
    frame = claims.ledger(pd.DataFrame([claims.assess(claim, pd.Series([1.0] * 6, index=list("abcdef")))]))
    view = claims.ledger_view(frame).iloc[0]
    assert "no spread" in view["effect [95% CI]"] and "[" not in view["effect [95% CI]"]
    assert "the exact sign-flip test decides, p = 0.0312" in frame.note.iloc[0]


def _premise_frame(fit_gaps: list[float]) -> pd.DataFrame:
    """A two-row ledger: A2-train-fit over per-seed fit gaps and one claim that presupposes it."""
    seeds = [f"seed {k}" for k in range(len(fit_gaps))]
    premise = claims.Claim("A2-train-fit", "A", "Sec. 3.2", "Fig. 2", "quote", "fitted", "fit gap", "seed", "greater",
                           -0.05, scale="accuracy difference")
    dependent = claims.Claim("A3-less-change", "A", "Sec. 3.2", "Fig. 3a", "quote", "less change", "CKA gap", "seed",
                             "greater", premise="A2-train-fit")
    return pd.DataFrame([claims.assess(premise, pd.Series(fit_gaps, index=seeds)),
                         claims.assess(dependent, pd.Series([0.1, 0.12, 0.11, 0.1, 0.13][:len(fit_gaps)], index=seeds))])


def test_a_premise_every_unit_of_the_run_meets_is_met_although_its_interval_cannot_say_so() -> None:
    """Five seeds that all fit every random label (gap exactly 0) give no spread: the exact test needs six
    units, so A2-train-fit itself is inconclusive — but these nets did memorise, and the claims measured on
    them keep their verdicts, with a note saying how the premise was met."""
    frame = claims.apply_premises(_premise_frame([0.0] * 5)).set_index("key")
    assert frame.loc["A2-train-fit", "verdict"] == "inconclusive" and frame.loc["A2-train-fit", "every_unit"]
    assert frame.loc["A3-less-change", "verdict"] == "holds"
    assert "every one of this run's 5 units meets it" in frame.loc["A3-less-change", "note"]


def test_a_premise_one_unit_of_the_run_misses_is_not_met_unless_its_claim_holds() -> None:
    missed = claims.apply_premises(_premise_frame([0.0, 0.0, 0.0, 0.0, -0.3])).set_index("key")
    assert missed.loc["A2-train-fit", "verdict"] == "inconclusive" and not missed.loc["A2-train-fit", "every_unit"]
    assert missed.loc["A3-less-change", "verdict"] == "premise not met"
    assert missed.loc["A3-less-change", "verdict_unconditional"] == "holds"
    # the claim holds for the population although one seed misses the tolerance (−0.06): met by the verdict
    held = claims.apply_premises(_premise_frame([0.05, 0.04, 0.05, 0.04, -0.06])).set_index("key")
    assert held.loc["A2-train-fit", "verdict"] == "holds" and not held.loc["A2-train-fit", "every_unit"]
    assert held.loc["A3-less-change", "verdict"] == "holds" and held.loc["A3-less-change", "note"] == ""


def test_each_row_carries_its_verdicts_margin_and_the_findings_name_the_fragile_ones() -> None:
    """A row's margin is verdicts.verdict_margin of its interval, in statistic units and in SEs; the view shows the
    SEs; a row within FRAGILE_SE of a boundary is named fragile, one far from every boundary is not."""
    from repchange.studies import verdicts

    claim = claims.Claim("X", "A", "Sec. 3.2", "Fig. 3", "quote", "c", "s", "seed", "greater")
    near = pd.Series([0.029, 0.04, 0.05], index=["s1", "s2", "s3"])  # low edge just above δ = 0.01: holds, fragile
    far = pd.Series([0.50, 0.51, 0.52], index=["s1", "s2", "s3"])  # every edge far beyond δ: holds, robust
    rows = [claims.assess(claim, near), claims.assess(claims.Claim(**{**claim.__dict__, "key": "Y"}), far)]
    frame = claims.ledger(pd.DataFrame(rows + [claims.not_measured(claims.Claim(**{**claim.__dict__, "key": "Z"}),
                                                                    "no run")]))
    i = verdicts.interval(near, verdicts.SCALES["cka difference"])
    expected = verdicts.verdict_margin(i, "greater", verdicts.SCALES["cka difference"], sesoi=0.01)
    row = frame.set_index("key").loc["X"]
    assert row.verdict == "holds" and row.margin == pytest.approx(expected)
    assert row.margin_se == pytest.approx(expected / i.sem) and row.margin_se < verdicts.FRAGILE_SE
    assert frame.set_index("key").loc["Y"].margin_se > 10 * verdicts.FRAGILE_SE
    assert np.isnan(frame.set_index("key").loc["Z"].margin_se)
    pd.testing.assert_series_equal(claims.ledger_view(frame)["margin (SE)"], frame.margin_se, check_names=False)
    found = claims.findings(frame)
    assert found["keys_fragile"] == ["X"] and found["fragile"] == 1


def test_a_second_reading_that_reverses_a_verdict_is_named_with_both_readings() -> None:
    """A4-random-vs-scratch holds at the end of both runs while at equal SGD steps it does not: the landing page's
    reversals list it with both effects; a metric-suffixed reading (``B-depth [...] (metric)``) finds its row."""
    world = _study_a_world()
    CONTRADICT_A["A4-random-vs-scratch [equal SGD steps]"](world)
    frame = claims.ledger(claims.study_a_claims(**_study_a_tables(world), **STEPS))
    reversed_ = claims.reading_reversals(frame).set_index("key")
    assert list(reversed_.index) == ["A4-random-vs-scratch"]
    row = reversed_.loc["A4-random-vs-scratch"]
    assert (row.reading, row.verdict, row.reading_verdict) == ("equal SGD steps", "holds", "does not hold")
    assert row.effect.startswith("+") and row.reading_effect.startswith("-")
    rows = frame.set_index("key")
    metric_rows = pd.concat([rows.loc[["A4-random-vs-scratch"]].rename(index=lambda k: "B-depth (pwsm_alpha_0)"),
                             rows.loc[["A4-random-vs-scratch [equal SGD steps]"]].rename(
                                 index=lambda k: "B-depth [last checkpoint, Spearman] (pwsm_alpha_0)")])
    found = claims.reading_reversals(metric_rows.reset_index(names="key"))
    assert found[["key", "reading"]].values.tolist() == [["B-depth (pwsm_alpha_0)", "last checkpoint, Spearman"]]


def test_delta_comes_from_the_measures_range_above_chance() -> None:
    """Where unrelated random nets already read CKA 0.99, the early layers' range above chance is 0.01-0.02 and δ is 5 %
    of it: a drop of 0.004 is a change that counts there, though it is below the fixed 0.01 (the fixed-δ verdict stays
    beside). Without a measured chance level of the metric, a row keeps its scale's fixed δ."""
    world = _study_a_world()
    world["chance_pre"][:2] = [0.99, 0.98]
    world["degree"][9][:2] = [world["degree"][0][0] + 0.004, world["degree"][0][1] + 0.004]
    row = _a_ledger(world, noise=0.0001).loc["A3-less-change-early [early layers only]"]
    assert row.sesoi == pytest.approx(0.05 * 0.015, rel=1e-2) and "range above chance" in row.sesoi_basis
    assert row.verdict == "holds" and row.verdict_fixed_delta == "does not hold"
    tables = _study_a_tables(world, noise=0.0001)
    tables["pretraining"] = tables["pretraining"][tables["pretraining"].comparison != "independent_init"]
    tables.pop("finetuning")
    fixed = pd.DataFrame(claims.pretraining_claims(**tables)).set_index("key").loc[
        "A3-less-change-early [early layers only]"]
    assert fixed.sesoi == 0.01 and fixed.sesoi_basis.startswith("fixed") and fixed.verdict == "does not hold"


def test_study_b_delta_is_a_share_of_the_twins_distance() -> None:
    """Study B's distance rows take δ = 5 % of the distance an unrelated twin net stands from the source (0.5 here:
    δ 0.025), the first-layer reading of its first layer; without twins (published nets) the fixed δ."""
    world = _study_b_world()
    ledger = _b_claims(world, OFFLINE).set_index("key")
    assert ledger.loc["B-similarity", "sesoi"] == pytest.approx(0.025)
    assert "independently trained twins" in ledger.loc["B-similarity", "sesoi_basis"]
    assert "first probed layer" in ledger.loc["B-early-dissimilar [first layer]", "sesoi_basis"]
    bare = claims.study_b_claims(_dynamics(world, OFFLINE)).set_index("key")
    assert bare.loc["B-similarity", "sesoi"] == 0.01 and bare.loc["B-similarity", "sesoi_basis"].startswith("fixed")


def test_the_verdicts_at_other_shares_of_the_range_are_read_from_each_rows_interval() -> None:
    """δ scales with the share: an interval [1.5 δ, 3 δ] holds at 2.5 % and 5 % and is inconclusive at 10 % (δ doubled);
    a row with a fixed δ and a premise-not-met row keep their verdicts."""
    base = dict(tallied=True, direction="greater", null=0.0, sesoi=0.01, value=0.02)
    frame = pd.DataFrame([
        dict(base, key="measured", verdict="holds", ci_low=0.015, ci_high=0.03, sesoi_basis="5% of the range above chance"),
        dict(base, key="fixed", verdict="holds", ci_low=0.015, ci_high=0.03, sesoi_basis="fixed: one hundredth"),
        dict(base, key="premise", verdict="premise not met", ci_low=0.015, ci_high=0.03, sesoi_basis="5% of the range"),
    ])
    read = claims.share_sensitivity(frame, [0.025, 0.05, 0.10]).pivot(index="key", columns="share", values="verdict")
    assert read.loc["measured"].tolist() == ["holds", "holds", "inconclusive"]
    assert read.loc["fixed"].tolist() == ["holds"] * 3 and read.loc["premise"].tolist() == ["premise not met"] * 3
