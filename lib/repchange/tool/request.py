"""What a measurement computes, checked once: the one request ``compare``, ``layer_matrix`` and the ``Tracker`` share.

A :class:`Request` is made from the arguments a user wrote and refuses, when it is made and before any activation is
computed, every combination no measurement can honour. Each refusal is a :class:`RequestError` that names the field
(``error.field``), so a caller can say it in its own words: the command line adds the flag (``--alpha``), the Python
API the argument. What only one kind of measurement refuses -- a per-filter measure or a ``positions`` view between
*different* layers -- is :meth:`Request.check_between_layers`, called by the layer x layer matrix alone.

Conventions: ``metrics`` are names of :data:`repchange.measure.registry.MEASURES`; ``alphas`` the PWSM alphas (only
with ``pwsm``); ``view`` (and ``view_b``, B's side of a matrix; None: the same) how an output becomes (samples,
features); ``bn`` "eval" or "batch"; ``null`` permutation shuffles and ``bootstrap`` draws (0: off); ``streaming``
minibatch debiased CKA over batches of ``batch_size``; ``p_adjust`` how p-values are adjusted over a table.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from repchange.measure.features import BN_MODES
from repchange.measure.registry import check_metrics
from repchange.measure.resampling import check_resampling
from repchange.tool.multiplicity import check_adjustment
from repchange.tool.streamed_matrix import MIN_BATCH
from repchange.tool.views import Pool, check_view

__all__ = ["MIN_BATCH", "Request", "RequestError"]


class RequestError(ValueError):
    """A request no measurement can honour; ``field`` names the argument(s) at fault, as the Python API spells them."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Request:
    """One measurement's settings, checked when made (see the module docstring); immutable."""

    metrics: tuple[str, ...] = ("cka", "procrustes")
    alphas: tuple[float, ...] = ()
    view: str | Pool = "flatten"
    view_b: str | Pool | None = None
    bn: str = "eval"
    null: int = 0
    null_metrics: tuple[str, ...] | None = None
    bootstrap: int = 0
    confidence: float = 0.95
    streaming: bool = False
    batch_size: int = 256
    k: int = 10
    sigma: float = 1.0
    p_adjust: str | None = "bh"

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise the sequences a user may pass as lists
        set_(self, "metrics", tuple(self.metrics))
        set_(self, "alphas", tuple(float(a) for a in self.alphas))
        if self.null_metrics is not None:
            set_(self, "null_metrics", tuple(self.null_metrics))
        for field, check in self._checks():
            try:
                check()
            except RequestError:
                raise
            except ValueError as error:
                raise RequestError(field, str(error)) from None

    def _checks(self) -> list[tuple[str, Callable[[], None]]]:
        return [("metrics, alphas", lambda: check_metrics(list(self.metrics), list(self.alphas))),
                ("view", lambda: check_view(self.view, "view")),
                ("view_b", lambda: self.view_b is None or check_view(self.view_b, "view_b")),
                ("bn", self._check_bn),
                ("null, bootstrap", lambda: check_resampling(list(self.metrics), self.null, self.bootstrap,
                                                             self.confidence)),
                ("p_adjust", lambda: check_adjustment(self.p_adjust)),
                ("null_metrics", self._check_null_metrics),
                ("streaming", self._check_streaming),
                ("view", self._check_resampled_view),
                ("batch_size", self._check_batch_size)]

    def _check_bn(self) -> None:
        if self.bn not in BN_MODES:
            raise ValueError(f"bn must be one of {BN_MODES}, got {self.bn!r}")

    def _check_null_metrics(self) -> None:
        outside = [m for m in (self.null_metrics or ()) if m not in self.metrics]
        if outside or (self.null_metrics is not None and not self.null):
            raise ValueError(f"null_metrics names which metrics get the null={self.null} shuffles: "
                             + (f"{outside} are not among metrics {list(self.metrics)}" if outside else "give null > 0"))

    def _check_streaming(self) -> None:
        if self.streaming and (self.metrics != ("cka_debiased",) or self.null or self.bootstrap):
            raise ValueError(f"streaming=True computes only metrics=('cka_debiased',) (minibatch CKA is unbiased only "
                             f"with the debiased HSIC; Procrustes and PWSM need the whole probe at once), with no null "
                             f"or bootstrap (they shuffle or resample every sample at once); got metrics="
                             f"{list(self.metrics)}, null={self.null}, bootstrap={self.bootstrap}")

    def _check_resampled_view(self) -> None:
        if (self.null or self.bootstrap) and "positions" in (self.view, self.view_b):
            raise ValueError("null and bootstrap shuffle or resample probe samples: they need one row per probe "
                             "sample (a view other than 'positions')")

    def _check_batch_size(self) -> None:
        least = MIN_BATCH if self.streaming else 1
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < least:
            raise ValueError(f"batch_size must be a whole number of at least {least}"
                             f"{' when streaming' if self.streaming else ''}, got {self.batch_size!r}")

    @property
    def side_b_view(self) -> str | Pool:
        """B's view: ``view_b``, or ``view`` where it is None."""
        return self.view if self.view_b is None else self.view_b

    def check_between_layers(self) -> None:
        """Refuse what is defined only between a layer and its own other self: a per-filter measure (filter i pairs
        with filter i) and a ``positions`` view (two layers of other resolutions have other positions)."""
        if "filter_procrustes" in self.metrics:
            raise RequestError("metrics", "filter_procrustes pairs filters of one layer with the same filters of its "
                                          "other self; between different layers use cka, cka_debiased, rbf_cka, "
                                          "mutual_knn, procrustes or pwsm")
        for field, view in (("view", self.view), ("view_b", self.side_b_view)):
            if view == "positions":
                raise RequestError(field, f"{field}='positions' makes positions the samples, and two layers of other "
                                          f"resolutions have other positions: use 'flatten', 'mean' or 'first'")

    def replace(self, **changes: Any) -> Request:
        """A checked copy with ``changes``."""
        return dataclasses.replace(self, **changes)
