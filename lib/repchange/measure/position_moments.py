"""The shape metric on positions-as-samples, from each group's moments: one pass, no tall copies.

Behzadi-Khormouji et al. compare one layer's (n, C, H, W) maps of two nets with PWSM, every spatial position of every image a
sample and the C channels its features, over all probe images and per class. The inputs are then tall: VGG19's
conv1_2 at 224 pixels on 42 probe images gives 2.1 million positions. Everything PWSM reads of them is (C, C):
the centred covariance of each side and their cross-covariance. :func:`pair_moments` accumulates these per group
(all probes, each class) in one pass over the images, a few images at a time, in float64: each side's sums and
second moments and the cross moments, each side shifted by its per-channel mean over all probes first, so
subtracting the group's mean outer product at the end loses nothing to cancellation. No float64 (n·H·W, C) copy
of either side is made. One side is often a reference compared with many maps (the source net against each
checkpoint): :func:`reference_moments` computes its moments (and, when first read, their eigendecompositions)
once, and each comparison then computes only the other side's and the cross moments: 2C² instead of 4C²
multiply-adds per position. :func:`pwsm_alphas_from_moments` then gives
:func:`repchange.measure.metrics.pwsm_alphas`'s values (the same whitening, the same normalisation; both sides'
sample counts cancel), to about 1e-12 rad (tested; ``make bench``, part 7, measures time and difference).

A narrow group, with fewer positions N than channels C (a class of a few images at a deep layer of a 224-pixel
net: ResNet-50's conv5 has 49 positions an image and 2048 channels), is kept as its positions too: they are
then fewer numbers than its (C, C) moments, only ``alpha = 1`` is defined there, and its nuclear norm comes
from the (N, N) Gram form of :func:`repchange.measure.metrics.procrustes_angle` (the very computation
``pwsm_alphas`` makes for such a pair) instead of an SVD of the (C, C) cross-covariance: O(N³ + N²C) in place
of O(C³), the reference side's Gram square root computed once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Iterable, Iterator

import torch

from repchange.measure.features import positions_as_samples
from repchange.measure.factors import Factors, UndefinedSimilarity, whitening_from_eigh
from repchange.measure.shape import _angle, procrustes_angle

__all__ = ["GroupMoments", "MOMENT_CHUNK_ELEMENTS", "PairStream", "ReferenceMoments", "ReferenceStream", "SideMoments",
           "pair_moments", "pwsm_alphas_from_moments", "reference_moments", "whitening_from_eigh"]

MOMENT_CHUNK_ELEMENTS = 2**22  # map elements of one side converted to float64 at a time (32 MiB)


@dataclass
class SideMoments:
    """One side's positions over a group: ``count`` positions, ``cov`` (C, C) float64 centred second moments
    over ``count``, ``constant`` (every channel takes one value over the group). Its eigendecomposition is
    computed once, when first read, and kept: a reference side's serves every checkpoint compared with it."""

    count: int
    cov: torch.Tensor
    constant: bool

    @functools.cached_property
    def eigh(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.linalg.eigh(self.cov)


@dataclass(frozen=True)
class GroupMoments:
    """One group's positions of a pair of layers: the two sides' :class:`SideMoments` and ``cross`` (C, C), the
    centred cross-covariance of x with y over ``count`` positions; ``positions``: for a narrow group (fewer
    positions than channels, neither side constant) both sides' (count, C) positions as
    :class:`~repchange.measure.metrics.Factors`, for the Gram form at ``alpha = 1``; otherwise None."""

    x: SideMoments
    y: SideMoments
    cross: torch.Tensor
    positions: tuple[Factors, Factors] | None = None

    @property
    def count(self) -> int:
        return self.x.count

    @property
    def channels(self) -> int:
        return self.cross.shape[0]


@dataclass
class _Sums:
    """One side's running sums over a group of shifted positions: ``count``; ``sums`` (C,); ``second`` (C, C);
    per-channel ``low`` / ``high`` of the unshifted values."""

    count: int
    sums: torch.Tensor
    second: torch.Tensor
    low: torch.Tensor
    high: torch.Tensor

    def add(self, other: "_Sums") -> "_Sums":
        return _Sums(self.count + other.count, self.sums + other.sums, self.second + other.second,
                     torch.minimum(self.low, other.low), torch.maximum(self.high, other.high))


def _total(parts: list) -> object:
    """The sum of ``parts`` (:class:`_Sums` or tensors), left to right."""
    total = parts[0]
    for part in parts[1:]:
        total = total.add(part) if isinstance(total, _Sums) else total + part
    return total


def _side(own: _Sums) -> SideMoments:
    offset = own.sums / own.count  # the group's mean minus the shift
    return SideMoments(own.count, own.second / own.count - torch.outer(offset, offset), bool((own.low == own.high).all()))


@dataclass(frozen=True)
class ReferenceMoments:
    """The reference side's (e.g. the source net's) moments per group, from one pass over its (n, C, H, W) maps:
    ``shift`` (C,), the per-channel mean over all probes that every chunk is shifted by; ``labels`` (n,) or None;
    ``sums`` and ``sides`` per group (``"all"`` and each class). Reused against every map compared with it, so
    each checkpoint computes only its own and the cross moments, and the reference's eigendecompositions once.
    ``positions``: the narrow groups' positions as :class:`~repchange.measure.metrics.Factors` (see the module's
    docstring), whose Gram square roots are likewise computed once."""

    shift: torch.Tensor
    labels: torch.Tensor | None
    shape: tuple[int, ...]
    sums: dict[str, _Sums]
    sides: dict[str, SideMoments]
    positions: dict[str, Factors]


def _checked(x: torch.Tensor, name: str) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"maps must be (n, C, H, W): got {tuple(x.shape)} for {name}")
    if not torch.isfinite(x).all():
        raise ValueError(f"feature maps contain NaN or infinite values ({name})")
    return x


