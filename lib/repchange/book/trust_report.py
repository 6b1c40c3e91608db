"""Which measures Study A's verdicts may trust: the trust report of :mod:`repchange.tool.validate` on the very
activations the ledger reads -- the first seed's pre-trained net at its last epoch, on the chapter's probe images,
with BatchNorm as the tables extract it -- and the second seed's net as its twin (another seed, the same recipe)."""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import pandas as pd
import torch

from repchange.measure.features import extract
from repchange.runs.runtime import Runtime
from repchange.studies.a.pretraining import pretrain
from repchange.studies.a.tables import CkaToInitParams
from repchange.tool.validate import DEFAULT_METRICS, validate_activations

__all__ = ["pretrained_trust"]


def pretrained_trust(params: CkaToInitParams, runtime: Runtime | None = None, *,
                     metrics: Sequence[str] = DEFAULT_METRICS, resamples: int = 5) -> pd.DataFrame:
    """The trust report (:func:`repchange.tool.validate.validate_activations`: layer, metric, construction, kind,
    change and its interval, ...) of ``metrics`` on each probed layer of ``params``' first seed's net at its last
    epoch, flattened as the tables read it, over ``resamples`` probe subsamples; with a second seed, its net at the
    same epoch is the twin. The runs are the chapter's stored ones (trained if missing)."""
    runtime = runtime or Runtime()
    ds = runtime.load(params.pretrain.dataset)
    probe = ds.test.subset(slice(0, params.n_probe))

    def last_epoch(seed: int) -> dict[str, torch.Tensor]:
        run = pretrain(replace(params.pretrain, seed=seed), ds, runtime=runtime)
        model = run.model_at(run.config.epochs)
        return extract(model, model.probe_layers, probe, bn=params.bn)

    twins = last_epoch(params.seeds[1]) if len(params.seeds) > 1 else None
    return validate_activations(last_epoch(params.seeds[0]), metrics=metrics, resamples=resamples, twins=twins,
                                progress=False)
