"""Per-filter measures of (..., H, W) maps: each filter's map of one net against the same filter of another
(Procrustes similarity, CKA, PWSM over spatial positions), and Pearson r between two vectors of such values.
"""

from __future__ import annotations

import torch

from repchange.base.threads import torch_threads
from repchange.measure.factors import ArrayLike, EIG_RTOL, _tensor
from repchange.measure.kernels import kernel

KEYED_BY_KERNELS = True  # stored results name these kernels' versions, not this file's text (measure.kernels)
__all__ = ["CENTRINGS", "FilterWhitened", "filter_cka", "filter_procrustes_similarity", "filter_pwsm", "pearson"]

CENTRINGS = ("rows", "columns")


def _finite(t: torch.Tensor) -> bool:
    """Whether every element of ``t`` is finite: a finite sum proves it (a NaN or an infinity makes the sum
    non-finite) in one pass without a mask; only a non-finite sum, or one that overflowed, looks element by element."""
    return bool(torch.isfinite(t.sum())) or bool(torch.isfinite(t).all())


def _centred(t: torch.Tensor, centre: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A (..., H, W) stack in float64, centred as ``centre`` says, and the mask of its constant (dead) maps."""
    t = t.to(torch.float64)
    if not _finite(t):
        raise ValueError("feature maps contain NaN or infinite values")
    centred = t - t.mean(-1 if centre == "rows" else -2, keepdim=True)
    return centred, torch.linalg.matrix_norm(centred) == 0


def _filter_maps(a: ArrayLike, b: ArrayLike | None, centre: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Both (..., H, W) stacks centred as ``centre`` says, in float64, and a mask of the constant
    (dead) maps of either, of the leading shape. ``b=None``: one stack (``b`` is ``a``), converted and centred once."""
    if centre not in CENTRINGS:
        raise ValueError(f"centre must be one of {CENTRINGS}, got {centre!r}")
    at = _tensor(a)
    bt = at if b is None else _tensor(b)
    if at.shape != bt.shape or at.ndim < 2:
        raise ValueError(f"maps must have the same shape (..., H, W): got {tuple(at.shape)} and {tuple(bt.shape)}")
    ac, dead = _centred(at, centre)
    if b is None:
        return ac, ac, dead
    bc, dead_b = _centred(bt, centre)
    return ac, bc, dead | dead_b


@kernel(1)
def filter_procrustes_similarity(a: ArrayLike, b: ArrayLike, *, centre: str = "rows") -> torch.Tensor:
    """The per-filter Procrustes similarity (Behzadi-Khormouji et al.) of (..., H, W) maps, in [0, 1].

    Each H×W map is centred, scaled to unit Frobenius norm and scored ``||A*ᵀB*||_*``.
    ``centre="rows"`` subtracts each row's mean (the authors' code, ``mean(dim=1)`` on an H×W
    map); ``centre="columns"`` subtracts the mean row, as ``scipy.spatial.procrustes`` does, and
    then ``1 - score²`` is scipy's disparity. Constant maps (dead filters; with row centring also
    maps constant along every row) give NaN. Vectorised over the leading axes; float64 of the
    leading shape.
    """
    ac, bc, dead = _filter_maps(a, b, centre)
    norms = torch.linalg.matrix_norm(ac, keepdim=True) * torch.linalg.matrix_norm(bc, keepdim=True)
    cross = ac.transpose(-1, -2) @ bc / torch.where(norms > 0, norms, torch.ones_like(norms))
    with torch_threads(1):  # a batch of small SVDs: one thread is faster, and robust to a busy machine
        score = torch.linalg.svdvals(cross).sum(-1)
    return torch.where(dead, torch.full_like(score, torch.nan), score.clamp(0, 1))


@kernel(1)
def filter_cka(a: ArrayLike, b: ArrayLike, *, centre: str = "rows") -> torch.Tensor:
    """Per-filter linear CKA of (..., H, W) maps, in [0, 1], in the orientation of the authors' code and of
    :func:`filter_procrustes_similarity`: the H rows are samples, the W columns features.

    Each map is first centred as Procrustes centres it (``centre``); CKA's own centring of the samples
    (the HSIC centring matrix of the authors' code) then subtracts the mean row, which changes nothing
    for ``centre="columns"``. The score is ``||AᵀB||²_F / (||AᵀA||_F ||BᵀB||_F)``. NaN where either map
    is constant. Vectorised over the leading axes; float64 of the leading shape.
    """
    ac, bc, dead = _filter_maps(a, b, centre)
    ac, bc = ac - ac.mean(-2, keepdim=True), bc - bc.mean(-2, keepdim=True)
    at_, bt_ = ac.transpose(-1, -2), bc.transpose(-1, -2)
    cross = torch.linalg.matrix_norm(at_ @ bc) ** 2
    norms = torch.linalg.matrix_norm(at_ @ ac) * torch.linalg.matrix_norm(bt_ @ bc)
    score = cross / torch.where(norms > 0, norms, torch.ones_like(norms))
    return torch.where(dead | (norms == 0), torch.full_like(score, torch.nan), score.clamp(0, 1))


def _filter_whitened(m: torch.Tensor, alpha: float) -> torch.Tensor:
    """(..., H, W) maps times ``αI + (1-α) C̃^(-1/2)``, C̃ = MᵀM / H over its mean eigenvalue; directions
    of zero variance are left out of the whitening (as :meth:`Factors.whitening`)."""
    if alpha == 1.0:
        return m
    with torch_threads(1):  # see filter_procrustes_similarity
        values, vectors = torch.linalg.eigh(m.transpose(-1, -2) @ m / m.shape[-2])
    values = values.clamp_min(0)
    mean = values.mean(-1, keepdim=True)
    values = values / torch.where(mean > 0, mean, torch.ones_like(mean))
    keep = values > EIG_RTOL * values.amax(-1, keepdim=True)
    inv_sqrt = torch.where(keep, values.clamp_min(torch.finfo(values.dtype).tiny).rsqrt(), torch.zeros_like(values))
    eye = torch.eye(m.shape[-1], dtype=m.dtype, device=m.device)
    return m @ (alpha * eye + (1 - alpha) * (vectors * inv_sqrt.unsqueeze(-2)) @ vectors.transpose(-1, -2))


@kernel(1)
class FilterWhitened:
    """One side of :func:`filter_pwsm`, computed once: (..., H, W) maps centred as ``centre`` says and
    whitened at ``alpha`` (``maps``), and the mask of constant maps (``dead``). a source net meets
    every checkpoint: whiten it once."""

    def __init__(self, maps: ArrayLike, *, alpha: float, centre: str = "rows") -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
        centred, _, dead = _filter_maps(maps, None, centre)
        self.alpha, self.centre, self.dead = alpha, centre, dead
        self.maps = _filter_whitened(centred, alpha)
        self.norms = torch.linalg.matrix_norm(self.maps)


@kernel(1)
def filter_pwsm(a: ArrayLike | FilterWhitened, b: ArrayLike | FilterWhitened, *, alpha: float,
                centre: str = "rows") -> torch.Tensor:
    """Per-filter partial-whitening shape metric (the paper's Eq. 1 applied to one filter's map), radians in
    [0, π/2], of (..., H, W) maps in the orientation and centring of :func:`filter_procrustes_similarity`
    (rows are samples, columns features): ``arccos(||φ(A)ᵀφ(B)||_* / (||φ(A)||_F ||φ(B)||_F))`` with
    ``φ(M) = M (αI + (1-α) C̃^(-1/2))`` (see :func:`pwsm`). ``alpha=1`` is the arccos of the per-filter
    Procrustes similarity. With fewer samples than features (H ≤ W) full whitening (α = 0) leaves little
    to compare. NaN where either map is constant. Either side may be a :class:`FilterWhitened` of the same
    ``alpha`` and ``centre`` (computed once, reused). Vectorised over the leading axes; float64.
    """
    pa, pb = (x if isinstance(x, FilterWhitened) else FilterWhitened(x, alpha=alpha, centre=centre) for x in (a, b))
    for side in (pa, pb):
        if (side.alpha, side.centre) != (alpha, centre):
            raise ValueError(f"a FilterWhitened of alpha={side.alpha}, centre={side.centre!r} passed to filter_pwsm "
                             f"with alpha={alpha}, centre={centre!r}")
    if pa.maps.shape != pb.maps.shape:
        raise ValueError(f"maps must have the same shape (..., H, W): got {tuple(pa.maps.shape)} and "
                         f"{tuple(pb.maps.shape)}")
    with torch_threads(1):  # see filter_procrustes_similarity
        nuclear = torch.linalg.svdvals(pa.maps.transpose(-1, -2) @ pb.maps).sum(-1)
    norms = pa.norms * pb.norms
    cosine = (nuclear / torch.where(norms > 0, norms, torch.ones_like(norms))).clamp(0, 1)
    return torch.where(pa.dead | pb.dead | (norms == 0), torch.full_like(cosine, torch.nan), torch.arccos(cosine))


@kernel(1)
def pearson(a: ArrayLike, b: ArrayLike) -> float:
    """Pearson r between two equal-length vectors, over the positions where both are finite."""
    at = _tensor(a).to(torch.float64).flatten()
    bt = _tensor(b).to(torch.float64).flatten()
    if at.shape != bt.shape:
        raise ValueError(f"pearson needs equal lengths, got {at.numel()} and {bt.numel()}")
    keep = torch.isfinite(at) & torch.isfinite(bt)
    if int(keep.sum()) < 3:
        raise ValueError(f"pearson needs at least 3 positions where both values are finite, got {int(keep.sum())}")
    ac, bc = at[keep] - at[keep].mean(), bt[keep] - bt[keep].mean()
    denom = torch.sqrt((ac * ac).sum() * (bc * bc).sum())
    if denom == 0:
        raise ValueError("pearson is undefined: one of the inputs is constant where both are finite")
    return float((ac * bc).sum() / denom)
