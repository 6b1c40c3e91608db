"""Study B's shape metric on positions-as-samples, from each group's moments: one pass, no tall copies.

Study B compares one layer's (n, C, H, W) maps of two nets with PWSM, every spatial position of every image a
sample and the C channels its features, over all probe images and per class. The inputs are then tall: VGG19's
conv1_2 at 224 pixels on 42 probe images gives 2.1 million positions. Everything PWSM reads of them is (C, C):
the centred covariance of each side and their cross-covariance. :func:`pair_moments` accumulates these per group
(all probes, each class) in one pass over the images, a few images at a time, in float64: the sums and second
moments of the stacked positions ``[x | y]`` (2C features), each shifted by the per-channel mean over all probes
first, so subtracting the group's mean outer product at the end loses nothing to cancellation. No float64
(n·H·W, C) copy of either side is made. :func:`pwsm_alphas_from_moments` then gives
:func:`repchange.core.metrics.pwsm_alphas`'s values (the same whitening, the same normalisation; both sides'
sample counts cancel), to about 1e-12 rad (tested; ``make bench``, part 7, measures time and difference).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch

from repchange.core.metrics import UndefinedSimilarity, _angle, _psd_power

__all__ = ["GroupMoments", "MOMENT_CHUNK_ELEMENTS", "pair_moments", "pwsm_alphas_from_moments", "whitening_from_eigh"]

MOMENT_CHUNK_ELEMENTS = 2**22  # map elements of [x | y] converted to float64 at a time (32 MiB)


@dataclass(frozen=True)
class GroupMoments:
    """One group's positions of a pair of layers: ``count`` positions; ``cov`` (2C, 2C) float64, the centred
    second moments of ``[x | y]`` over ``count`` (so ``cov[:C, :C]`` is x's covariance, ``cov[:C, C:]`` the
    cross-covariance); ``constant_x`` / ``constant_y``: every channel of that side takes one value over the group."""

    count: int
    cov: torch.Tensor
    constant_x: bool
    constant_y: bool

    @property
    def channels(self) -> int:
        return self.cov.shape[0] // 2


@dataclass
class _Sums:
    count: int
    sums: torch.Tensor  # (2C,) of the shifted positions
    second: torch.Tensor  # (2C, 2C)
    low: torch.Tensor  # (2C,) per-channel minimum (unshifted)
    high: torch.Tensor  # (2C,) per-channel maximum

    def add(self, other: "_Sums") -> "_Sums":
        return _Sums(self.count + other.count, self.sums + other.sums, self.second + other.second,
                     torch.minimum(self.low, other.low), torch.maximum(self.high, other.high))

    def moments(self) -> GroupMoments:
        c = self.sums.shape[0] // 2
        offset = self.sums / self.count  # the group's mean minus the shift
        cov = self.second / self.count - torch.outer(offset, offset)
        flat = self.low == self.high
        return GroupMoments(self.count, cov, bool(flat[:c].all()), bool(flat[c:].all()))


def _group_sums(x: torch.Tensor, y: torch.Tensor, shift: torch.Tensor, elements: int) -> _Sums:
    """Shifted sums and second moments of the positions of (k, C, H, W) maps ``x`` and ``y``, in chunks of images."""
    per_image = 2 * x[0].numel()
    step = max(1, elements // max(per_image, 1))
    total: _Sums | None = None
    for start in range(0, len(x), step):
        xs, ys = x[start : start + step], y[start : start + step]
        z = torch.cat([xs.transpose(0, 1).reshape(xs.shape[1], -1), ys.transpose(0, 1).reshape(ys.shape[1], -1)])
        low, high = z.amin(1).to(torch.float64), z.amax(1).to(torch.float64)
        z = z.to(torch.float64) - shift[:, None]
        part = _Sums(z.shape[1], z.sum(1), z @ z.T, low, high)
        total = part if total is None else total.add(part)
    assert total is not None
    return total


def pair_moments(x: torch.Tensor, y: torch.Tensor, labels: torch.Tensor | None = None, *,
                 elements: int = MOMENT_CHUNK_ELEMENTS) -> dict[str, GroupMoments]:
    """:class:`GroupMoments` of the positions of (n, C, H, W) maps ``x`` and ``y`` (the same images, in the same
    order): ``"all"``, and with ``labels`` (n,) each class as ``str(class index)``, classes in sorted order.
    ``elements``: map elements of ``[x | y]`` converted to float64 at a time (at least one image)."""
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    if x.ndim != 4 or x.shape != y.shape:
        raise ValueError(f"maps must be (n, C, H, W) of one shape: got {tuple(x.shape)} and {tuple(y.shape)}")
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise ValueError("feature maps contain NaN or infinite values")
    shift = torch.cat([x.mean((0, 2, 3), dtype=torch.float64), y.mean((0, 2, 3), dtype=torch.float64)])
    if labels is None:
        return {"all": _group_sums(x, y, shift, elements).moments()}
    labels = torch.as_tensor(labels)
    if labels.shape != (len(x),):
        raise ValueError(f"labels must be ({len(x)},), one per image, got {tuple(labels.shape)}")
    per_class = {str(c): _group_sums(x[labels == c], y[labels == c], shift, elements)
                 for c in labels.unique().tolist()}
    sums = list(per_class.values())
    everything = sums[0]
    for part in sums[1:]:
        everything = everything.add(part)
    return {"all": everything.moments(), **{c: s.moments() for c, s in per_class.items()}}


def whitening_from_eigh(values: torch.Tensor, vectors: torch.Tensor, alpha: float, *, scale_free: bool = True
                        ) -> torch.Tensor:
    """(C, C) map ``αI + (1-α) C̃^(-1/2)`` from the eigendecomposition of a covariance C, as
    :meth:`repchange.core.metrics.Factors.whitening` makes it: C̃ = C over its mean eigenvalue (``scale_free``),
    eigenvalues below ``EIG_RTOL`` of the largest left out of the inverse. Written out here, not shared with
    ``Factors``: ``core.metrics`` is part of every Study A table's code version and of the scale record's key,
    so an edit there would leave every stored Study A table and the recorded scale runs unread."""
    if scale_free:
        values = values / values.clamp_min(0).mean()
    inv_sqrt = _psd_power(values, vectors, -0.5)
    eye = torch.eye(len(values), dtype=torch.float64, device=inv_sqrt.device)
    return alpha * eye + (1 - alpha) * inv_sqrt


def pwsm_alphas_from_moments(group: GroupMoments, alphas: Iterable[float], *, scale_free: bool = True,
                             name: str = "maps") -> dict[float, float]:
    """PWSM (radians) of the group's two sides at each of ``alphas``, as
    :func:`repchange.core.metrics.pwsm_alphas` computes it from the positions themselves. Raises
    :class:`~repchange.core.metrics.UndefinedSimilarity` when a side is constant over the group, and ValueError
    for ``alpha < 1`` with fewer positions than channels (whitening undefined), naming ``name``."""
    c = group.channels
    if group.constant_x or group.constant_y:
        side = "x" if group.constant_x else "y"
        raise UndefinedSimilarity(f"undefined: {name} ({side}) is constant across its {group.count} positions, "
                                  f"e.g. a dead layer: it has no self-similarity to normalise by")
    cxx, cyy, cxy = group.cov[:c, :c], group.cov[c:, c:], group.cov[:c, c:]
    eigh: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    out = {}
    for alpha in alphas:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
        if alpha == 1.0:
            out[alpha] = _angle(torch.linalg.svdvals(cxy).sum() / torch.sqrt(torch.trace(cxx) * torch.trace(cyy)))
            continue
        if group.count < c:
            raise ValueError(f"partial whitening with alpha={alpha} needs at least as many samples as features, "
                             f"but {name} has {group.count} positions of {c} channels; use alpha=1, more probe "
                             f"images, or fewer features")
        if not eigh:
            eigh.update(x=torch.linalg.eigh(cxx), y=torch.linalg.eigh(cyy))
        wx = whitening_from_eigh(*eigh["x"], alpha, scale_free=scale_free)
        wy = whitening_from_eigh(*eigh["y"], alpha, scale_free=scale_free)
        norms = ((wx @ cxx) * wx).sum() * ((wy @ cyy) * wy).sum()
        out[alpha] = _angle(torch.linalg.svdvals(wx @ cxy @ wy).sum() / torch.sqrt(norms))
    return out
