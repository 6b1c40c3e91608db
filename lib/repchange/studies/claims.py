"""The claims ledger: each claim of the two papers, the statistic that tests it, its interval and verdict.

A claim is tested on independent *units*: a seed for Study A (each seed pre-trains and fine-tunes its
own nets), a **source net** (architecture × seed) for Study B — the fine-tunings of one source net on
several targets share it, so they are averaged into one value before any interval. Each unit gives one
value of the claim's statistic (a difference, a rank correlation, …); the verdict comes from
:mod:`repchange.core.verdicts` (the one rule the chapters use too): a range-respecting t interval, a
smallest effect of interest per family of statistics, and a Holm-adjusted verdict beside the unadjusted
one (:func:`ledger`). A claim that presupposes what the run's own numbers show did not happen (random
labels memorised, :data:`PREMISES`) reads **premise not met**, whatever its statistic says.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from repchange.core import verdicts
from repchange.core.metrics import pwsm_key
from repchange.core.verdicts import DIRECTIONS, LEVEL, SCALES
from repchange.studies import paper_numbers
from repchange.studies.a.finetuning import condition_label
from repchange.studies.b import analysis

__all__ = ["Claim", "LEVEL", "PREMISES", "SIMILARITY_TO_SOURCE", "VERDICT_COLOURS", "apply_premises", "assess",
           "fig_ledger", "ledger", "ledger_details", "ledger_view", "not_measured", "pretraining_claims",
           "study_a_claims", "study_b_claims"]

# Study B: how far each target lies from its source (the paper: Fruits-360 is the dissimilar one).
SIMILARITY_TO_SOURCE = {
    "fashion_new_classes": "similar", "fashion_inverted": "dissimilar", "digits": "dissimilar",
    "fashion_heldout": "same task", "fashion_coarse": "related",
    "scene15": "similar", "awa2": "similar", "fruits360": "dissimilar",
}
# What a claim presupposes, as the key of the ledger row that measures it: the premise is met only where
# that row holds. Study A's claims about nets pre-trained on random labels presuppose that those labels
# were fitted ("if the models are trained long enough", Sec. 4.1), which A2-train-fit measures.
PREMISES = {"A2-train-fit": "random labels memorised: training accuracy at the most random degree almost as high "
                            "as with clean labels (A2-train-fit holds)"}


@dataclass(frozen=True)
class Claim:
    """One claim: where the paper makes it, what is computed per unit, which side of ``null`` it predicts,
    the :data:`~repchange.core.verdicts.SCALES` family of its statistic and, optionally, the ledger key
    of the claim it presupposes (``premise``)."""

    key: str
    study: str
    figure: str
    claim: str
    statistic: str
    unit: str
    direction: str  # "greater" | "less" (than null) | "negligible" (no effect beyond the SESOI)
    null: float = 0.0
    scale: str = "cka difference"
    premise: str | None = None

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {self.direction!r}")
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {sorted(SCALES)}, got {self.scale!r}")
        if self.premise is not None and self.premise not in PREMISES:
            raise ValueError(f"premise must be one of {sorted(PREMISES)}, got {self.premise!r}")


def assess(claim: Claim, values: pd.Series, level: float = LEVEL) -> dict[str, object]:
    """One ledger row: the claim's fields, its SESOI, n, mean, interval, p-value and verdict over the
    per-unit ``values`` (one per independent unit)."""
    scale = SCALES[claim.scale]
    i = verdicts.interval(values, scale, null=claim.null, level=level)
    units = ", ".join(f"{k}: {v:.3f}" for k, v in values.items()) if len(values) <= 12 else f"{len(values)} units"
    note = f"no spread: all {i.n} units equal" if i.no_spread else ""
    return {**asdict(claim), "sesoi": scale.sesoi, "n": i.n, "value": i.mean, "ci_low": i.low, "ci_high": i.high,
            "p": i.p, "verdict": verdicts.verdict(i.low, i.high, i.mean, claim.direction, null=claim.null,
                                                  sesoi=scale.sesoi),
            "every_unit": verdicts.every_unit(values, claim.direction, null=claim.null, sesoi=scale.sesoi),
            "per_unit": units, "note": note}


def not_measured(claim: Claim, why: str) -> dict[str, object]:
    """A ledger row for a claim this run cannot test (e.g. no shifted-label condition)."""
    return {**asdict(claim), "sesoi": SCALES[claim.scale].sesoi, "n": 0, "value": np.nan, "ci_low": np.nan,
            "ci_high": np.nan, "p": np.nan, "verdict": "not measured", "every_unit": False, "per_unit": "", "note": why}


def apply_premises(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows whose premise this run does not show read "premise not met" (their numbers are kept); each row's
    verdict before this step is kept in ``verdict_unconditional`` (set here unless the frame already has it).

    A premise is a fact about the run's own nets, which are the nets the dependent claims measure: it is met
    when the premise claim holds, or when every unit of the run lies on the premise's claimed side
    (``every_unit``) although the interval cannot say so for the population — e.g. five seeds that all fit
    every random label give no spread, and the exact test needs six (:mod:`repchange.core.verdicts`)."""
    frame = frame.copy()
    if "verdict_unconditional" not in frame:
        frame["verdict_unconditional"] = frame.verdict
    premises = frame.set_index("key")
    for k, row in frame.iterrows():
        premise = row.get("premise")
        if not isinstance(premise, str) or row.verdict == "not measured":
            continue
        met = premises.verdict.get(premise)
        by_units = met != "holds" and bool(premises.get("every_unit", pd.Series(dtype=bool)).get(premise, False))
        if by_units:
            n = premises.n.get(premise)
            frame.loc[k, "note"] = "; ".join(x for x in (row.note, f"premise {premise} reads {met} for the population "
                                                          f"but every one of this run's {n} units meets it: "
                                                          f"{PREMISES[premise]} — shown by these nets") if x)
        elif met != "holds":
            frame.loc[k, "note"] = "; ".join(x for x in (row.note, f"premise {premise} reads {met or 'absent'}: "
                                                          f"{PREMISES[premise]} — not shown in this run") if x)
            frame.loc[k, "verdict_unconditional"] = row.verdict
            frame.loc[k, "verdict"] = "premise not met"
    return frame


