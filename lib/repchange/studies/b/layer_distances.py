"""One layer's distances of fine-tuned maps to the source's, gathered a few probe images at a time.

:class:`LayerDistances` gives a distance table's rows of one layer (all probes and each class): the per-filter
Procrustes distance (1 - the nan-mean over images and filters of :func:`repchange.measure.filter_chunks.procrustes_similarity`)
and PWSM at each alpha from each group's position moments (:class:`repchange.measure.position_moments.PairStream`).
:func:`filter_distances` and :func:`filter_r_rows` are the metric agreement's per-filter distances of a chunk and the
Pearson r's across filters of their class means. The chunks come from :mod:`repchange.studies.b.streaming`.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from repchange.measure import filter_chunks
from repchange.measure.metrics import pearson, pwsm_key
from repchange.measure.position_moments import PairStream, ReferenceMoments, pwsm_alphas_from_moments
from repchange.studies.b import analysis

__all__ = ["AGREEMENT_ALPHA", "AGREEMENT_PAIRINGS", "LayerDistances", "class_groups", "filter_distances",
           "filter_r_rows"]

AGREEMENT_ALPHA = 0.5  # the per-filter PWSM of the paper's pairing: its "partial" whitening
AGREEMENT_PAIRINGS = (analysis.PAPER_PAIRING, analysis.AUTHORS_PAIRING)


def class_groups(labels: torch.Tensor, per_class: bool = True) -> list[tuple[str, torch.Tensor]]:
    """``("all", all probes)`` and, with ``per_class``, ``(class index, its probes)`` masks."""
    groups = [("all", torch.ones_like(labels, dtype=torch.bool))]
    if per_class:
        groups += [(str(c), labels == c) for c in labels.unique().tolist()]
    return groups


class LayerDistances:
    """One layer's distance rows of fine-tuned (n, C, H, W) maps to the source's, over the probe's ``labels`` (n,),
    given a few images at a time (:meth:`add`, in probe order). ``reference``: the source maps' moments under
    ``labels`` from an earlier checkpoint (None: built in this pass; :attr:`reference` after :meth:`rows`)."""

    def __init__(self, labels: torch.Tensor, alphas: tuple[float, ...], *, per_class: bool = True,
                 centre: str = "rows", reference: ReferenceMoments | None = None) -> None:
        self.labels, self.alphas, self.per_class, self.centre = labels, alphas, per_class, centre
        self.similarity: list[torch.Tensor] = []  # (k, C) per chunk, NaN for dead maps
        self.moments = PairStream(labels, len(labels), reference=reference)  # every class: "all" is their sum

    def add(self, src: torch.Tensor, now: torch.Tensor) -> None:
        """The next images' (k, C, H, W) maps of the source net and of the fine-tuned one."""
        self.similarity.append(filter_chunks.procrustes_similarity(src, now, centre=self.centre).cpu())
        self.moments.add(src, now)

    @property
    def reference(self) -> ReferenceMoments:
        """The source maps' moments, once :meth:`rows` has finished the pass."""
        reference = self.moments.reference
        if not isinstance(reference, ReferenceMoments):
            raise RuntimeError("the source's moments are finished by rows(): call it first")
        return reference

    def rows(self) -> list[dict[str, object]]:
        """Rows of cls, metric (``procrustes_filter``, ``pwsm_alpha_<a>``), alpha, value and dead_fraction (the
        share of (image, filter) maps that were all zero; NaN for PWSM). A class with fewer positions than channels
        leaves whitening undefined (alpha < 1): NaN there, while for all probes together the error stands."""
        similarity = torch.cat(self.similarity)
        moments = self.moments.finish()
        rows = []
        for cls, mask in class_groups(self.labels, self.per_class):
            sim = similarity[mask].numpy()
            rows.append(dict(cls=cls, metric="procrustes_filter", alpha=np.nan, value=float(1 - np.nanmean(sim)) if
                             np.isfinite(sim).any() else np.nan, dead_fraction=float(np.isnan(sim).mean())))
            group = moments[cls]
            defined = [a for a in self.alphas if not (cls != "all" and a < 1 and group.count < group.channels)]
            values = pwsm_alphas_from_moments(group, defined, name=f"source and fine-tuned maps ({cls})")
            rows += [dict(cls=cls, metric=pwsm_key(alpha), alpha=alpha, value=values.get(alpha, np.nan),
                          dead_fraction=np.nan) for alpha in self.alphas]
        return rows


def filter_distances(src: torch.Tensor, now: torch.Tensor, centre: str,
                     src_whitened: filter_chunks.ChunkedWhitened | None = None) -> dict[str, np.ndarray]:
    """The agreement's per-filter distances of (k, C, H, W) maps, each (k, C): ``procrustes`` and each pairing's."""
    return {"procrustes": 1 - filter_chunks.procrustes_similarity(src, now, centre=centre).cpu().numpy(),
            AGREEMENT_PAIRINGS[0]: filter_chunks.pwsm(src if src_whitened is None else src_whitened, now,
                                                      alpha=AGREEMENT_ALPHA, centre=centre).cpu().numpy(),
            "cka": 1 - filter_chunks.cka(src, now, centre=centre).cpu().numpy()}


def filter_r_rows(distances: dict[str, np.ndarray], labels: torch.Tensor) -> list[dict[str, object]]:
    """Per class of ``labels`` (n,) and pairing: Pearson r across filters of the per-filter Procrustes distance and
    the pairing's, each the mean over the class's images of :func:`filter_distances`' (n, C) values."""
    out = []
    for cls, mask in class_groups(labels)[1:]:
        rows = mask.numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN filters (dead on every image) stay NaN
            means = {name: np.nanmean(d[rows], axis=0) for name, d in distances.items()}
        for pairing in AGREEMENT_PAIRINGS:
            both = np.isfinite(means["procrustes"]) & np.isfinite(means[pairing])
            try:
                r = pearson(means["procrustes"], means[pairing])
            except ValueError:  # fewer than 3 live filters, or a distance constant over them
                r = np.nan
            out.append(dict(cls=cls, pairing=pairing, r=r, n_filters=int(both.sum())))
    return out
