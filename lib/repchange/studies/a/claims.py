"""Study A's claims (Goerttler & Obermayer), one value per seed, from the tables of
:mod:`repchange.studies.a.tables` (or :mod:`repchange.studies.a.estimators` for other estimators).

Every row quotes the paper verbatim at the section it stands in (sections as printed: Fig. 1 in Sec. 3,
Figs. 2–3 in Sec. 3.2, Figs. 4a/b in Sec. 4.1, Fig. 4c in Sec. 4.2, Fig. 5 in Sec. 4.3).

Conventions the statistics share:

- **blocks** are the conv blocks (every probed layer but the logits); **early layers** the first two blocks;
- **Fig. 5's reference** is the paper's: "we compare the representation change of the fine-tuned weights to
  both the random initialization and the representation obtained by the pre-trained weights" (Sec. 4.3) —
  the random init the net's *own* pre-training started from (``pretrain_init``). The authors' code draws a
  fresh net instead (``independent_init``); each Fig. 5 claim is read against it too, in a row beside;
- **across probes**: a row that compares CKA on two probe sets (source-domain and cross-domain fine-tuning,
  or a fine-tuning probe and a pre-training probe) reads each value above its own probe's chance level —
  the CKA two unrelated random inits have on those images (``chance`` / ``independent_init`` at epoch 0) —
  so that a probe on which every pair of nets looks alike does not pass for less change.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pandas as pd

from repchange.studies.verdicts import LEVEL, RANGE_SHARE, range_delta
from repchange.studies.a.finetuning import FinetuneConfig, condition_label
from repchange.studies.a.pretraining import PretrainConfig
from repchange.studies.ledger import Claim, assess, not_measured, with_note

__all__ = ["TRAIN_FIT_TOLERANCE", "FIG5_REFERENCES", "depth_contrast", "fitted_change", "pretraining_claims",
           "reference_dependence", "sgd_steps",
           "study_a_claims", "study_a_steps"]

FLOOR_NOTE = ("both sides read above two unrelated random inits; a trained-net floor for the fine-tuned side (an "
              "independently pre-trained net on the fine-tuning probe) is not measured: the fine-tuning tables hold no "
              "pre-trained twin, so a fine-tuned net that kept only what any trained net shares would count as staying")
STEPS_TOLERANCE = 0.25  # an equal-steps reading needs a measured pre-training epoch this close in SGD steps
TRAIN_FIT_TOLERANCE = 0.05  # "almost as high as": within 5 percentage points of training accuracy
# Fig. 5's reference init: the paper's text (the net's own pre-training init), the authors' code (a fresh net)
FIG5_REFERENCES = {"pretrain_init": "its own pre-training init (the paper's text)",
                   "independent_init": "an independent init (the authors' code)"}
ACROSS_PROBES = " Read above each probe's chance level (CKA on two probe sets)."
_SEC3_DEPTH = "we confirm that the representations of early layers change less than the later ones"
_SEC41_GRADED = "The more random the data is, the more the representation changes."
_SEC42_EARLY = ("The representation change in early layers is larger than when fine-tuned on CIFAR-10 but "
                "significantly less than when fine-tuned on random labels.")
_SEC43_CLOSER = "the final representation is more similar to the pre-trained one than to the initial one"
_SEC43_UNLEARNS = ("The representations obtained after applying the final model to the data are more similar to the "
                   "complete random initialization than to the pre-trained weights on which the fine-tune task started.")
_SEC43_MARGIN = ("the differences between the two similarities are not as far away as when the task is almost the "
                 "same")


def _final_cka(table: pd.DataFrame, comparison: str, metric: str = "cka", epoch: int | None = None) -> pd.DataFrame:
    """Rows of ``comparison`` and ``metric`` at ``epoch`` (None: the table's last epoch)."""
    rows = table[(table.metric == metric) & (table.comparison == comparison)]
    if rows.empty:
        raise ValueError(f"the table has no {metric!r} rows for comparison {comparison!r}; it has metrics "
                         f"{sorted(table.metric.unique())} and comparisons {sorted(table.comparison.unique())}")
    if epoch is None:
        return rows[rows.epoch == rows.epoch.max()]
    if epoch not in set(rows.epoch):
        raise ValueError(f"the table has no epoch {epoch} for comparison {comparison!r}; it has epochs "
                         f"{sorted(rows.epoch.unique())}")
    return rows[rows.epoch == epoch]


def _by_seed_layer(rows: pd.DataFrame) -> pd.DataFrame:
    """seed × layer (columns in the table's layer order) of the mean value."""
    wide = rows.pivot_table(index="seed", columns="layer", values="value", aggfunc="mean")
    return wide[list(dict.fromkeys(rows.layer))]


class Resolution:
    """δ of a similarity row from the measure (:func:`repchange.studies.verdicts.range_delta`): the share of its range
    above chance — 1 − the similarity two unrelated random inits have — averaged over the layers the row reads, on the
    probes it reads: ``"pre"`` (the pre-training probe: the pre-training table's ``independent_init`` at epoch 0),
    ``"same"`` or ``"cross"`` (the fine-tuning probes: the fine-tuning table's ``chance`` rows). Where no chance level
    of the metric is measured, a row keeps its scale's fixed δ."""

    def __init__(self, metric: str, pretraining: pd.DataFrame, finetuning: pd.DataFrame | None = None) -> None:
        def levels(rows: pd.DataFrame) -> dict[str, float]:
            return rows.groupby("layer", sort=False)["value"].mean().to_dict()

        pre = pretraining[(pretraining.metric == metric) & (pretraining.comparison == "independent_init")
                          & (pretraining.epoch == 0)]
        self.chance = {"pre": levels(pre)}
        if finetuning is not None:
            fine = finetuning[(finetuning.metric == metric) & (finetuning.comparison == "chance")
                              & (finetuning.epoch == 0)]
            clean = fine[fine.labels == condition_label(min(finetuning.degree))] if len(fine) else fine
            for domain in ("same", "cross"):
                self.chance[domain] = levels(clean[clean.domain == domain])

    def __call__(self, layers, *probes: str) -> tuple[float, str]:
        layers = [layers] if isinstance(layers, str) else list(layers)
        ranges = [1.0 - self.chance.get(probe, {}).get(layer, np.nan) for probe in probes for layer in layers]
        delta = range_delta(ranges)
        if not np.isfinite(delta):
            return delta, ""
        return delta, (f"{RANGE_SHARE:.0%} of the range above chance, mean 1 − chance = {np.nanmean(ranges):.3f} over "
                       f"{', '.join(layers)} ({', '.join(PROBES[p] for p in probes)})")


PROBES = {"pre": "pre-training probe", "same": "source-domain fine-tuning probe",
          "cross": "cross-domain fine-tuning probe"}


def _claim(metric: str):
    """:class:`Claim` with the similarity's scale as default: mutual k-NN alignment has its own smallest effect of
    interest; the CKA estimators and angular Procrustes (cos θ) share CKA's."""
    return partial(Claim, scale="alignment difference" if metric == "mutual_knn" else "cka difference")


def depth_contrast(init: pd.DataFrame) -> pd.Series:
    """A1-depth's statistic per seed from seed × layer CKA-to-init (columns in depth order, logits last): the mean
    of the early layers (the first two; the first alone where there are only two layers) − the mean of the layers
    after them; > 0: the early layers changed less. A continuous contrast, not the largest step, which is biased
    toward failing with every noisy step."""
    if init.shape[1] < 2:
        raise ValueError(f"the depth contrast needs two or more layers; the table has {list(init.columns)}")
    early = min(2, init.shape[1] - 1)
    return init.iloc[:, :early].mean(axis=1) - init.iloc[:, early:].mean(axis=1)


def fitted_change(values: pd.DataFrame) -> pd.Series:
    """Per row (a seed) of ``values`` (unit × x, numeric columns): the least-squares slope over x times the span of x —
    the fitted change from the smallest x to the largest, a graded trend read from every column at once."""
    x = np.asarray(values.columns, dtype=float)
    centred = x - x.mean()
    slopes = (values.to_numpy(float) - values.to_numpy(float).mean(axis=1, keepdims=True)) @ centred / (centred @ centred)
    return pd.Series(slopes * (x.max() - x.min()), index=values.index)


def _early_by_degree(to_init: pd.DataFrame, early: list[str]) -> pd.DataFrame:
    """seed × degree: the mean CKA-to-init of the ``early`` layers, degrees ascending."""
    rows = to_init[to_init.layer.isin(early)]
    return rows.pivot_table(index="seed", columns="degree", values="value", aggfunc="mean").sort_index(axis=1)


def sgd_steps(size: int | None, epochs: int, batch_size: int) -> int | None:
    """SGD steps of ``epochs`` epochs on ``size`` images in batches of ``batch_size`` (the last one may be
    partial); None when the size is the whole split (not known from the parameters)."""
    return None if size is None else math.ceil(size / batch_size) * epochs


def study_a_steps(finetuning: FinetuneConfig, pretraining: PretrainConfig) -> dict[str, int | None]:
    """The keywords of :func:`study_a_claims` that place its equal-steps reading: one fine-tuning run's SGD steps
    and one pre-training epoch's."""
    return dict(finetune_steps=sgd_steps(finetuning.train_size, finetuning.epochs, finetuning.optimiser.batch_size),
                pretrain_steps_per_epoch=sgd_steps(pretraining.train_size, 1, pretraining.optimiser.batch_size))


def study_a_claims(*, pretraining: pd.DataFrame, histories: pd.DataFrame, degrees: pd.DataFrame,
                   sizes: pd.DataFrame, finetuning: pd.DataFrame, num_classes: int = 10,
                   level: float = LEVEL, metric: str = "cka", finetune_steps: int | None = None,
                   pretrain_steps_per_epoch: int | None = None) -> pd.DataFrame:
    """The ledger rows of Study A from the tables of Figures 1 (``cka_to_init``), 2 (``training_histories``),
    3a (``degree_sweep``), 3b (``size_sweep``) and 4–5 (``finetune_sweep``), at the last epoch; ``metric``
    is the similarity read from the tables' metric column (default: biased CKA, the paper's estimator).
    ``finetune_steps`` (SGD steps of one fine-tuning run) and ``pretrain_steps_per_epoch`` place the
    equal-steps reading of A4-random-vs-scratch; without them that row is not measured."""
    rows = pretraining_claims(pretraining=pretraining, histories=histories, degrees=degrees, sizes=sizes,
                              level=level, metric=metric)
    rows += _finetuning_claims(finetuning, pretraining, degrees, level, metric, finetune_steps,
                               pretrain_steps_per_epoch)
    return pd.DataFrame(rows)


def pretraining_claims(*, pretraining: pd.DataFrame, histories: pd.DataFrame, degrees: pd.DataFrame,
                       sizes: pd.DataFrame, epoch: int | None = None, level: float = LEVEL,
                       metric: str = "cka") -> list[dict]:
    """Study A's claims about pre-training (A1, A2, A3) from the tables of Figures 1, 2, 3a and 3b, read at
    pre-training ``epoch`` (None: each table's last). The learning rate is constant and epoch ``e``'s
    batches depend on the seed and ``e`` alone, so a run's net at epoch ``e`` *is* the net an ``e``-epoch
    run ends with: reading the claims at ``e`` is the ledger of an ``e``-epoch training budget.
    Training fit is ``fit_acc``: the net after the epoch, in eval mode, on its training images."""
    claim = _claim(metric)
    rows = []
    init = _by_seed_layer(_final_cka(pretraining, "init", metric, epoch))
    last = init.columns[-1]
    blocks = [c for c in init.columns if c != last]
    early = blocks[:2]
    every = list(init.columns)
    delta = Resolution(metric, pretraining)
    depth = claim(
        "A1-depth", "A", "Sec. 3", "Fig. 1", _SEC3_DEPTH,
        "During pre-training, the early layers stay more similar to their initialisation than the later ones.",
        f"mean CKA-to-init of the early layers {early} − mean of the later layers {list(init.columns[2:])} at the "
        "epoch read", "seed", "greater")
    rows.append(assess(depth, depth_contrast(init), level, delta=delta(every, "pre")))
    rows.append(assess(_beside(depth, "every step", "largest change of CKA-to-init from one layer to the next at the "
                                                    "epoch read (falls at every step: < 0)", direction="less"),
                       init.diff(axis=1).iloc[:, 1:].max(axis=1), level, delta=delta(every, "pre")))
    rows.append(assess(claim(
        "A1-output", "A", "Sec. 3", "Fig. 1", _SEC3_DEPTH, "The output layer moves furthest from its "
        "initialisation (a reading of Fig. 1).", f"lowest CKA-to-init among the blocks − CKA-to-init of {last}",
        "seed", "greater", kind="reading"), init[blocks].min(axis=1) - init[last], level, delta=delta(every, "pre")))

    at = histories.epoch.max() if epoch is None else epoch
    if at not in set(histories.epoch):
        raise ValueError(f"the training histories have no epoch {at}; they have {sorted(histories.epoch.unique())}")
    final = histories[histories.epoch == at]
    by_degree = final.pivot_table(index="seed", columns="degree", values=["fit_acc", "test_acc"])
    d_lo, d_hi = min(histories.degree), max(histories.degree)
    rows.append(assess(claim(
        "A2-train-fit", "A", "Sec. 3.2", "Fig. 2b", "if the models are trained long enough, the training accuracy in "
        "the experiments on the randomized data is almost as high as when trained on the randomized data",
        "Training accuracy on random labels is almost as high as on clean labels (the sentence names the randomized "
        "data twice; Fig. 2b compares with the clean labels).",
        f"training accuracy (eval mode, after the epoch) at d={d_hi} − at d={d_lo}; holds above "
        f"−{TRAIN_FIT_TOLERANCE:.2f} (our tolerance for “almost as high”)", "seed", "greater", -TRAIN_FIT_TOLERANCE,
        scale="accuracy difference", estimator_free=True), by_degree["fit_acc"][d_hi] - by_degree["fit_acc"][d_lo],
        level))
    test = by_degree["test_acc"][sorted(by_degree["test_acc"].columns)]
    rows.append(assess(claim(
        "A2-test-falls", "A", "Sec. 3.2", "Fig. 2c", "we depict the test accuracy in Figure 2(c), which of course, "
        "only learns something when there is structure", "The more random the labels, the lower the test accuracy — "
        "at every step of d (a reading of Fig. 2c).",
        f"largest change of test accuracy between consecutive degrees {list(test.columns)} (all steps down: < 0)",
        "seed", "less", scale="accuracy difference", kind="reading", estimator_free=True),
        test.diff(axis=1).iloc[:, 1:].max(axis=1) if test.shape[1] > 1 else pd.Series(dtype=float), level=level))

    # Every net starts at the same loss (random init: ≈ ln 10 whatever the labels), so "decreases slower" means the
    # random-label curve runs above the clean one: the mean gap over epochs 1..budget.
    curves = histories[(histories.epoch >= 1) & (histories.epoch <= at)].pivot_table(
        index=["seed", "epoch"], columns="degree", values="train_loss")
    gap = (curves[d_hi] - curves[d_lo]).groupby(level="seed").mean()
    rows.append(assess(claim(
        "A2-loss-slower", "A", "Sec. 3.2", "Fig. 2a", "if the data is more random and therefore has less structure, "
        "the loss decreases slower", "With more random labels the training loss falls more slowly.",
        f"mean over epochs 1..{at} of the training loss at d={d_hi} − at d={d_lo} (both start at the init's loss, so "
        "a slower fall is a curve above)", "seed", "greater", scale="loss difference", estimator_free=True), gap,
        level))

    to_init = _final_cka(degrees, "init", metric, epoch)
    lo = _by_seed_layer(to_init[to_init.degree == d_lo])
    hi = _by_seed_layer(to_init[to_init.degree == d_hi])
    less_change = claim(
        "A3-less-change", "A", "Sec. 3.2", "Fig. 3a", "if the structure in the data decreases, there is less "
        "similarity change overall", "With random labels the conv blocks move less from their init than with clean "
        "labels (memorisation lives in the last layer, the same paragraph says, so the logits are left out).",
        f"block-mean CKA-to-init ({', '.join(blocks)}) at d={d_hi} − at d={d_lo}", "seed", "greater",
        premise="A2-train-fit")
    rows.append(assess(less_change, hi[blocks].mean(axis=1) - lo[blocks].mean(axis=1), level,
                       delta=delta(blocks, "pre")))
    rows.append(assess(_beside(less_change, "all layers", f"layer-mean CKA-to-init (all layers, logits included) at "
                                                         f"d={d_hi} − at d={d_lo}"),
                       hi.mean(axis=1) - lo.mean(axis=1), level, delta=delta(every, "pre")))
    later = [c for c in blocks if c not in early]
    especially = claim(
        "A3-less-change-early", "A", "Sec. 3.2", "Fig. 3a", "there is less similarity change overall and especially "
        "in the early layers", "Random labels reduce the change from the init more in the early layers than in the "
        "later blocks.", f"[CKA-to-init at d={d_hi} − at d={d_lo}] of the early layers {early} − the same of the later "
        f"blocks {later} (the logits, where memorisation lives, left out)", "seed", "greater", premise="A2-train-fit")
    rows.append(assess(especially, (hi - lo)[early].mean(axis=1) - (hi - lo)[later].mean(axis=1), level,
                       delta=delta(blocks, "pre")))
    rows.append(assess(_beside(especially, "early layers only", f"mean CKA-to-init of the early layers {early} at "
                                                                f"d={d_hi} − at d={d_lo}"),
                       hi[early].mean(axis=1) - lo[early].mean(axis=1), level, delta=delta(early, "pre")))
    rows.append(assess(claim(
        "A3-structure-early", "A", "Sec. 3.2", "Fig. 3a", "the clearer the structure is in the training set, the more "
        "the earlier layers are used", "The less random the labels, the further the early layers move from their "
        "init in pre-training.", f"least-squares slope of the early layers' {early} mean CKA-to-init over the label "
        "degree d × the span of d (the fitted rise from the clearest to the most random labels; > 0: clearer "
        "structure, more change)", "seed", "greater"),
        fitted_change(_early_by_degree(to_init, early)), level, delta=delta(early, "pre")))
    rows.append(assess(claim(
        "A-early-static", "A", "Sec. 5", "Figs. 1, 3a", "Early layers do not change.", "Pre-trained on fully random "
        "labels (memorisation, the sentence's context), the early layers stay at their init: CKA-to-init within ±δ "
        "of 1.", f"mean CKA-to-init of the early layers {early} at d={d_hi} − 1; a claim of no effect: holds when the "
        "interval lies within ± δ", "seed", "negligible", premise="A2-train-fit"), hi[early].mean(axis=1) - 1.0, level,
        delta=delta(early, "pre")))
    extra = lo - hi  # how much further random labels move each layer
    rows.append(assess(claim(
        "A3-last-layers", "A", "Sec. 3.2", "Fig. 3a", "we conclude that memorization is mainly happening in the last "
        "layer", "Memorising random labels is carried mainly by the last layer.",
        f"[CKA(d={d_lo}) − CKA(d={d_hi})] of {last} − the largest of the same among the blocks {blocks}", "seed",
        "greater", premise="A2-train-fit"), extra[last] - extra[blocks].max(axis=1), level, delta=delta(every, "pre")))

    matched = sizes.equal_steps.astype(bool) if "equal_steps" in sizes else pd.Series(False, index=sizes.index)
    by_size = _final_cka(sizes[~matched], "init", metric, epoch)
    small, large = min(by_size.train_size), max(by_size.train_size)
    small_cka = _by_seed_layer(by_size[by_size.train_size == small])
    large_cka = _by_seed_layer(by_size[by_size.train_size == large])
    size_claim = claim(
        "A3-size", "A", "Sec. 3.2", "Fig. 3b", "The more data we have, the more are also earlier layers used.",
        "The more randomly labelled images, the further the conv blocks move from their init.",
        f"block-mean CKA-to-init with {small} − with {large} images", "seed", "greater", premise="A2-train-fit")
    rows.append(assess(size_claim, small_cka[blocks].mean(axis=1) - large_cka[blocks].mean(axis=1), level,
                       delta=delta(blocks, "pre")))
    rows.append(assess(_beside(size_claim, "all layers", f"layer-mean CKA-to-init (all layers) with {small} − with "
                                                        f"{large} images"),
                       small_cka.mean(axis=1) - large_cka.mean(axis=1), level, delta=delta(every, "pre")))

    # Fig. 3b at equal epochs gives the small set fewer SGD steps, which alone moves layers less: held equal here.
    steps_claim = claim(
        "A3-size-steps", "A", "Sec. 3.2", "Fig. 3b", "if there are only a few samples, memorization does not need "
        "anything else than the last layer", "With few images, memorising leaves the layers before the last near "
        "their init — with the number of SGD steps held equal across sizes.",
        f"mean CKA-to-init of the layers before {last} with {small} images trained for as many steps as {large} take − "
        f"the same with {large} images", "seed", "greater", premise="A2-train-fit")
    steps = sizes[matched & (sizes.train_size == small)]
    if steps.empty:
        rows.append(not_measured(steps_claim, "no equal-steps run of the smallest size (a single size, or equal_steps off)"))
    elif epoch is not None and epoch != sizes[~matched].epoch.max():
        rows.append(not_measured(steps_claim, f"the equal-steps run is measured at the last budget only, not at epoch {epoch}"))
    else:
        matched_cka = _by_seed_layer(_final_cka(steps, "init", metric))
        rows.append(assess(steps_claim, matched_cka[blocks].mean(axis=1) - large_cka[blocks].mean(axis=1), level,
                           delta=delta(blocks, "pre")))
    return rows


def _beside(claim: Claim, reading: str, statistic: str, **changes: object) -> Claim:
    """A second reading of ``claim`` (key ``"<key> [<reading>]"``), shown beside it and out of the tally."""
    fields = {**claim.__dict__, "key": f"{claim.key} [{reading}]", "statistic": statistic, "kind": "beside",
              "claim": f"{claim.claim} Read with {reading}.", **changes}
    return Claim(**fields)


def _finetuning_claims(table: pd.DataFrame, pretraining: pd.DataFrame, degrees: pd.DataFrame, level: float,
                       metric: str, finetune_steps: int | None, pretrain_steps_per_epoch: int | None) -> list[dict]:
    claim = _claim(metric)
    d_lo, d_hi = min(table.degree), max(table.degree)
    clean_label, random_label = condition_label(d_lo), condition_label(d_hi)
    shift_labels = sorted(lab for lab in table.labels.unique() if str(lab).startswith("shift"))

    def wide(domain: str, labels: str, comparison: str = "pretrained") -> pd.DataFrame:
        rows = _final_cka(table, comparison, metric)
        return _by_seed_layer(rows[(rows.domain == domain) & (rows.labels == labels)])

    def chance(domain: str) -> pd.DataFrame:
        """seed × layer: two unrelated random inits on the domain's fine-tuning probe (the clean condition's)."""
        rows = _final_cka(table, "chance", metric, epoch=0)
        return _by_seed_layer(rows[(rows.domain == domain) & (rows.labels == clean_label)])

    clean, random_ = wide("same", clean_label), wide("same", random_label)
    cross, cross_random = wide("cross", clean_label), wide("cross", random_label)
    layers = list(clean.columns)
    penultimate, last = layers[-2], layers[-1]
    early = layers[:2]
    clean_x, random_x = clean - chance("same"), random_ - chance("same")  # above each probe's chance level
    cross_x = cross - chance("cross")
    delta = Resolution(metric, pretraining, table)

    rows = [
        assess(claim("A4-head", "A", "Abstract", "Fig. 4a", "Representation similarity analysis shows that the most "
                     "significant change still occurs in the head even if all weights are updatable.",
                     "Fine-tuning (all weights trainable) changes the head most — the abstract's summary of prior "
                     "work, not a result the paper reports.",
                     f"lowest CKA-to-pre-trained among the blocks − that of {last} (source domain, {clean_label})",
                     "seed", "greater", kind="prior work"), clean.drop(columns=[last]).min(axis=1) - clean[last], level,
               delta=delta(layers, "same")),
        assess(claim("A4-random", "A", "Sec. 4.1", "Fig. 4a", _SEC41_GRADED, "Random labels change the fine-tuned net "
                     "more than clean labels.", f"layer-mean CKA-to-pre-trained: {clean_label} − {random_label} "
                     "(source domain)", "seed", "greater"), clean.mean(axis=1) - random_.mean(axis=1), level,
               delta=delta(layers, "same")),
        assess(claim("A4b-random-cross", "A", "Sec. 4.1", "Fig. 4b", "But also here, the same is observed, and the more "
                     "randomness, the more change in representation.", "On the cross domain too, random labels change "
                     "the net more than clean labels.", f"layer-mean CKA-to-pre-trained, cross domain: {clean_label} − "
                     f"{random_label}", "seed", "greater"), cross.mean(axis=1) - cross_random.mean(axis=1), level,
               delta=delta(layers, "cross")),
        assess(claim("A4c-cross-vs-clean", "A", "Sec. 4.2", "Fig. 4c", _SEC42_EARLY, "The early layers change more under "
                     "cross-domain fine-tuning than with clean labels …" + ACROSS_PROBES,
                     f"mean CKA-to-pre-trained above chance of {early}: same-domain {clean_label} − cross domain "
                     f"{clean_label}", "seed", "greater"),
               clean_x[early].mean(axis=1) - cross_x[early].mean(axis=1), level, delta=delta(early, "same", "cross")),
        assess(claim("A4c-cross-vs-random", "A", "Sec. 4.2", "Fig. 4c", _SEC42_EARLY, "… and less than with random "
                     "labels." + ACROSS_PROBES, f"mean CKA-to-pre-trained above chance of {early}: cross domain "
                     f"{clean_label} − same-domain {random_label}", "seed", "greater"),
               cross_x[early].mean(axis=1) - random_x[early].mean(axis=1), level, delta=delta(early, "same", "cross")),
    ]
    rows += _random_vs_scratch(random_x, pretraining, degrees, metric, level, finetune_steps, pretrain_steps_per_epoch,
                               delta(layers, "same", "pre"))

    shift_claims = [
        (claim("A-cross-early", "A", "Sec. 5", "Fig. 4c", "When solving cross-domain tasks, the earlier layers have to "
               "change more than when solving domain tasks to adapt better to the new input data.",
               "The early layers change more under cross-domain fine-tuning than under a domain task (shifted "
               "labels)." + ACROSS_PROBES, f"mean CKA-to-pre-trained above chance of {early}: shifted labels (source "
               f"domain) − cross domain ({clean_label})", "seed", "greater"),
         lambda shift_x: shift_x[early].mean(axis=1) - cross_x[early].mean(axis=1), delta(early, "same", "cross")),
        (claim("A4c-shift-vs-clean", "A", "Sec. 4.2", "Fig. 4c", _SEC42_EARLY, "The early layers change more under a "
               "domain task (shifted labels) than with clean labels …", f"mean CKA-to-pre-trained of {early}: "
               f"{clean_label} − shifted labels (source domain)", "seed", "greater"),
         lambda shift_x: clean_x[early].mean(axis=1) - shift_x[early].mean(axis=1), delta(early, "same")),
        (claim("A4c-shift-vs-random", "A", "Sec. 4.2", "Fig. 4c", _SEC42_EARLY, "… and less than with random labels.",
               f"mean CKA-to-pre-trained of {early}: shifted labels − {random_label} (source domain)", "seed",
               "greater"), lambda shift_x: shift_x[early].mean(axis=1) - random_x[early].mean(axis=1),
         delta(early, "same")),
        (claim("A4c-penultimate", "A", "Sec. 4.2", "Fig. 4c", "Compared to domain adaption, a cross-domain adaptation "
               "relies more on change in the penultimate layer", "The penultimate layer changes more under cross-domain "
               "fine-tuning than under a domain task." + ACROSS_PROBES, f"CKA-to-pre-trained above chance of "
               f"{penultimate}: shifted labels (source domain) − cross domain ({clean_label})", "seed", "greater"),
         lambda shift_x: shift_x[penultimate] - cross_x[penultimate], delta(penultimate, "same", "cross")),
    ]
    if shift_labels:
        shifted = wide("same", shift_labels[0])
        rows += [assess(claim, statistic(shifted - chance("same")), level, delta=d) for claim, statistic, d in
                 shift_claims]
    else:
        rows += [not_measured(claim, "no shifted-label condition in this run") for claim, _, _ in shift_claims]
    for domain, figure, quote in (("same", "Fig. 4a", _SEC41_GRADED),
                                  ("cross", "Fig. 4b", "the more randomness, the more change in representation")):
        graded = claim(f"A4-graded ({domain})", "A", "Sec. 4.1", figure, quote, "The more random the labels, the more "
                       "the representation changes.",
                       f"least-squares slope of layer-mean CKA-to-pre-trained over the label degree d × the span of d "
                       f"({domain} domain; the fitted change from the cleanest to the most random labels, < 0: falls)",
                       "seed", "less")
        every_step = _beside(graded, "every step", f"largest change of layer-mean CKA-to-pre-trained between "
                                                   f"consecutive degrees ({domain} domain; all steps down: < 0)")
        steps_d = sorted(table.degree[table.labels.str.startswith(("clean", "random"))].unique())
        if len(steps_d) < 3:
            why = f"needs three or more label degrees; this run has {steps_d}"
            rows += [not_measured(graded, why), not_measured(every_step, why)]
            continue
        means = pd.concat({d: wide(domain, condition_label(d)).mean(axis=1) for d in steps_d}, axis=1)
        rows.append(assess(graded, fitted_change(means), level, delta=delta(layers, domain)))
        rows.append(assess(every_step, means.diff(axis=1).iloc[:, 1:].max(axis=1), level, delta=delta(layers, domain)))
    rows.append(assess(claim(
        "A4-clean-early", "A", "Sec. 4.1", "Fig. 4a", "It makes sense that for non-random labels, hardly … anything "
        "changes in early layers", "With clean labels the early layers hardly change.",
        f"mean CKA-to-pre-trained of {early} − 1 ({clean_label}, source domain); a claim of no effect: holds when the "
        "interval lies within ± δ", "seed", "negligible"), clean[early].mean(axis=1) - 1.0, level,
        delta=delta(early, "same")))
    rows += _fig5_claims(wide, clean, random_, cross, shift_labels, clean_label, random_label, early, penultimate,
                         last, level, metric, delta)
    return rows


def _random_vs_scratch(random_x: pd.DataFrame, pretraining: pd.DataFrame, degrees: pd.DataFrame, metric: str,
                       level: float, finetune_steps: int | None, pretrain_steps_per_epoch: int | None,
                       delta: tuple[float, str] | None = None) -> list[dict]:
    """Sec. 4.1's "complete random experiment": CKA to the starting net after fine-tuning the pre-trained net on
    fully random labels (Fig. 4a, d = D − 1) against CKA to the init after training from random weights on fully
    random labels (Fig. 3a), each above its own probe's chance level; at the end of both runs, and with the
    pre-training read at the budget closest to the fine-tuning's number of SGD steps."""
    d_hi = max(degrees.degree)
    claim = _claim(metric)("A4-random-vs-scratch", "A", "Sec. 4.1", "Figs. 4a, 3a", "Interestingly the representation from the "
                  "complete random experiment is higher than when it was trained on random weights.",
                  "Fine-tuned on fully random labels, the pre-trained net stays more similar to where it started than "
                  "a net trained from random weights on fully random labels does." + ACROSS_PROBES,
                  f"layer-mean CKA above chance: fine-tuned (d={d_hi}) to the pre-trained net − pre-trained from "
                  f"random weights (d={d_hi}) to its init, both at the end of their runs", "seed", "greater",
                  premise="A2-train-fit")  # the scratch side is A2-train-fit's d = D − 1 runs: were they fitted?
    scratch = _final_cka(degrees[degrees.degree == d_hi], "init", metric)
    chance_pre = _by_seed_layer(_final_cka(pretraining, "independent_init", metric, epoch=0))
    finetuned = random_x.mean(axis=1)
    rows = [assess(claim, finetuned - (_by_seed_layer(scratch) - chance_pre).mean(axis=1), level, delta=delta)]
    with_note(rows[0], FLOOR_NOTE)
    epochs = sorted(set(degrees[(degrees.degree == d_hi) & (degrees.comparison == "init")].epoch) - {0})
    steps = _beside(claim, "equal SGD steps", "the same, with the pre-training read at the measured epoch whose SGD "
                    "steps are closest to one fine-tuning run's")
    if finetune_steps is None or pretrain_steps_per_epoch is None or not epochs:
        rows.append(not_measured(steps, "the runs' SGD steps were not given (the whole split as pre-training set)"))
        return rows
    at = min(epochs, key=lambda e: abs(e * pretrain_steps_per_epoch - finetune_steps))
    if abs(at * pretrain_steps_per_epoch - finetune_steps) > STEPS_TOLERANCE * finetune_steps:
        rows.append(not_measured(steps, f"no pre-training epoch was measured within {STEPS_TOLERANCE:.0%} of the "
                                        f"{finetune_steps} fine-tuning steps (measured: epochs {epochs})"))
        return rows
    early_scratch = _by_seed_layer(_final_cka(degrees[degrees.degree == d_hi], "init", metric, epoch=at))
    row = assess(steps, finetuned - (early_scratch - chance_pre).mean(axis=1), level, delta=delta)
    return rows + [with_note(row, f"pre-training read at epoch {at} ({at * pretrain_steps_per_epoch} steps) against "
                                  f"{finetune_steps} fine-tuning steps")]


def _fig5_claims(wide, clean: pd.DataFrame, random_: pd.DataFrame, cross: pd.DataFrame, shift_labels: list[str],
                 clean_label: str, random_label: str, early: list[str], penultimate: str, last: str,
                 level: float, metric: str, delta: Resolution | None = None) -> list[dict]:
    """Fig. 5 (Sec. 4.3) against the paper's reference init, each with the authors' code's beside it."""
    claim = _claim(metric)
    shifted = wide("same", shift_labels[0]) if shift_labels else None

    def margin(frame: pd.DataFrame, domain: str, labels: str, reference: str) -> pd.Series:
        """layer-mean CKA to the pre-trained net − to ``reference`` (same probe: chance cancels)"""
        return frame.mean(axis=1) - wide(domain, labels, reference).mean(axis=1)

    def claims_against(reference: str) -> list[tuple[Claim, object]]:
        ref = FIG5_REFERENCES[reference]
        out = [
            (claim("A5-closer", "A", "Sec. 4.3", "Fig. 5a", "the fine-tuned representations are closer to the "
                   "pre-trained than to the pre-initialized one", "With clean labels, fine-tuned layers stay closer "
                   "to the pre-trained net than to the random init.", f"layer-mean CKA to the pre-trained net − to "
                   f"{ref} ({clean_label})", "seed", "greater"),
             lambda: margin(clean, "same", clean_label, reference)),
            (claim("A5c-closer-shift", "A", "Sec. 4.3", "Fig. 5c", _SEC43_CLOSER, "After fine-tuning on a domain task "
                   "(shifted labels) the net is still closer to the pre-trained net than to the random init.",
                   f"layer-mean CKA to the pre-trained net − to {ref} (shifted labels)", "seed", "greater"),
             None if shifted is None else lambda: margin(shifted, "same", shift_labels[0], reference)),
            (claim("A5c-margin-shift", "A", "Sec. 4.3", "Figs. 5a, 5c", _SEC43_MARGIN, "… with a smaller margin than "
                   "on the same task.", f"margin ({clean_label}) − margin (shifted labels); margin = layer-mean CKA to "
                   f"the pre-trained net − to {ref}", "seed", "greater"),
             None if shifted is None else
             lambda: margin(clean, "same", clean_label, reference) - margin(shifted, "same", shift_labels[0], reference)),
            (claim("A5d-closer-cross", "A", "Sec. 4.3", "Fig. 5d", _SEC43_CLOSER, "After cross-domain fine-tuning the "
                   "net is still closer to the pre-trained net than to the random init.", "layer-mean CKA to the "
                   f"pre-trained net − to {ref} (cross domain, {clean_label})", "seed", "greater"),
             lambda: margin(cross, "cross", clean_label, reference)),
            (claim("A5d-margin-cross", "A", "Sec. 4.3", "Figs. 5a, 5d", _SEC43_MARGIN, "… with a smaller margin than on "
                   "the same task (each margin is a difference on one probe, so the probes' chance levels cancel).",
                   f"margin (same domain) − margin (cross domain), both {clean_label}; margin against {ref}", "seed",
                   "greater"),
             lambda: margin(clean, "same", clean_label, reference) - margin(cross, "cross", clean_label, reference)),
        ]
        out.append((claim(
            "A5b-random-unlearns", "A", "Sec. 4.3", "Fig. 5b", _SEC43_UNLEARNS, "Under random labels the "
            "representation ends up more similar to the random init than to the pre-trained net.",
            f"layer-mean CKA to the pre-trained net − to {ref} ({random_label}; the sentence names no layer)", "seed",
            "less"), lambda: margin(random_, "same", random_label, reference)))
        return out

    layers = list(clean.columns)
    delta = delta or (lambda *_: None)
    probes = {"A5d-closer-cross": ("cross",), "A5d-margin-cross": ("same", "cross")}  # the others: the source probe
    rows = []
    for (paper, statistic), (other, other_statistic) in zip(claims_against("pretrain_init"),
                                                            claims_against("independent_init")):
        beside = _beside(other, "independent init", other.statistic)
        if statistic is None:
            rows += [not_measured(paper, "no shifted-label condition in this run"),
                     not_measured(beside, "no shifted-label condition in this run")]
            continue
        d = delta(layers, *probes.get(paper.key, ("same",)))
        rows += [assess(paper, statistic(), level, delta=d), assess(beside, other_statistic(), level, delta=d)]
    unlearns = next(c for c, _ in claims_against("pretrain_init") if c.key == "A5b-random-unlearns")
    own = wide("same", random_label, "pretrain_init")
    for layer in (penultimate, last):  # Fig. 5b's layers, one by one: readings beside the layer mean
        rows.append(assess(_beside(unlearns, layer, f"CKA of {layer} to the pre-trained net − to "
                                                    f"{FIG5_REFERENCES['pretrain_init']} ({random_label})"),
                           random_[layer] - own[layer], level, delta=delta(layer, "same")))
    rows.append(assess(claim(
        "A5b-random-early", "A", "Sec. 5", "Fig. 5b", "if memorization is learned on a pre-trained model, it *unlearns* "
        "the structure and changes the early representation", "Fine-tuning on random labels changes the early "
        "layers more than fine-tuning on clean labels.", f"mean CKA-to-pre-trained of {early}: {random_label} − "
        f"{clean_label} (source domain)", "seed", "less"),
        random_[early].mean(axis=1) - clean[early].mean(axis=1), level, delta=delta(early, "same")))
    return rows


def reference_dependence(frame: pd.DataFrame) -> pd.DataFrame:
    """The Fig. 5 claims whose verdict depends on the reference init: key, verdict against the paper's reference,
    verdict against an independent init (rows of a ledger; empty when none differ)."""
    beside = frame[frame.key.str.endswith(" [independent init]")]
    main = frame.set_index("key").verdict
    out = pd.DataFrame({"key": [k.removesuffix(" [independent init]") for k in beside.key],
                        "own init (the paper's text)": [main.get(k.removesuffix(" [independent init]"), np.nan)
                                                        for k in beside.key],
                        "independent init (the authors' code)": list(beside.verdict)})
    return out[out.iloc[:, 1] != out.iloc[:, 2]].reset_index(drop=True)