# ----------------------------------------------------------------------------------------------
# Study A: one value per seed. Tables are those of repchange.studies.a.tables.

_EXPORT_CLEAN = paper_numbers.STUDY_A_CKA["fine-tuning, same domain, clean: CKA to the pre-trained net"]
ACROSS_PROBES = " (CKA on two probe sets: each domain's own)"


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


TRAIN_FIT_TOLERANCE = 0.05  # "almost as high as": within 5 percentage points of training accuracy


def study_a_claims(*, pretraining: pd.DataFrame, histories: pd.DataFrame, degrees: pd.DataFrame,
                   sizes: pd.DataFrame, finetuning: pd.DataFrame, num_classes: int = 10,
                   level: float = LEVEL, metric: str = "cka") -> pd.DataFrame:
    """The ledger rows of Study A from the tables of Figures 1 (``cka_to_init``), 2 (``training_histories``),
    3a (``degree_sweep``), 3b (``size_sweep``) and 4–5 (``finetune_sweep``), at the last epoch; ``metric``
    is the similarity read from the tables' metric column (default: biased CKA, the paper's estimator;
    :mod:`repchange.studies.a.estimators` has the others). Quotes are the paper's words; claims without
    quotation marks paraphrase the figure's caption or discussion."""
    rows = pretraining_claims(pretraining=pretraining, histories=histories, degrees=degrees, sizes=sizes,
                              level=level, metric=metric)
    layers = list(dict.fromkeys(pretraining.layer))
    rows += _finetuning_claims(finetuning, layers[0], layers[-2], layers[-1], level, metric)
    return pd.DataFrame(rows)