def _groups(labels: torch.Tensor | None, n: int) -> dict[str, torch.Tensor | None]:
    """Image masks of the classes in sorted order (None: one group of every image)."""
    if labels is None:
        return {"all": None}
    labels = torch.as_tensor(labels)
    if labels.shape != (n,):
        raise ValueError(f"labels must be ({n},), one per image, got {tuple(labels.shape)}")
    return {str(c): labels == c for c in labels.unique().tolist()}


def _chunks(x: torch.Tensor, shift: torch.Tensor, elements: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(C, m) float64 positions of a few images of (k, C, H, W) ``x`` at a time, shifted, and the unshifted chunk."""
    step = max(1, elements // max(x[0].numel(), 1))
    for start in range(0, len(x), step):
        part = x[start : start + step]
        flat = part.transpose(0, 1).reshape(part.shape[1], -1)
        yield flat.to(torch.float64) - shift[:, None], flat


def _sums_of(z: torch.Tensor, raw: torch.Tensor) -> _Sums:
    """The :class:`_Sums` of one chunk: ``z`` (C, m) shifted float64 positions, ``raw`` the same unshifted."""
    return _Sums(z.shape[1], z.sum(1), z @ z.T, raw.amin(1).to(torch.float64), raw.amax(1).to(torch.float64))


class _Groups:
    """The probe's groups (``"all"``, or each class of ``labels`` (n,)) and where a chunk of images falls in them."""

    def __init__(self, labels: torch.Tensor | None, n: int) -> None:
        self.n, self.masks = n, _groups(labels, n)
        self.labels = None if labels is None else torch.as_tensor(labels).clone()
        # the groups whose positions are kept (every group, "all" included, as counted over the whole probe)
        self.images = {"all": n, **{g: int(m.sum()) for g, m in self.masks.items() if m is not None}}

    def of(self, x: torch.Tensor, start: int) -> Iterator[tuple[str, torch.Tensor]]:
        """Each group's images among ``x``, the probe's images ``start`` to ``start + len(x)``, in group order."""
        for group, mask in self.masks.items():
            part = x if mask is None else x[mask[start : start + len(x)].to(x.device)]
            if len(part):
                yield group, part

    def totals(self, totals: dict[str, object]) -> dict[str, object]:
        """Each group's running total; with labels, ``"all"`` first: the sum of the classes' totals, in class order."""
        return {"all": _total(list(totals.values())), **totals} if self.labels is not None else totals


def _added(totals: dict[str, object], group: str, part: object) -> None:
    """Add ``part`` to ``group``'s running total in ``totals``; called in order, the very sums of :func:`_total` over
    all of a group's parts at once, without keeping them (a (C, C) float64 total a group, whatever the chunks)."""
    totals[group] = _total([totals[group], part]) if group in totals else part


def _foreign_reference() -> ValueError:
    return ValueError("reference was computed from other maps or labels than x and labels: pass "
                      "reference_moments(x, labels) of these maps and labels")


class _Stream:
    """What both streams share: the groups, the images seen so far, the maps' shape and the kept narrow rows."""

    def __init__(self, labels: torch.Tensor | None, n: int, elements: int) -> None:
        self.groups, self.elements, self.seen = _Groups(labels, n), elements, 0
        self.item_shape: tuple[int, ...] | None = None
        self.rows: dict[str, list[torch.Tensor]] = {}

    def _take(self, x: torch.Tensor, name: str) -> int:
        """Check the next images ``x`` of the stream; returns their first index."""
        x = _checked(x, name)
        if self.item_shape is None:
            self.item_shape = tuple(x.shape[1:])
        elif tuple(x.shape[1:]) != self.item_shape:
            raise ValueError(f"maps must be (n, C, H, W) of one shape: got {tuple(x.shape)} after (k, *{self.item_shape})")
        if self.seen + len(x) > self.groups.n:
            raise ValueError(f"{self.seen + len(x)} images given to moments of {self.groups.n}")
        return self.seen

    def _maybe_narrow(self) -> list[str]:
        """Groups with fewer positions than channels (their positions are kept: fewer numbers than their moments)."""
        c, h, w = self.item_shape
        return [g for g, k in self.groups.images.items() if k * h * w < c]

    def _keep_rows(self, x: torch.Tensor, start: int) -> None:
        narrow = self._maybe_narrow()
        if "all" in narrow:
            self.rows.setdefault("all", []).append(positions_as_samples(x))
        for group, part in self.groups.of(x, start):
            if group != "all" and group in narrow:
                self.rows.setdefault(group, []).append(positions_as_samples(part))

    def _check_complete(self) -> None:
        if self.seen != self.groups.n:
            raise ValueError(f"moments of {self.groups.n} images were given {self.seen}: pass every image once")

    def _positions(self, sides: dict[str, SideMoments], name: str) -> dict[str, Factors]:
        return {g: Factors(torch.cat(self.rows[g]), f"{name} ({g})") for g, side in sides.items()
                if g in self.rows and _narrow(side, self.item_shape[0])}


class ReferenceStream(_Stream):
    """:func:`reference_moments` of maps given a few images at a time (:meth:`add`, in probe order), then
    :meth:`finish`. The shift is the first chunk's per-channel mean (with one chunk: the mean over all probes, and
    the very numbers of :func:`reference_moments`); memory: the group's (C, C) sums, not the maps."""

    def __init__(self, labels: torch.Tensor | None, n: int, *, elements: int = MOMENT_CHUNK_ELEMENTS) -> None:
        super().__init__(labels, n, elements)
        self.shift: torch.Tensor | None = None
        self.sums: dict[str, _Sums] = {}

    def add(self, x: torch.Tensor) -> None:
        """The next ``len(x)`` images' (k, C, H, W) maps."""
        start = self._take(x, "the reference maps")
        if self.shift is None:
            self.shift = x.mean((0, 2, 3), dtype=torch.float64)
        for group, part in self.groups.of(x, start):
            for z, raw in _chunks(part, self.shift, self.elements):
                _added(self.sums, group, _sums_of(z, raw))
        self._keep_rows(x, start)
        self.seen += len(x)

    def finish(self) -> ReferenceMoments:
        self._check_complete()
        sums = self.groups.totals(self.sums)
        sides = {g: _side(s) for g, s in sums.items()}
        return ReferenceMoments(self.shift, self.groups.labels, (self.groups.n, *self.item_shape), sums, sides,
                                self._positions(sides, "the reference maps"))


class PairStream(_Stream):
    """:func:`pair_moments` of maps given a few images at a time (:meth:`add` both sides' next images, in probe
    order), then :meth:`finish`. ``reference``: x's finished :class:`ReferenceMoments` under the same labels
    (from an earlier pass), or None: x's moments are then built in this same pass (:attr:`reference` after
    :meth:`finish`). With one chunk the numbers are :func:`pair_moments`'s to the bit."""

    def __init__(self, labels: torch.Tensor | None, n: int, *, reference: ReferenceMoments | None = None,
                 elements: int = MOMENT_CHUNK_ELEMENTS) -> None:
        super().__init__(labels, n, elements)
        if reference is not None and (reference.shape[0] != n or (reference.labels is None) != (labels is None) or (
                labels is not None and not torch.equal(reference.labels, torch.as_tensor(labels)))):
            raise _foreign_reference()
        self.reference: ReferenceMoments | ReferenceStream = (
            ReferenceStream(labels, n, elements=elements) if reference is None else reference)
        self.shift: torch.Tensor | None = None
        self.own: dict[str, _Sums] = {}
        self.cross: dict[str, torch.Tensor] = {}

    def add(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """The next ``len(x)`` images' (k, C, H, W) maps of both sides."""
        x = _checked(x, "x")
        start = self._take(y, "y")
        if x.shape != y.shape:
            raise ValueError(f"maps must be (n, C, H, W) of one shape: got {tuple(x.shape)} and {tuple(y.shape)}")
        if isinstance(self.reference, ReferenceStream):
            self.reference.add(x)
        elif tuple(x.shape[1:]) != self.reference.shape[1:]:
            raise _foreign_reference()
        if self.shift is None:
            self.shift = y.mean((0, 2, 3), dtype=torch.float64)
        xs = dict(self.groups.of(x, start))
        for group, ys in self.groups.of(y, start):
            for (zx, _), (zy, raw) in zip(_chunks(xs[group], self.reference.shift, self.elements),
                                          _chunks(ys, self.shift, self.elements)):
                _added(self.own, group, _sums_of(zy, raw))
                _added(self.cross, group, zx @ zy.T)
        self._keep_rows(y, start)
        self.seen += len(y)

    def finish(self) -> dict[str, GroupMoments]:
        self._check_complete()
        if isinstance(self.reference, ReferenceStream):
            self.reference = self.reference.finish()
        reference = self.reference
        own, cross = self.groups.totals(self.own), self.groups.totals(self.cross)
        sides = {group: _side(sums) for group, sums in own.items()}
        narrow = self._positions({g: s for g, s in sides.items() if g in reference.positions}, "y")
        out = {}
        for group in own:
            xsum = reference.sums[group]
            cxy = cross[group] / xsum.count - torch.outer(xsum.sums / xsum.count, own[group].sums / xsum.count)
            pair = (reference.positions[group], narrow[group]) if group in narrow else None
            out[group] = GroupMoments(reference.sides[group], sides[group], cxy, pair)
        return out


def reference_moments(x: torch.Tensor, labels: torch.Tensor | None = None, *,
                      elements: int = MOMENT_CHUNK_ELEMENTS) -> ReferenceMoments:
    """:class:`ReferenceMoments` of (n, C, H, W) maps ``x``: ``"all"`` and, with ``labels`` (n,), each class as
    ``str(class index)`` (:class:`ReferenceStream` given every image at once)."""
    x = _checked(x, "the reference maps")
    stream = ReferenceStream(labels, len(x), elements=elements)
    stream.add(x)
    return stream.finish()


def _narrow(side: SideMoments, channels: int) -> bool:
    """Whether a group's side is kept as positions: fewer positions than channels, and not constant."""
    return side.count < channels and not side.constant


def pair_moments(x: torch.Tensor, y: torch.Tensor, labels: torch.Tensor | None = None, *,
                 reference: ReferenceMoments | None = None,
                 elements: int = MOMENT_CHUNK_ELEMENTS) -> dict[str, GroupMoments]:
    """:class:`GroupMoments` of the positions of (n, C, H, W) maps ``x`` and ``y`` (the same images, in the same
    order): ``"all"``, and with ``labels`` (n,) each class as ``str(class index)``, classes in sorted order.
    ``reference``: x's :func:`reference_moments` under the same labels, computed once and passed for every y
    compared with x (x's own moments and eigendecompositions are then not computed again).
    ``elements``: map elements of one side converted to float64 at a time (at least one image).
    (:class:`PairStream` given every image at once.)"""
    x, y = _checked(x, "x"), _checked(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"maps must be (n, C, H, W) of one shape: got {tuple(x.shape)} and {tuple(y.shape)}")
    if reference is None:
        reference = reference_moments(x, labels, elements=elements)
    elif reference.shape != tuple(x.shape):
        raise _foreign_reference()
    stream = PairStream(labels, len(x), reference=reference, elements=elements)
    stream.add(x, y)
    return stream.finish()


def pwsm_alphas_from_moments(group: GroupMoments, alphas: Iterable[float], *, scale_free: bool = True,
                             name: str = "maps") -> dict[float, float]:
    """PWSM (radians) of the group's two sides at each of ``alphas``, as
    :func:`repchange.measure.metrics.pwsm_alphas` computes it from the positions themselves. Raises
    :class:`~repchange.measure.metrics.UndefinedSimilarity` when a side is constant over the group, and ValueError
    for ``alpha < 1`` with fewer positions than channels (whitening undefined), naming ``name``."""
    c = group.channels
    if group.x.constant or group.y.constant:
        side = "x" if group.x.constant else "y"
        raise UndefinedSimilarity(f"undefined: {name} ({side}) is constant across its {group.count} positions, "
                                  f"e.g. a dead layer: it has no self-similarity to normalise by")
    cxx, cyy, cxy = group.x.cov, group.y.cov, group.cross
    out = {}
    for alpha in alphas:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
        if alpha == 1.0 and group.positions is not None:  # narrow: the (N, N) Gram form, as pwsm_alphas does
            out[alpha] = procrustes_angle(*group.positions)
            continue
        if alpha == 1.0:
            out[alpha] = _angle(torch.linalg.svdvals(cxy).sum() / torch.sqrt(torch.trace(cxx) * torch.trace(cyy)))
            continue
        if group.count < c:
            raise UndefinedSimilarity(f"undefined: partial whitening with alpha={alpha} needs at least as many samples "
                                      f"as features, but {name} has {group.count} positions of {c} channels; use "
                                      f"alpha=1, more probe images, or fewer features")
        wx = whitening_from_eigh(*group.x.eigh, alpha, scale_free=scale_free)
        wy = whitening_from_eigh(*group.y.eigh, alpha, scale_free=scale_free)
        norms = ((wx @ cxx) * wx).sum() * ((wy @ cyy) * wy).sum()
        out[alpha] = _angle(torch.linalg.svdvals(wx @ cxy @ wy).sum() / torch.sqrt(norms))
    return out
