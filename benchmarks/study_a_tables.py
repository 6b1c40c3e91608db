"""`make bench`, part 9: what Study A's tables cost, in the notebook's process against the pool.

Two tables of conv4 (width 64, the book's 16 epochs, on 256 Fashion-MNIST images: a table's cost depends on
the shapes and checkpoints, not on how well the net learnt), on 500 probe images, every probed layer, sized as
the book's:

- the chapters' CKA table (:func:`repchange.studies.a.tables.cka_to_init`), five seeds as a1's: each epoch's net
  (0 to 16) against its own init and an independent init, biased and debiased CKA (Gram products);
- the estimator grid's tables (:mod:`repchange.studies.a.estimators`), ten seeds (the book queues 60-70 a
  BatchNorm mode): the last epoch against the own init and the init against an independent init, under biased
  and debiased CKA, angular Procrustes (eigendecompositions of 500 x 500 Gram matrices and the SVD of their
  product) and mutual k-NN.

Two ways for each: every seed in the calling process at torch's default threads, one after the other (how the
tables were computed before), against :mod:`repchange.runs.table_pool`'s (two worker processes, one thread
each), on a quiet machine and beside one busy process. Reported: the seconds of each, the ratios, and the
largest difference between the two ways' values (the thread count changes the float order of the activations
and decompositions: not bit-identical).

Run alone: ``python benchmarks/study_a_tables.py``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch

import kernel_vs_pool
from repchange.runs.runtime import Runtime
from repchange.runs.store import Store
from repchange.runs.table_pool import stored_tables
from repchange.studies.a import estimators, tables
from repchange.studies.a.pretraining import PretrainConfig, pretrain_all

SEEDS = tuple(range(1, 11))
CKA_PARAMS = tables.CkaToInitParams(PretrainConfig(epochs=16, train_size=256), SEEDS[:5], n_probe=500)
PARAMS = replace(CKA_PARAMS, seeds=SEEDS)


def _fresh(runtime: Runtime, kind: str) -> None:
    shutil.rmtree(runtime.store.root / kind, ignore_errors=True)


def _cka_kernel(runtime: Runtime) -> pd.DataFrame:
    return pd.concat([tables._cka_to_init_rows(CKA_PARAMS, seed, runtime) for seed in CKA_PARAMS.seeds],
                     ignore_index=True)


def _cka_pool(runtime: Runtime) -> pd.DataFrame:
    _fresh(runtime, "study_a/cka_to_init")
    return tables.cka_to_init(CKA_PARAMS, runtime)


def _grid_kernel(runtime: Runtime) -> pd.DataFrame:
    return pd.concat([estimators._pretraining_seed_table(PARAMS, seed, True, runtime) for seed in SEEDS],
                     ignore_index=True)


def _grid_pool(runtime: Runtime) -> pd.DataFrame:
    _fresh(runtime, "study_a/estimators_pretraining")
    jobs = estimators._pretraining_jobs(PARAMS, runtime, with_chance=True)
    return pd.concat(stored_tables(jobs, runtime, "bench estimator tables"), ignore_index=True)


def levers() -> dict[str, object]:
    out: dict[str, object] = {"n_probe": PARAMS.n_probe, "threads_default": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime(Store(Path(tmp) / "store"), "cpu")
        pretrain_all([replace(PARAMS.pretrain, seed=seed) for seed in SEEDS], runtime=runtime)
        out["cka"] = kernel_vs_pool.compare(lambda: _cka_kernel(runtime), lambda: _cka_pool(runtime),
                                            ["seed", "epoch", "layer", "comparison", "metric"])
        out["grid"] = kernel_vs_pool.compare(lambda: _grid_kernel(runtime), lambda: _grid_pool(runtime),
                                             ["seed", "epoch", "layer", "comparison", "metric"])
    return out


def main() -> dict[str, object]:
    os.environ["REPCHANGE_PROGRESS"] = "0"
    result = levers()
    print("\n[9] Study A's tables")
    for name, what in (("cka", f"chapters' CKA table (biased and debiased CKA, epochs 0 to {CKA_PARAMS.pretrain.epochs}), "
                                f"{len(CKA_PARAMS.seeds)} seeds"),
                       ("grid", f"estimator grid's tables (4 estimators, last epoch and chance), {len(SEEDS)} seeds")):
        res = result[name]
        print(f"  {what}, n = {result['n_probe']}:")
        for load in kernel_vs_pool.LOADS:
            print(f"    {load}: in the kernel ({result['threads_default']} threads, one after the other) "
                  f"{res[f'{load}: kernel_s']:.1f} s, two 1-thread workers {res[f'{load}: pool_s']:.1f} s: "
                  f"{res[f'{load}: speed_ratio']:.2f}x")
        print(f"    largest difference between the two ways' values: {res['max_difference']:.1e}")
    return result


if __name__ == "__main__":
    main()