def pretraining_claims(*, pretraining: pd.DataFrame, histories: pd.DataFrame, degrees: pd.DataFrame,
                       sizes: pd.DataFrame, epoch: int | None = None, level: float = LEVEL,
                       metric: str = "cka") -> list[dict]:
    """Study A's claims about pre-training (A1, A2, A3) from the tables of Figures 1, 2, 3a and 3b, read at
    pre-training ``epoch`` (None: each table's last). The learning rate is constant and epoch ``e``'s
    batches depend on the seed and ``e`` alone, so a run's net at epoch ``e`` *is* the net an ``e``-epoch
    run ends with: reading the claims at ``e`` is the ledger of an ``e``-epoch training budget.
    Training fit is ``fit_acc``: the net after the epoch, in eval mode, on its training images."""
    rows = []
    init = _by_seed_layer(_final_cka(pretraining, "init", metric, epoch))
    first, last = init.columns[0], init.columns[-1]
    rows.append(assess(Claim(
        "A1-depth", "A", "Sec. 4.1, Fig. 1", "During pre-training, similarity to the initialisation falls with depth.",
        "largest change of CKA-to-init from one layer to the next at the epoch read (falls at every step: < 0; a "
        "continuous statistic, where a Spearman ρ over five layers saturates at −1 and leaves no spread)", "seed",
        "less"), init.diff(axis=1).iloc[:, 1:].max(axis=1), level))
    blocks = init.drop(columns=[last])
    rows.append(assess(Claim(
        "A1-output", "A", "Sec. 4.1, Fig. 1", "The output layer moves furthest from its initialisation.",
        f"lowest CKA-to-init among the blocks − CKA-to-init of {last}", "seed", "greater"),
        blocks.min(axis=1) - init[last], level))

    at = histories.epoch.max() if epoch is None else epoch
    if at not in set(histories.epoch):
        raise ValueError(f"the training histories have no epoch {at}; they have {sorted(histories.epoch.unique())}")
    final = histories[histories.epoch == at]
    by_degree = final.pivot_table(index="seed", columns="degree", values=["fit_acc", "test_acc"])
    d_lo, d_hi = min(histories.degree), max(histories.degree)
    rows.append(assess(Claim(
        "A2-train-fit", "A", "Sec. 4.1, Fig. 2", "“the training accuracy in the experiments on the randomized data "
        "is almost as high as” with clean labels.",
        f"training accuracy (eval mode, after the epoch) at d={d_hi} − at d={d_lo}; holds above −{TRAIN_FIT_TOLERANCE:.2f} (our tolerance for "
        "“almost as high”)", "seed", "greater", -TRAIN_FIT_TOLERANCE, scale="accuracy difference"),
        by_degree["fit_acc"][d_hi] - by_degree["fit_acc"][d_lo], level))
    test = by_degree["test_acc"][sorted(by_degree["test_acc"].columns)]
    rows.append(assess(Claim(
        "A2-test-falls", "A", "Sec. 4.1, Fig. 2", "The more random the labels, the lower the test accuracy — at "
        "every step of d, not only between the ends.",
        f"largest change of test accuracy between consecutive degrees {list(test.columns)} (all steps down: < 0)",
        "seed", "less", scale="accuracy difference"), test.diff(axis=1).iloc[:, 1:].max(axis=1) if test.shape[1] > 1 else pd.Series(dtype=float),
        level=level))

    # Every net starts at the same loss (random init: ≈ ln 10 whatever the labels), so "falls more slowly" means
    # the random-label curve runs above the clean one: the mean gap over epochs 1..budget. (The fall from epoch 1
    # to the end rewards a curve that is still high after epoch 1 and turns against the claim once random labels
    # are memorised, although their loss fell more slowly throughout.)
    curves = histories[(histories.epoch >= 1) & (histories.epoch <= at)].pivot_table(
        index=["seed", "epoch"], columns="degree", values="train_loss")
    gap = (curves[d_hi] - curves[d_lo]).groupby(level="seed").mean()
    rows.append(assess(Claim(
        "A2-loss-slower", "A", "Fig. 2a", "With more random labels the training loss falls more slowly.",
        f"mean over epochs 1..{at} of the training loss at d={d_hi} − at d={d_lo} (both start at the init's loss, so "
        "a slower fall is a curve above)", "seed", "greater", scale="loss difference"), gap, level))

    to_init = _final_cka(degrees, "init", metric, epoch)
    lo = _by_seed_layer(to_init[to_init.degree == d_lo])
    hi = _by_seed_layer(to_init[to_init.degree == d_hi])
    rows.append(assess(Claim(
        "A3-less-change", "A", "Sec. 4.1, Fig. 3a", "“if the structure in the data decreases, there is less "
        "similarity change overall …”", f"layer-mean CKA-to-init at d={d_hi} − at d={d_lo}", "seed", "greater", premise="A2-train-fit"),
        hi.mean(axis=1) - lo.mean(axis=1), level))
    rows.append(assess(Claim(
        "A3-less-change-early", "A", "Sec. 4.1, Fig. 3a", "“… and especially in the early layers”.",
        f"CKA-to-init of {first} at d={d_hi} − at d={d_lo}", "seed", "greater", premise="A2-train-fit"),
        hi[first] - lo[first], level))
    extra = lo - hi  # how much further random labels move each layer
    rows.append(assess(Claim(
        "A3-last-layers", "A", "Sec. 4.1, Fig. 3a", "Memorising random labels is carried mainly by the last layers.",
        f"[CKA(d={d_lo}) − CKA(d={d_hi})] of {last} − the same of {first}", "seed", "greater",
        premise="A2-train-fit"),
        extra[last] - extra[first], level))

    matched = sizes.equal_steps.astype(bool) if "equal_steps" in sizes else pd.Series(False, index=sizes.index)
    by_size = _final_cka(sizes[~matched], "init", metric, epoch)
    small, large = min(by_size.train_size), max(by_size.train_size)
    small_cka = _by_seed_layer(by_size[by_size.train_size == small])
    large_cka = _by_seed_layer(by_size[by_size.train_size == large])
    rows.append(assess(Claim(
        "A3-size", "A", "Sec. 4.1, Fig. 3b", "The more randomly labelled images, the further the layers move from "
        "their init.", f"layer-mean CKA-to-init with {small} − with {large} images", "seed", "greater",
        premise="A2-train-fit"),
        small_cka.mean(axis=1) - large_cka.mean(axis=1), level))

    # Fig. 3b at equal epochs gives the small set fewer SGD steps, which alone moves layers less: held equal here.
    steps_claim = Claim(
        "A3-size-steps", "A", "Fig. 3b", "With “only a few samples”, memorising “does not need anything else than the "
        "last layer” — with the number of SGD steps held equal across sizes.",
        f"mean CKA-to-init of the layers before {last} with {small} images trained for as many steps as {large} take − "
        f"the same with {large} images", "seed", "greater", premise="A2-train-fit")
    steps = sizes[matched & (sizes.train_size == small)]
    if steps.empty:
        rows.append(not_measured(steps_claim, "no equal-steps run of the smallest size (a single size, or equal_steps off)"))
    elif epoch is not None and epoch != sizes[~matched].epoch.max():
        rows.append(not_measured(steps_claim, f"the equal-steps run is measured at the last budget only, not at epoch {epoch}"))
    else:
        matched_cka = _by_seed_layer(_final_cka(steps, "init", metric))
        before_last = [c for c in matched_cka.columns if c != last]
        rows.append(assess(steps_claim, matched_cka[before_last].mean(axis=1) - large_cka[before_last].mean(axis=1),
                           level))
    return rows


