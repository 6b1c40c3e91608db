"""A Tracker under DDP (two CPU processes, gloo): it neither hangs nor differs from one process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from repchange.tool.distributed import is_measuring_rank, unwrapped
from repchange.tool.track import Tracker

STEPS, BATCH = 3, 16  # each rank takes half of every batch


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 16), nn.Tanh(), nn.Linear(16, 3))


def _data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(STEPS * BATCH, 8, generator=g), torch.randint(0, 3, (STEPS * BATCH,), generator=g), \
        torch.randn(200, 8, generator=g)


def _track(model: nn.Module, shard: slice | None = None) -> pd.DataFrame:
    """SGD on batches of BATCH (``shard``: this rank's half of each), a Tracker update after each step."""
    x, y, probe = _data()
    tracker = Tracker(model, probe, layers=["1", "3"], metrics=("cka", "procrustes"))
    optimiser = torch.optim.SGD(model.parameters(), lr=2.0)
    tracker.update(0)
    for step in range(STEPS):
        rows = slice(step * BATCH, (step + 1) * BATCH)
        bx, by = x[rows], y[rows]
        if shard is not None:
            bx, by = bx[shard], by[shard]
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(bx), by).backward()
        optimiser.step()
        tracker.update(step + 1)
    return tracker.table


WORKER = textwrap.dedent('''
    import sys
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    sys.path.insert(0, sys.argv[3])
    import test_distributed as t

    def work(rank: int, store: str, out: str) -> None:
        dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
        model = DistributedDataParallel(t._model())
        half = t.BATCH // 2
        table = t._track(model, slice(rank * half, (rank + 1) * half))
        table.to_csv(f"{out}/rank{rank}.csv", index=False)
        dist.destroy_process_group()

    if __name__ == "__main__":
        torch.multiprocessing.spawn(work, args=(sys.argv[1], sys.argv[2]), nprocs=2, join=True)
''')


@pytest.mark.slow
def test_ddp_on_two_processes_measures_on_rank_0_and_equals_one_process(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "store"), str(tmp_path),
                           str(Path(__file__).parent)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ranked = pd.read_csv(tmp_path / "rank0.csv", dtype={"layer": str})
    assert pd.read_csv(tmp_path / "rank1.csv").empty  # rank 1 waited; it measured nothing
    alone = _track(_model())  # the same SGD on whole batches: DDP averages the two halves' gradients
    assert ranked[["step", "layer", "metric"]].values.tolist() == alone[["step", "layer", "metric"]].values.tolist()
    assert ranked.value.to_numpy() == pytest.approx(alone.value.to_numpy(), abs=1e-5)
    moved = alone.query("step == @STEPS and metric == 'cka'").value
    assert (moved < 1 - 1e-2).all()  # training moved the layers: equal tables are not two tables of 1.0


def test_outside_distributed_every_process_measures_and_wrappers_are_taken_off() -> None:
    model = _model()
    assert is_measuring_rank()
    assert unwrapped(nn.DataParallel(model)) is model and unwrapped(model) is model
    tracker = Tracker(nn.DataParallel(model), torch.randn(20, 8), layers=["1"], metrics=("cka",))
    assert tracker.model is model and [l.name for l in tracker.layers] == ["1"]
