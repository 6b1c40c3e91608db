"""The numbers and phrases a page's prose quotes, computed from its tables: :class:`Summary`, and the summaries of the
pages that read both studies (the metrics chapter, our departures, the papers' numbers beside ours).

A chapter calls one function and glues what it returns (:func:`repchange.book.glue.glue_summary`), so its notebook
holds narrative, parameters, calls and figures, and the arithmetic behind every quoted number is unit-tested.
Each function returns a :class:`Summary`: ``numbers`` (name -> number, for ``glue_numbers``), ``phrases`` (name ->
Markdown fragment, for ``glue_text``) and ``tables`` (small frames the page shows). Study A's chapters' summaries
are :mod:`repchange.studies.a.summaries`, Study B's :mod:`repchange.studies.b.summaries`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from repchange.measure.metrics import pwsm_key
from repchange.studies import metric_checks as checks
from repchange.studies import paper_numbers

__all__ = ["Summary", "deviations", "metrics_chapter", "paper_beside"]


@dataclass
class Summary:
    numbers: dict[str, float | int] = field(default_factory=dict)
    phrases: dict[str, str] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def _phrase(items: list[str], empty: str) -> str:
    return ", ".join(items) if items else empty


def metrics_chapter(invariance: pd.DataFrame, chance: pd.DataFrame, identification: pd.DataFrame,
                    correlations: pd.DataFrame, deletion: pd.DataFrame, seeds: list[int]) -> Summary:
    """The metrics chapter (00_metrics), from :mod:`repchange.studies.metric_checks`' tables: values after
    a general invertible map and after noise (``invariance``, read as the page shows it: to 3
    decimals), chance CKA at the largest n and p against p / (n + p), layer-identification rates,
    the metrics' agreement (``correlations``) and what deleting the first principal component does."""
    wide = invariance.pivot(index="transform", columns="metric", values="value").round(3)
    n, p = int(chance.n.max()), int(chance.p.max())
    at_chance = chance[(chance.n == n) & (chance.p == p)].groupby("metric").value.mean()
    first_pc = deletion[deletion.k == 1]
    out = Summary()
    out.tables = {"invariance": wide}
    out.numbers = {
        "m_seed_a": int(seeds[0]), "m_seed_b": int(seeds[1]), "m_chance_n": n, "m_chance_p": p,
        "m_chance_cka": at_chance["cka"], "m_chance_cka_debiased": at_chance["cka_debiased"],
        "m_chance_expected": p / (n + p),
        "m_cka_after_general_map": wide.loc["general invertible map", "cka"],
        "m_pwsm0_after_general_map": wide.loc["general invertible map", "pwsm_alpha_0"],
        "m_pwsm0_after_noise": wide.loc["additive noise (sd 0.2)", "pwsm_alpha_0"],
        "m_procrustes_after_noise": wide.loc["additive noise (sd 0.2)", "procrustes_angle"],
        "m_identified_cka": checks.identification_rate(identification, "cka"),
        "m_identified_cka_debiased": checks.identification_rate(identification, "cka_debiased"),
        "m_identified_procrustes": checks.identification_rate(identification, "procrustes_angle"),
        "m_r_cka_procrustes": correlations.loc["1 - cka", "procrustes_angle"],
        "m_r_pwsm0_procrustes": correlations.loc["pwsm_alpha_0", "procrustes_angle"],
        "m_r_mean_off_diagonal": checks.mean_off_diagonal(correlations),
        "m_pc1_cka": first_pc[first_pc.metric == "cka"].value.iloc[0],
        "m_pc1_variance": first_pc.variance_removed.iloc[0],
    }
    return out


def deviations(bn_a: pd.DataFrame, bn_b: pd.DataFrame, centre: pd.DataFrame, shift: pd.DataFrame,
               pwsm_conv: pd.DataFrame, fit: pd.DataFrame, images: pd.DataFrame, *, arch: str, target: str) -> Summary:
    """The deviations page: the measured effect of each departure, from the tables of
    :mod:`repchange.studies.deviations` (each with a ``difference`` column; ``centre`` holds the
    per-filter Procrustes rows only, with ``default`` and ``variant`` per layer and target; ``fit`` is
    :func:`~repchange.studies.deviations.fit_measure_effect`; ``images`` is
    :func:`~repchange.studies.deviations.agreement_images_effect`)."""
    bn_pwsm = bn_b[bn_b.metric == pwsm_key(0.0)]
    rank = pd.Series([g["default"].corr(g["variant"], method="spearman") for _, g in centre.groupby("target")]).mean()
    out = Summary()
    out.phrases = {
        "dev_bn_a_sentence": f"Study A, Fig. 1: eval mode changes last-epoch CKA-to-init by up to "
                             f"{bn_a.difference.abs().max():.3f} (layer mean {bn_a.difference.mean():+.3f}); the "
                             f"random-init baseline moves by up to "
                             f"{(bn_a.eval_independent - bn_a.batch_independent).abs().max():.3f}.",
        "dev_bn_b_sentence": f"Study B ({arch}): PWSM α = 0 at the last checkpoint changes by "
                             f"{bn_pwsm.difference.abs().mean():.3f} rad on average (up to "
                             f"{bn_pwsm.difference.abs().max():.3f}).",
        "dev_centre_sentence": f"{arch}: column centring changes the last-checkpoint per-filter Procrustes distance by "
                               f"{centre.difference.abs().mean():.3f} on average (up to "
                               f"{centre.difference.abs().max():.3f}); its ordering over layers agrees with rank "
                               f"correlation {rank:.2f}.",
        "dev_shift_sentence": f"Fig. 4c: s = 1 for every seed instead of s = seed changes last-epoch CKA to the "
                              f"pre-trained net by up to {shift.difference.abs().max():.3f} (layer mean "
                              f"{shift.difference.mean():+.3f}).",
        "dev_fit_sentence": _fit_sentence(fit),
        "dev_images_sentence": _images_sentence(images, arch, target),
        "dev_pwsm_sentence": f"{arch} on {target}, source vs last checkpoint: netrep's convention differs from ours "
                             f"by {pwsm_conv.difference.abs().mean():.4f} rad on average over {len(pwsm_conv)} layers "
                             f"(up to {pwsm_conv.difference.abs().max():.4f}).",
    }
    out.numbers = {"dev_bn_a_max": bn_a.difference.abs().max(), "dev_bn_b_mean": bn_pwsm.difference.abs().mean(),
                   "dev_centre_mean": centre.difference.abs().mean(), "dev_shift_max": shift.difference.abs().max(),
                   "dev_pwsm_mean": pwsm_conv.difference.abs().mean(), "dev_fit_max": fit.difference.abs().max(),
                   "dev_images_mean": images.difference.abs().mean()}
    return out