def _finetuning_claims(table: pd.DataFrame, first: str, penultimate: str, last: str, level: float,
                       metric: str = "cka") -> list[dict]:
    d_lo, d_hi = min(table.degree), max(table.degree)
    clean_label, random_label = condition_label(d_lo), condition_label(d_hi)
    shift_labels = sorted(lab for lab in table.labels.unique() if str(lab).startswith("shift"))

    def wide(domain: str, labels: str, comparison: str = "pretrained") -> pd.DataFrame:
        rows = _final_cka(table, comparison, metric)
        return _by_seed_layer(rows[(rows.domain == domain) & (rows.labels == labels)])

    clean, random_ = wide("same", clean_label), wide("same", random_label)
    cross, cross_random = wide("cross", clean_label), wide("cross", random_label)
    early = list(clean.columns[:2])  # the "early layers": the first two blocks

    def margin(frame: pd.DataFrame, domain: str, labels: str) -> pd.Series:
        """layer-mean CKA to the pre-trained net − to an independent init"""
        return frame.mean(axis=1) - wide(domain, labels, "independent_init").mean(axis=1)

    rows = [
        assess(Claim("A4-head", "A", "Abstract (prior work), Fig. 4a", "Fine-tuning (all weights trainable) changes "
                     "the head most — the abstract's summary of prior work, not a result the paper reports; the "
                     f"authors' results export has block 4 ({_EXPORT_CLEAN[3]:.3f}) below the logits "
                     f"({_EXPORT_CLEAN[4]:.3f}).",
                     f"lowest CKA-to-pre-trained among the blocks − that of {last} (source domain, {clean_label})",
                     "seed", "greater"), clean.drop(columns=[last]).min(axis=1) - clean[last], level),
        assess(Claim("A4-random", "A", "Sec. 4.2, Fig. 4a", "Random labels change the fine-tuned net more than clean "
                     "labels.", f"layer-mean CKA-to-pre-trained: {clean_label} − {random_label} (source domain)",
                     "seed", "greater"), clean.mean(axis=1) - random_.mean(axis=1), level),
        assess(Claim("A4-random-early", "A", "Sec. 4.2, Fig. 4a", "… and the extra change reaches down to the first "
                     "block.", f"CKA-to-pre-trained of {first}: {clean_label} − {random_label} (source domain)",
                     "seed", "greater"), clean[first] - random_[first], level),
        assess(Claim("A4b-random-cross", "A", "Sec. 4.2, Fig. 4b", "On the cross domain too, random labels change the "
                     "net more than clean labels.", f"layer-mean CKA-to-pre-trained, cross domain: {clean_label} − "
                     f"{random_label}", "seed", "greater"), cross.mean(axis=1) - cross_random.mean(axis=1), level),
        assess(Claim("A4c-cross-vs-clean", "A", "Sec. 4.2, Fig. 4c", "The change in early layers under a cross-domain "
                     "task is larger than with clean labels …", f"mean CKA-to-pre-trained of {early}: same-domain "
                     f"{clean_label} − cross domain {clean_label}{ACROSS_PROBES}", "seed", "greater"),
               clean[early].mean(axis=1) - cross[early].mean(axis=1), level),
        assess(Claim("A4c-cross-vs-random", "A", "Sec. 4.2, Fig. 4c", "… and less than with random labels.",
                     f"mean CKA-to-pre-trained of {early}: cross domain {clean_label} − same-domain {random_label}"
                     f"{ACROSS_PROBES}",
                     "seed", "greater"), cross[early].mean(axis=1) - random_[early].mean(axis=1), level),
    ]
    shift_claims = [
        (Claim("A-cross-early", "A", "Conclusion", "“for cross-domain tasks, the earlier layers have to change more "
               "than when solving domain tasks”.", f"mean CKA-to-pre-trained of {early}: shifted labels (source "
               f"domain) − cross domain ({clean_label}){ACROSS_PROBES}", "seed", "greater"),
         lambda shift: shift[early].mean(axis=1) - cross[early].mean(axis=1)),
        (Claim("A4c-shift-vs-clean", "A", "Sec. 4.2, Fig. 4c", "The change in early layers under a domain task "
               "(shifted labels) is larger than with clean labels …", f"mean CKA-to-pre-trained of {early}: "
               f"{clean_label} − shifted labels (source domain)", "seed", "greater"),
         lambda shift: clean[early].mean(axis=1) - shift[early].mean(axis=1)),
        (Claim("A4c-shift-vs-random", "A", "Sec. 4.2, Fig. 4c", "… and less than with random labels.",
               f"mean CKA-to-pre-trained of {early}: shifted labels − {random_label} (source domain)", "seed",
               "greater"), lambda shift: shift[early].mean(axis=1) - random_[early].mean(axis=1)),
        (Claim("A4c-penultimate", "A", "Sec. 4.2, Fig. 4c", "“compared to domain adaption, a cross-domain adaptation "
               "relies more on change in the penultimate layer”.", f"CKA-to-pre-trained of {penultimate}: shifted "
               f"labels (source domain) − cross domain ({clean_label}){ACROSS_PROBES}", "seed", "greater"),
         lambda shift: shift[penultimate] - cross[penultimate]),
        (Claim("A5c-closer-shift", "A", "Sec. 4.3, Fig. 5c", "After fine-tuning on a domain task (shifted labels) the "
               "net is still closer to the pre-trained net than to a random one.", "layer-mean CKA to the "
               "pre-trained net − to an independent init (shifted labels)", "seed", "greater"),
         lambda shift: margin(shift, "same", shift_labels[0])),
        (Claim("A5c-margin-shift", "A", "Sec. 4.3, Figs. 5a/5c", "… with a smaller margin than on the same task.",
               f"margin ({clean_label}) − margin (shifted labels); margin = layer-mean CKA to the pre-trained net − "
               "to an independent init", "seed", "greater"),
         lambda shift: margin(clean, "same", clean_label) - margin(shift, "same", shift_labels[0])),
    ]
    if shift_labels:
        shifted = wide("same", shift_labels[0])
        rows += [assess(claim, statistic(shifted), level) for claim, statistic in shift_claims]
    else:
        rows += [not_measured(claim, "no shifted-label condition in this run") for claim, _ in shift_claims]
    for domain, figure in (("same", "Fig. 4a"), ("cross", "Fig. 4b")):
        graded = Claim(f"A4-graded ({domain})", "A", f"Sec. 4.1, {figure}", "“the more random the data is, the more "
                       "the representation changes” — at every step of d, not only between the ends.",
                       f"largest change of layer-mean CKA-to-pre-trained between consecutive degrees ({domain} "
                       "domain; all steps down: < 0)", "seed", "less")
        degrees = sorted(table.degree[table.labels.str.startswith(("clean", "random"))].unique())
        if len(degrees) < 3:
            rows.append(not_measured(graded, f"needs three or more label degrees; this run has {degrees}"))
            continue
        means = pd.concat({d: wide(domain, condition_label(d)).mean(axis=1) for d in degrees}, axis=1)
        rows.append(assess(graded, means.diff(axis=1).iloc[:, 1:].max(axis=1), level))
    rows.append(assess(Claim(
        "A4-clean-early", "A", "Sec. 4.2, Fig. 4a", "“for non-random labels, hardly anything changes in early "
        "layers”.", f"mean CKA-to-pre-trained of {early} − 1 ({clean_label}, source domain); a claim of no "
        "effect: holds when the interval lies within ± the SESOI", "seed", "negligible"),
        clean[early].mean(axis=1) - 1.0, level))
    rows += [
        assess(Claim("A5-closer", "A", "Sec. 4.3, Fig. 5a", "With clean labels, fine-tuned layers stay closer to the "
                     "pre-trained net than to a random net.", f"layer-mean CKA to the pre-trained net − to an "
                     f"independent init ({clean_label})", "seed", "greater"),
               margin(clean, "same", clean_label), level),
        assess(Claim("A5d-closer-cross", "A", "Sec. 4.3, Fig. 5d", "After cross-domain fine-tuning the net is still "
                     "closer to the pre-trained net than to a random one.", "layer-mean CKA to the pre-trained net − "
                     f"to an independent init (cross domain, {clean_label})", "seed", "greater"),
               margin(cross, "cross", clean_label), level),
        assess(Claim("A5d-margin-cross", "A", "Sec. 4.3, Figs. 5a/5d", "… with a smaller margin than on the same "
                     "task.", f"margin (same domain) − margin (cross domain), both {clean_label}{ACROSS_PROBES}", "seed",
                     "greater"),
               margin(clean, "same", clean_label) - margin(cross, "cross", clean_label), level),
    ]
    independent_random = wide("same", random_label, "independent_init")
    for layer in (penultimate, last):
        rows.append(assess(Claim(
            f"A5b-random-unlearns ({layer})", "A", "Sec. 4.3, Fig. 5b; Conclusion", "Under random labels the "
            "representation ends up more similar to a random init than to the pre-trained net.",
            f"CKA of {layer} to the pre-trained net − to an independent init ({random_label})", "seed", "less"),
            random_[layer] - independent_random[layer], level))
    rows.append(assess(Claim(
        "A5b-random-early", "A", "Sec. 4.3, Fig. 5b; Conclusion", "Fine-tuning on random labels “changes the early "
        "representation”.", f"mean CKA-to-pre-trained of {early}: {random_label} − {clean_label} (source domain)",
        "seed", "less"), random_[early].mean(axis=1) - clean[early].mean(axis=1), level))
    return rows


