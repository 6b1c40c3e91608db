"""Study A's claims at more SGD steps: the book's protocol on larger pre-training sets.

The default book pre-trains conv4 on 1,024 images for 16 epochs (512 SGD steps); the authors' code trains on
50,000 images for 150 epochs (about 234,000). A *scale* is one (pre-training images, epochs) pair; at each
scale every Study A table is rebuilt from the book's parameters with only these changed:

- the pre-training set (``train_size``; None: the whole train split) and its epochs, for every degree and seed;
- Fig. 3b's sizes: the book's sizes below the scale's image count, then the scale's own (its d = 9 runs are the
  degree sweep's), trained for the scale's epochs, with the smallest size's equal-steps run;
- the fine-tunings of Figs. 4 and 5 start from the scale's clean pre-trained nets (their own size and epochs
  are the book's);
- the seeds (at least three: the claims' units) and BatchNorm at extraction (both modes are read).

:func:`scale_ledger` gives every Study A claim at each scale and BatchNorm mode, with the premises applied, or
reports a scale as not run when the store lacks its trainings and training was not asked for (the default
book never trains a scale; the ``scale`` profile does). :func:`scale_axis` reads a scale the store lacks from
the repository's record (:mod:`repchange.studies.a.scale_record`) where the record holds exactly its tables,
and says so in the scale's status line and its rows' ``source``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pandas as pd

from repchange.measure.features import BN_MODES
from repchange.runs.runtime import Runtime
from repchange.studies.verdicts import LEVEL
from repchange.studies.a import tables as a_tables
from repchange.studies.a.claims import sgd_steps, study_a_claims, study_a_steps
from repchange.studies.a.finetuning import TRAINING_CODE as FINETUNING_CODE
from repchange.studies.a.finetuning import finetune_all
from repchange.studies.a.pretraining import TRAINING_CODE as PRETRAINING_CODE
from repchange.studies.a.pretraining import pretrain_all
from repchange.studies.a.scale_record import ScaleRecord, write_record
from repchange.studies.ledger import TALLIED, apply_premises

__all__ = ["THIS_BUILD", "Scale", "ScaleTables", "bn_dependent", "from_record", "ledger_rows", "parse_scales", "record_scales", "scale_axis", "scale_flips",
           "scale_frames", "scale_label", "scale_ledger", "scale_tables", "scale_trainings", "scale_verdicts",
           "stable_claims"]

MIN_SEEDS = 3
THIS_BUILD = "this build"  # the ``source`` of rows computed from this build's store (else: the record's provenance)


@dataclass(frozen=True)
class Scale:
    """A pre-training budget: ``images`` training images (None: the whole train split) for ``epochs`` epochs."""

    images: int | None
    epochs: int

    def validate(self) -> None:
        if self.images is not None and (isinstance(self.images, bool) or self.images < 1):
            raise ValueError(f"a scale's image count must be positive or None (the whole split), got {self.images!r}")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"a scale's epochs must be a positive integer, got {self.epochs!r}")


def parse_scales(pairs: Iterable[Sequence[int | None]]) -> tuple[Scale, ...]:
    """``[[images, epochs], ...]`` (the notebook parameter ``a_scales``) as :class:`Scale` s, validated."""
    scales = []
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f"a_scales: each entry must be [images, epochs] (images None: the whole split), "
                             f"got {pair!r}")
        scale = Scale(pair[0], pair[1])
        scale.validate()
        scales.append(scale)
    if len(set(scales)) != len(scales):
        raise ValueError(f"a_scales: repeated entries in {[list(p) for p in pairs]}")
    return tuple(scales)


@dataclass(frozen=True)
class ScaleTables:
    """The parameters of every Study A table at one scale and BatchNorm mode."""

    scale: Scale
    bn: str
    pretraining: a_tables.CkaToInitParams
    degrees: a_tables.DegreeSweepParams
    sizes: a_tables.SizeSweepParams
    finetuning: a_tables.FinetuneSweepParams


def scale_tables(scale: Scale, bn: str, seeds: Sequence[int], *, pretraining: a_tables.CkaToInitParams,
                 degrees: a_tables.DegreeSweepParams, sizes: a_tables.SizeSweepParams,
                 finetuning: a_tables.FinetuneSweepParams) -> ScaleTables:
    """The book's Study A parameters (``pretraining`` … ``finetuning``) moved to ``scale`` with ``seeds`` and
    BatchNorm mode ``bn`` at extraction (see the module docstring for what changes); validated."""
    scale.validate()
    if bn not in BN_MODES:
        raise ValueError(f"bn must be one of {BN_MODES}, got {bn!r}")
    seeds = tuple(seeds)
    template = replace(pretraining.pretrain, train_size=scale.images, epochs=scale.epochs)
    smaller = tuple(s for s in sizes.train_sizes if s is not None and (scale.images is None or s < scale.images))
    tables = ScaleTables(
        scale, bn,
        pretraining=replace(pretraining, pretrain=template, seeds=seeds, bn=bn,
                            measured_epochs=a_tables.evaluated_epochs(scale.epochs)),
        degrees=replace(degrees, pretrain=template, seeds=seeds, bn=bn),
        sizes=replace(sizes, pretrain=replace(sizes.pretrain, epochs=scale.epochs), seeds=seeds, bn=bn,
                      train_sizes=(*smaller, scale.images)),
        finetuning=replace(finetuning, finetune=replace(finetuning.finetune, pretrain=template), seeds=seeds, bn=bn))
    tables.pretraining.validate()
    tables.degrees.validate()
    tables.sizes.validate()
    tables.finetuning.validate()
    return tables


def scale_trainings(tables: ScaleTables, runtime: Runtime) -> tuple[list, list]:
    """(pre-training configs, fine-tuning configs) every table of ``tables`` trains, each once."""
    pre = [replace(tables.degrees.pretrain, degree=d, seed=s) for d in tables.degrees.degrees for s in tables.degrees.seeds]
    n_train = a_tables.split_length(tables.sizes, runtime)
    per_size = [*a_tables.size_tables(tables.sizes).values()]
    steps = a_tables.equal_steps_table(tables.sizes, n_train)
    pre += [replace(t.pretrain, seed=s) for t in [*per_size, *([steps] if steps else [])] for s in t.seeds]
    fine = [replace(cfg, pretrain=replace(cfg.pretrain, seed=s))
            for _, cfg in tables.finetuning.conditions() for s in tables.finetuning.seeds]
    return list(dict.fromkeys(pre)), list(dict.fromkeys(fine))


def _missing(tables: ScaleTables, runtime: Runtime) -> tuple[int, int]:
    """(trainings of ``tables`` the store lacks, trainings in all)."""
    pre, fine = scale_trainings(tables, runtime)
    lacking = (len(runtime.store.missing("study_a/pretrain", pre, PRETRAINING_CODE))
               + len(runtime.store.missing("study_a/finetune", fine, FINETUNING_CODE)))
    return lacking, len(pre) + len(fine)


def scale_frames(tables: ScaleTables, runtime: Runtime | None = None, *,
                 train: bool = False) -> tuple[dict[str, pd.DataFrame], int] | None:
    """(the five tables Study A's claims read at ``tables``' scale and mode — ``pretraining``, ``histories``,
    ``degrees``, ``sizes``, ``finetuning`` —, the pre-training image count); None when the store lacks some of its
    trainings and ``train`` is False (nothing is trained then; the tables of stored trainings are computed)."""
    runtime = runtime or Runtime()
    if not train and _missing(tables, runtime)[0]:
        return None
    if train:  # every training first, side by side in one pool per kind (the tables would train them piecemeal)
        pre, fine = scale_trainings(tables, runtime)
        pretrain_all(pre, runtime)
        finetune_all(fine, runtime)
    found = a_tables.pretraining_tables(tables.pretraining, tables.degrees, tables.sizes, runtime)
    images = tables.scale.images or len(runtime.load(tables.pretraining.pretrain.dataset).train)
    return {**found, "finetuning": a_tables.finetune_sweep(tables.finetuning, runtime)}, images


def ledger_rows(tables: ScaleTables, frames: dict[str, pd.DataFrame], images: int, *, level: float = LEVEL,
                source: str = THIS_BUILD) -> pd.DataFrame:
    """Every Study A claim read from ``frames`` (:func:`scale_frames`) at ``tables``' scale, premises applied.

    Columns: those of the ledger rows plus ``images``, ``epochs``, ``steps`` (SGD steps of one pre-training run),
    ``seeds`` (how many), ``bn``, ``tallied`` (the papers' findings, as in the ledger) and ``source`` (``this
    build``, or the record's provenance)."""
    steps = study_a_steps(tables.finetuning.finetune, tables.degrees.pretrain)
    rows = study_a_claims(**frames, level=level, **steps)
    return apply_premises(rows).assign(
        tallied=lambda f: f.kind.isin(TALLIED), images=images, epochs=tables.scale.epochs, bn=tables.bn,
        seeds=len(tables.pretraining.seeds), source=source,
        steps=sgd_steps(images, tables.scale.epochs, tables.pretraining.pretrain.optimiser.batch_size))


def scale_ledger(tables: ScaleTables, runtime: Runtime | None = None, *, level: float = LEVEL,
                 train: bool = False) -> pd.DataFrame | None:
    """Every Study A claim at ``tables``' scale (read at the last pre-training epoch), premises applied
    (:func:`ledger_rows`); None when the store lacks some of its trainings and ``train`` is False."""
    found = scale_frames(tables, runtime, train=train)
    return None if found is None else ledger_rows(tables, *found, level=level)


def from_record(frame: pd.DataFrame) -> pd.Series:
    """Per row of ``frame`` (:func:`ledger_rows`), whether it was read from the record rather than computed from this
    build's store (rows without a ``source`` column are this build's)."""
    return frame["source"].ne(THIS_BUILD) if "source" in frame else pd.Series(False, index=frame.index)


def _columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` in order of SGD steps, with ``scale`` (``images × epochs (steps, n = seeds)``; ``, recorded`` after
    the n where the rows' ``source`` is a record, not this build) and ``effect`` (mean − null and
    its interval, ``+0.012 [+0.004, +0.020]``; empty when not measured)."""
    rows = frame.sort_values("steps", kind="stable")
    return rows.assign(
        scale=[f"{i:,} × {e} ({s:,} steps, n = {n}{', recorded' if rec else ''})"
               for i, e, s, n, rec in zip(rows.images, rows.epochs, rows.steps, rows.seeds, from_record(rows))],
        effect=["" if pd.isna(x) else f"{x - n:+.3f}" + ("" if pd.isna(lo) else f" [{lo - n:+.3f}, {hi - n:+.3f}]")
                for x, n, lo, hi in zip(rows.value, rows.null, rows.ci_low, rows.ci_high)])


def scale_verdicts(frame: pd.DataFrame, bn: str) -> pd.DataFrame:
    """Claim × scale under BatchNorm mode ``bn`` (tallied claims): each cell the verdict with the effect and its
    interval (``holds · +0.012 [+0.004, +0.020]``); columns in order of SGD steps, named ``images × epochs (steps)``."""
    rows = _columns(frame[(frame.bn == bn) & frame.tallied])
    cells = rows.assign(cell=[v if not e else f"{v} · {e}" for v, e in zip(rows.verdict, rows.effect)])
    order = list(dict.fromkeys(cells.scale))
    table = cells.pivot_table(index="key", columns="scale", values="cell", aggfunc="first", sort=False)[order]
    return table.rename_axis(index="claim", columns=None)


def scale_flips(frame: pd.DataFrame) -> pd.DataFrame:
    """Tallied claims whose verdict is not the same at every scale read, per BatchNorm mode ("not measured" cells
    skipped). Columns: key, bn, equal_n (every scale read at the same number of seeds), sentence (each scale's
    verdict, n and effect, in order of SGD steps; a flip across unequal n says so: the interval's width moves with
    n alone)."""
    read = _columns(frame[(frame.verdict != "not measured") & frame.tallied])
    out = []
    for (bn, key), rows in read.groupby(["bn", "key"], sort=False):
        if rows.verdict.nunique() > 1:
            equal = rows.seeds.nunique() == 1
            caveat = "" if equal else " (n differs between these scales: a wider interval at the smaller n alone can " \
                                      "move a verdict)"
            out.append(dict(key=key, bn=bn, equal_n=equal, sentence=f"{key} (BatchNorm {bn} at extraction): " + " → ".join(
                f"{v} at {s}" + (f", {e}" if e else "") for v, s, e in zip(rows.verdict, rows.scale, rows.effect))
                + caveat))
    return pd.DataFrame(out, columns=["key", "bn", "equal_n", "sentence"])


def scale_label(scale: Scale) -> str:
    """``1,024 × 16`` (images × epochs; ``all`` for the whole split)."""
    return f"{'all' if scale.images is None else f'{scale.images:,}'} × {scale.epochs}"


def scale_axis(book: dict, own: Scale, own_seeds: Sequence[int], scales: Iterable[Scale], seeds: Sequence[int],
               runtime: Runtime | None = None, *, level: float = LEVEL, train: bool = False,
               bn_modes: Sequence[str] = BN_MODES, record: ScaleRecord | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Every Study A claim at the book's own scale ``own`` (its runs are the book's, so it is always read) and at each
    of ``scales`` (``seeds``; trained only with ``train``), under each BatchNorm mode. Verdicts are compared at equal
    n: the book's own scale is read at ``seeds`` too where they are among its seeds ``own_seeds`` (a t interval at
    n = 3 is about twice as wide as at n = 5, so "negligible → inconclusive" across unequal n is what n alone
    predicts); else at ``own_seeds``, and every label and flip sentence carries its n.
    ``book``: the book's ``pretraining``, ``degrees``, ``sizes`` and ``finetuning`` parameters. A scale the store
    lacks is read from ``record`` (default: the repository's :class:`ScaleRecord`) where it holds exactly this
    scale's tables; its rows' ``source`` and its status line say so.

    Returns (the :func:`ledger_rows` of every scale read, one status line per scale: read from the store, read
    from the record, or not run and how many trainings the store lacks)."""
    if len(tuple(seeds)) < MIN_SEEDS:
        raise ValueError(f"a_scale_seeds: the claims' units are seeds; name at least {MIN_SEEDS}, got {list(seeds)}")
    runtime = runtime or Runtime()
    record = record if record is not None else ScaleRecord()
    frames, status = [], []
    for scale in dict.fromkeys((own, *scales)):
        mine = scale == own
        read, sources, lacking = [], [], None
        for bn in bn_modes:
            tables = scale_tables(scale, bn, (seeds if set(seeds) <= set(own_seeds) else own_seeds) if mine else seeds,
                                  **book)
            found = scale_frames(tables, runtime, train=train or mine)
            if found is not None:
                read.append(ledger_rows(tables, *found, level=level))
                continue
            recorded = record.tables(tables)
            if recorded is None:
                lacking = _missing(tables, runtime)
                break
            read.append(ledger_rows(tables, recorded.frames, recorded.images, level=level, source=recorded.source))
            sources.append(recorded.source)
        if lacking is not None:
            status.append(f"{scale_label(scale)}: not run — the store lacks {lacking[0]} of its {lacking[1]} "
                          f"trainings (the scale profile trains them)")
            continue
        frames += read
        origin = (", the book’s own runs" if mine else
                  f", {'; '.join(dict.fromkeys(sources))}: not trained in this build" if sources else "")
        status.append(f"{scale_label(scale)}: read (n = {int(read[0].seeds.iloc[0])} seeds{origin})")
    return pd.concat(frames, ignore_index=True), status


def record_scales(book: dict, scales: Iterable[Scale], seeds: Sequence[int], folder: str | Path,
                  provenance: Mapping[str, str], runtime: Runtime | None = None, *,
                  bn_modes: Sequence[str] = BN_MODES) -> tuple[list[str], list[str]]:
    """Write the tables of each of ``scales`` (``seeds``, every BatchNorm mode) that the store holds into the record
    in ``folder`` (:func:`repchange.studies.a.scale_record.write_record`; ``provenance``: date, commit, machine,
    command), training nothing. Returns (the labels written, one line per scale the store lacks)."""
    runtime = runtime or Runtime()
    measured, lacking = {}, []
    for scale in dict.fromkeys(scales):
        for bn in bn_modes:
            tables = scale_tables(scale, bn, seeds, **book)
            found = scale_frames(tables, runtime)
            if found is None:
                missing, total = _missing(tables, runtime)
                lacking.append(f"{scale_label(scale)} ({bn}): the store lacks {missing} of its {total} trainings")
                continue
            measured[f"{scale_label(scale)} {bn}"] = (tables, *found)
    if measured:
        write_record(folder, measured, provenance)
    return list(measured), lacking


def stable_claims(frame: pd.DataFrame) -> list[str]:
    """Tallied claims read (not "not measured") at every scale and BatchNorm mode of ``frame`` with one verdict."""
    read = frame[frame.tallied]
    cells = read[["images", "epochs", "bn"]].drop_duplicates().shape[0]
    measured = read[read.verdict != "not measured"].groupby("key", sort=False)
    return [key for key, rows in measured if len(rows) == cells and rows.verdict.nunique() == 1]


def bn_dependent(frame: pd.DataFrame) -> list[str]:
    """Tallied claims whose verdict differs between the BatchNorm modes at some scale of ``frame``."""
    read = frame[frame.tallied & (frame.verdict != "not measured")]
    modes = read.groupby(["key", "images", "epochs"], sort=False).verdict.nunique()
    return list(dict.fromkeys(k for (k, _, _), n in modes.items() if n > 1))