def _images_sentence(images: pd.DataFrame, arch: str, target: str) -> str:
    """How far each pairing's r across filters moves when every probe image of a class is averaged, not the first few."""
    parts = []
    for pairing, rows in images.groupby("pairing", sort=False):
        name = "per-filter PWSM α = 0.5 (the paper's pairing)" if pairing.startswith("pwsm") else "per-filter CKA (the authors' code's)"
        parts.append(f"{name}: mean r {rows.images.mean():.3f} → {rows.all_images.mean():.3f}, each (layer, class) r "
                     f"moving by {rows.difference.abs().mean():.3f} on average (up to {rows.difference.abs().max():.3f})")
    return f"{arch} on {target}, last checkpoint, all of each class's probe images instead of the first ones — " + "; ".join(parts) + "."


def _fit_sentence(fit: pd.DataFrame) -> str:
    """Where the running training accuracy lags the end-of-epoch fit most, and how the two compare at the end."""
    worst = fit.loc[fit.difference.abs().idxmax()]
    hardest = fit[fit.degree == fit.degree.max()]
    end = hardest.loc[hardest.epoch.idxmax()]
    return (f"the two differ by up to {worst.difference:+.3f} (d = {int(worst.degree)}, epoch {int(worst.epoch)}: running "
            f"{worst.running:.3f}, fit {worst.fit:.3f}); after the last epoch at d = {int(end.degree)}: running "
            f"{end.running:.3f}, fit {end.fit:.3f}.")


def _falls(flag: bool) -> str:
    return "falls from block to block" if flag else "does not fall at every block"


def paper_beside(agreement_a: pd.DataFrame, reuse: pd.DataFrame, agreement_summary: pd.DataFrame) -> Summary:
    """The paper-beside-run page: Study A's layer-pattern agreement per condition
    (:func:`repchange.studies.beside.pattern_agreement`), Study B's reuse gap (dissimilar minus
    similar) per architecture for the paper and for us and in how many architectures its sign
    agrees (``reuse`` from :func:`repchange.studies.beside.study_b_reusability_beside`), and the
    per-filter metric agreement beside the paper's. A run without both a similar and a dissimilar target
    (e.g. 15-Scene alone) has no gap of its own: "not measured", and no sign is compared."""
    gap = reuse.pivot_table(index="arch", columns="kind", values=["paper", "ours"])
    gaps = {who: gap[(who, "dissimilar")] - gap[(who, "similar")]
            if {(who, "dissimilar"), (who, "similar")} <= set(gap.columns) else pd.Series(np.nan, index=gap.index)
            for who in ("paper", "ours")}
    compared = gaps["paper"].notna() & gaps["ours"].notna()

    def _signed(value: float) -> str:
        return f"{value:+.3f}" if np.isfinite(value) else "not measured (needs a similar and a dissimilar target)"
    overall = agreement_summary[agreement_summary.arch == "all"].iloc[0]
    out = Summary()
    out.phrases = {
        "beside_a_sentences": " ".join(
            f"*{r.condition}*: layer ordering agrees with Spearman ρ = {r.rank_agreement:.2f}; the paper's CKA "
            f"{_falls(r.paper_falls_over_blocks)}, ours {_falls(r.ours_falls_over_blocks)}."
            for r in agreement_a.itertuples()),
        "beside_b_gap": ", ".join(f"{arch}: paper {_signed(gaps['paper'][arch])}, ours {_signed(gaps['ours'][arch])}"
                                  for arch in gap.index)}
    out.numbers = {"beside_a_rank_agreement_min": agreement_a.rank_agreement.min(),
                   "beside_b_same_sign": int(((gaps["paper"] > 0) == (gaps["ours"] > 0))[compared].sum()),
                   "beside_b_archs": int(compared.sum()),
                   "beside_r_ours": overall["mean"], "beside_r_ours_std": overall["std"],
                   "beside_r_paper": paper_numbers.STUDY_B_AGREEMENT[0],
                   "beside_r_paper_std": paper_numbers.STUDY_B_AGREEMENT[1]}
    return out