# ----------------------------------------------------------------------------------------------
# Study B: one value per source net (arch, seed); a source net's fine-tunings on several targets are
# averaged into its one value (they share the net, so they are not independent units).

ARCH_OF_PAPER = {"resnet_small": "resnet50", "vgg_small": "vgg19", "densenet_small": "densenet121"}


def _per_source_net(per_run: dict[tuple[str, str, int], float]) -> pd.Series:
    """The mean over targets of per-run values keyed (arch, target, seed), one per source net, indexed
    ``arch/s<seed>`` (NaN runs left out of their net's mean)."""
    runs = pd.Series(per_run, dtype=float)
    if runs.empty:
        return runs
    runs.index = pd.MultiIndex.from_tuples(runs.index, names=["arch", "target", "seed"])
    nets = runs.groupby(level=["arch", "seed"], sort=False).mean()
    return pd.Series(nets.to_numpy(), index=[f"{a}/s{s}" for a, s in nets.index], dtype=float)


def _per_run(table: pd.DataFrame, function) -> pd.Series:
    """``function(rows of one run)`` for every (arch, target, seed), averaged per source net (see
    :func:`_per_source_net`)."""
    return _per_source_net({key: function(rows) for key, rows in table.groupby(["arch", "target", "seed"],
                                                                                sort=False)})


def _dissimilar_minus_similar(dynamics: pd.DataFrame, metric: str, kinds: dict[str, str]) -> dict[str, pd.Series]:
    """Per source net (``arch/s<seed>``), the final distance under ``metric`` averaged over the dissimilar
    targets minus that over the similar ones: for the layer mean (``"all layers"``) and for the first
    probed layer (``"first layer"``)."""
    gaps: dict[str, dict[str, float]] = {"all layers": {}, "first layer": {}}
    for seed in sorted(dynamics.seed.unique()):
        dist = analysis.final_distances(dynamics[dynamics.seed == seed])
        dist = dist[dist.metric == metric].assign(kind=lambda d: d.target.map(kinds))
        for name, rows in (("all layers", dist.groupby(["arch", "target", "kind"], sort=False)["value"].mean()
                            .reset_index()), ("first layer", dist[dist.depth == 0])):
            for arch, group in rows.groupby("arch", sort=False):
                means = group.groupby("kind")["value"].mean()
                gaps[name][f"{arch}/s{seed}"] = means["dissimilar"] - means["similar"]
    return {name: pd.Series(values, dtype=float) for name, values in gaps.items()}


def _upward_share(rows: pd.DataFrame) -> float:
    """Share of the run's layers whose distance has a positive Spearman ρ with the fine-tuning epoch (epochs > 0:
    epoch 0 is the source itself, distance 0, and would make every trend start upward)."""
    rows = rows[rows.epoch > 0]
    rhos = [group["epoch"].corr(group["value"], method="spearman")
            for _, group in rows.groupby("layer", sort=False) if group["value"].nunique() > 1]
    return float(np.mean(np.array(rhos) > 0)) if rhos else np.nan


def study_b_claims(dynamics: pd.DataFrame, agreement: pd.DataFrame | None = None, alpha: float = 0.0,
                   level: float = LEVEL, metric: str | None = None) -> pd.DataFrame:
    """The ledger rows of Study B from :func:`repchange.studies.b.tables.dynamics`' table and, for the
    metric agreement, :func:`repchange.studies.b.tables.filter_agreement`'s. The shape metric is
    PWSM at ``alpha`` (0: the authors' code), or ``metric`` (e.g. ``"procrustes_filter"``) where given;
    a claim whose metric the table lacks is "not measured"."""
    metric = metric or pwsm_key(alpha)
    labels = {pwsm_key(alpha): analysis.pwsm_label(alpha), "procrustes_filter": analysis.FILTER_PROCRUSTES_LABEL}
    if metric not in labels:
        labels[metric] = metric
    present = set(dynamics.metric)
    rows = []
    overall = dynamics[dynamics.cls == "all"]
    per_run = {}
    for seed in sorted(dynamics.seed.unique()):
        trend = analysis.depth_trend(dynamics[dynamics.seed == seed])
        for _, r in trend.iterrows():
            per_run.setdefault(r.metric, {})[(r.arch, r.target, seed)] = r.spearman
    for name in dict.fromkeys((metric, "procrustes_filter")):
        label = labels[name]
        depth = Claim(
            f"B-depth ({name})", "B", "Sec. 4, Figs. 2–4", "Fine-tuning moves deeper layers further than early ones.",
            f"Spearman ρ of the last checkpoint's distance with layer depth, mean over the source net's targets; "
            f"{label}", "source net", "greater", scale="rank correlation")
        upward = Claim(
            f"B-upward ({name})", "B", "Sec. 4, Figs. 2–4", "The distance to the source shows a “predominantly "
            "upward trend” over the fine-tuning epochs.", f"share of a run's layers whose distance rises with the "
            f"epoch (Spearman ρ > 0), mean over the source net's targets; {label}; holds above 0.5", "source net",
            "greater", 0.5, scale="share")
        if name not in present:
            why = f"the table has no {label} (add its alpha to the chapter's alphas)"
            rows += [not_measured(depth, why), not_measured(upward, why)]
            continue
        rows.append(assess(depth, _per_source_net(per_run[name]), level))
        rows.append(assess(upward, _per_run(overall[overall.metric == name], _upward_share), level))

    kinds = {t: SIMILARITY_TO_SOURCE.get(t) for t in dynamics.target.unique()}
    target_claim = Claim("B-similarity", "B", "Sec. 4, Table 2", "Features are reused more on a target like the "
                         "source and rewritten more on a dissimilar one.",
                         f"layer-mean final distance ({labels[metric]}): mean over dissimilar "
                         "targets − mean over similar targets", "source net", "greater", scale="distance difference")
    early_claim = Claim("B-early-dissimilar", "B", "Abstract", "Feature reuse is “reduced, even in early stages” "
                        "of the network “when the target domain is dissimilar”.",
                        f"final distance of the first probed layer ({labels[metric]}): mean over dissimilar targets "
                        "− mean over similar targets", "source net", "greater", scale="distance difference")
    if metric not in present:
        rows += [not_measured(c, f"the table has no {labels[metric]}") for c in (target_claim, early_claim)]
    elif {"similar", "dissimilar"} <= set(kinds.values()):
        gaps = _dissimilar_minus_similar(dynamics, metric, kinds)
        rows += [assess(target_claim, gaps["all layers"], level), assess(early_claim, gaps["first layer"], level)]
    else:
        why = f"needs a similar and a dissimilar target; this run has {kinds}"
        rows += [not_measured(target_claim, why), not_measured(early_claim, why)]

    alike_claim = Claim("B-metrics-alike", "B", "Sec. 4.1", "“PWSM and Orthogonal Procrustes show extremely similar "
                        "results”.", f"Spearman ρ between {labels[metric]} and {labels['procrustes_filter']} across "
                        "the (target, layer, epoch > 0) cells of a source net; 0.5 = the conventional threshold of a "
                        "strong correlation", "source net", "greater", 0.5, scale="rank correlation")
    if metric == "procrustes_filter":
        rows.append(not_measured(alike_claim, "compares PWSM with per-filter Procrustes: not a claim about one "
                                              "metric"))
    elif {metric, "procrustes_filter"} <= present:
        cells = overall[(overall.epoch > 0) & overall.metric.isin([metric, "procrustes_filter"])]
        wide_cells = cells.pivot_table(index=["arch", "seed", "target", "layer", "epoch"], columns="metric",
                                       values="value")
        values = {f"{a}/s{sd}": group[metric].corr(group["procrustes_filter"], method="spearman")
                  for (a, sd), group in wide_cells.groupby(level=["arch", "seed"], sort=False)}
        rows.append(assess(alike_claim, pd.Series(values, dtype=float), level))
    else:
        rows.append(not_measured(alike_claim, "the table lacks one of the two metrics"))

    resnet_claim = Claim("B-resnet-dissimilar", "B", "Sec. 4, Table 2", "On the dissimilar target (Fruits-360) "
                         "ResNet50 reuses its features most (lowest reusability distance).",
                         f"lowest reusability of the other architectures − ResNet's, mean over the dissimilar targets "
                         f"({labels[metric]})", "seed (one source net per architecture)", "greater",
                         scale="distance difference")
    resnets = [a for a in dynamics.arch.unique() if ARCH_OF_PAPER.get(a, a) == "resnet50"]
    dissimilar = [t for t, k in kinds.items() if k == "dissimilar"]
    if metric not in present:
        rows.append(not_measured(resnet_claim, f"the table has no {labels[metric]}"))
    elif resnets and dissimilar and dynamics.arch.nunique() > 1:
        values = {}
        for seed in sorted(dynamics.seed.unique()):
            per_seed = analysis.reusability(dynamics[dynamics.seed == seed])
            per_seed = per_seed[per_seed.metric == metric].set_index(["target", "arch"])["mean"]
            values[f"s{seed}"] = np.mean([per_seed.loc[t].drop(resnets).min() - per_seed.loc[t][resnets].min()
                                          for t in dissimilar])
        rows.append(assess(resnet_claim, pd.Series(values), level))
    else:
        rows.append(not_measured(resnet_claim, "needs a ResNet, another architecture and a dissimilar target"))

    order_claim = Claim("B-awa2-vs-scene", "B", "Sec. 4, Table 2", "Features are reused more on AwA2 than on "
                        "15-Scene (Table 2: DenseNet121 and ResNet50).", "reusability on 15-Scene − on AwA2",
                        "source net", "greater", scale="distance difference")
    if metric not in present:
        rows.append(not_measured(order_claim, f"the table has no {labels[metric]}"))
    elif {"awa2", "scene15"} <= set(dynamics.target.unique()):
        values = {}
        for seed in sorted(dynamics.seed.unique()):
            per_seed = analysis.reusability(dynamics[dynamics.seed == seed])
            per_seed = per_seed[per_seed.metric == metric].set_index(["arch", "target"])["mean"]
            for arch in dynamics.arch.unique():
                values[f"{arch}/s{seed}"] = per_seed[(arch, "scene15")] - per_seed[(arch, "awa2")]
        rows.append(assess(order_claim, pd.Series(values), level))
    else:
        rows.append(not_measured(order_claim, "needs the AwA2 and 15-Scene targets (paper profile)"))

    for key, pairing, whose in (("B-agreement", analysis.PAPER_PAIRING, "the paper's text: PWSM"),
                                ("B-agreement-code", analysis.AUTHORS_PAIRING, "the authors' code: per-filter CKA")):
        agreement_claim = Claim(
            key, "B", "Sec. 4.1 (r = 0.83 ± 0.43)", "“both PWSM and Orthogonal Procrustes” … “mean value for "
            f"Pearson's r as 0.83”: the two per-filter distances agree strongly (pairing of {whose}).",
            f"mean over (layer, epoch, class) of Pearson r across filters, {analysis.pairing_label(pairing)}, mean "
            "over the source net's targets; 0.5 = the conventional threshold of a strong correlation", "source net",
            "greater", 0.5, scale="correlation")
        table = agreement[agreement.pairing == pairing] if agreement is not None and "pairing" in agreement else None
        if table is not None and table.r.notna().any():
            rows.append(assess(agreement_claim, _per_run(table.rename(columns={"r": "value"}),
                                                         lambda rows: rows["value"].mean()), level))
        else:
            rows.append(not_measured(agreement_claim, f"no filter-agreement table with the pairing {pairing!r}"))
    return pd.DataFrame(rows)


def ledger(*parts: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """The ledger rows of both studies in one table: premises applied (a claim whose premise row does not
    hold reads "premise not met"), then ``verdict_holm``: the verdict with the measured claims taken as
    one family (Holm; see :func:`repchange.core.verdicts.holm`). Verdict counts in
    ``frame.attrs["counts"]`` and ``frame.attrs["counts_holm"]``."""
    frame = apply_premises(pd.concat(parts, ignore_index=True))
    frame["verdict_holm"] = verdicts.holm(frame.p, frame.verdict, level)
    frame.attrs["counts"] = frame.verdict.value_counts().to_dict()
    frame.attrs["counts_holm"] = frame.verdict_holm.value_counts().to_dict()
    return frame


def ledger_view(frame: pd.DataFrame) -> pd.DataFrame:
    """What a reader scans, one row per claim: key, claim, verdict, Holm-adjusted verdict, the effect
    (mean − null) with its interval, the SESOI and the unit with n."""
    def effect(r: pd.Series) -> str:
        if r.verdict == "not measured" or not np.isfinite(r.value):
            return "–"
        interval = f" [{r.ci_low - r.null:+.3f}, {r.ci_high - r.null:+.3f}]" if np.isfinite(r.ci_low) else ""
        return f"{r.value - r.null:+.3f}{interval}"

    return pd.DataFrame({"key": frame.key, "claim": frame.claim, "verdict": frame.verdict,
                         "Holm-adjusted": frame.verdict_holm, "mean − null [interval]": frame.apply(effect, axis=1),
                         "SESOI": frame.sesoi, "unit (n)": [f"{u} ({n})" for u, n in zip(frame.unit, frame.n)],
                         **({"estimators agreeing": frame.estimators_agreeing} if "estimators_agreeing" in frame
                            else {})})


def ledger_details(frame: pd.DataFrame) -> pd.DataFrame:
    """Beneath the ledger: where each claim is made, its statistic, null, p-value, per-unit values and notes."""
    return frame[["key", "figure", "statistic", "direction", "null", "p", "per_unit", "note"]]


VERDICT_COLOURS = {"holds": "#2a9d55", "does not hold": "#c0392b", "negligible": "#2874a6",
                   "inconclusive": "#8c8c8c", "premise not met": "#b9770e"}
DIRECTION_MARKS = {"greater": "claimed > null", "less": "claimed < null", "negligible": "claimed ≈ null"}


def fig_ledger(frame: pd.DataFrame, provenance: str):
    """Forest plot of the ledger: per claim, (mean − null) / SESOI with its interval, turned so that the
    claimed side is to the right, coloured by verdict; the shaded band is ±1 smallest effect of interest
    (symmetric-log x axis, linear inside the band). Untested claims are left out."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from repchange.core.plotting import caption

    rows = frame[frame.verdict != "not measured"].iloc[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(rows) + 1.9))
    ax.axvspan(-1, 1, color="#2874a6", alpha=0.12, lw=0)
    for k, (_, r) in enumerate(rows.iterrows()):
        colour = VERDICT_COLOURS[r.verdict]
        sign = -1.0 if r.direction == "less" else 1.0
        ends = sorted(sign * (x - r.null) / r.sesoi for x in (r.ci_low, r.ci_high))
        if np.all(np.isfinite(ends)):
            ax.plot(ends, [k, k], color=colour, lw=2.2)
        ax.plot(sign * (r.value - r.null) / r.sesoi, k, "o", color=colour, ms=6)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_yticks(np.arange(len(rows)), [f"{r.key}  ({DIRECTION_MARKS[r.direction]})" for _, r in rows.iterrows()],
                  fontsize=8)
    ax.set_xlabel("(statistic − null) / smallest effect of interest, claimed side to the right: mean over units "
                  "and interval; shaded: ±1 (negligible)", fontsize=8)
    ax.grid(alpha=0.3, axis="x")
    ax.legend([Line2D([], [], color=c, marker="o", lw=2) for c in VERDICT_COLOURS.values()], list(VERDICT_COLOURS),
              fontsize=8, loc="lower right")
    ax.set_title("Claims ledger — every claim's effect against its null and its smallest effect of interest",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    caption(fig, provenance)
    return fig
