"""End to end: a training process killed with SIGKILL resumes from its last epoch, bit-identically."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

TRAIN = """
import sys
from repchange.data import datasets as data
from repchange.studies.a.pretraining import PretrainConfig, pretrain
from repchange.runs.runtime import Runtime
from repchange.runs.store import Store
from repchange.runs.trainer import OptimiserSpec
cfg = PretrainConfig(epochs=10, train_size=1024, eval_size=200, width=16,
                     optimiser=OptimiserSpec("sgd", lr=1e-3, momentum=0.9, batch_size=32))
run = pretrain(cfg, data.load("fashion_mnist"), runtime=Runtime(Store(sys.argv[1]), "cpu"))
print(run.run_dir)
"""


def _train(store: Path) -> subprocess.Popen:
    env = {**os.environ, "REPCHANGE_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", TRAIN, str(store)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


@pytest.mark.slow
def test_a_sigkilled_training_resumes_from_its_last_epoch_and_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    killed_store = tmp_path / "killed"
    proc = _train(killed_store)
    deadline = time.monotonic() + 120
    resume = []
    while not resume:  # kill it once at least two epochs are saved
        assert proc.poll() is None, "training finished before it could be killed: " + proc.stderr.read()[-500:]
        assert time.monotonic() < deadline
        resume = [p for p in killed_store.rglob("checkpoints/epoch_002.pt")]
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_dir = resume[0].parent.parent
    assert not (run_dir / "complete.json").exists()  # the store never serves this half-written run
    assert (run_dir / "resume.pt").exists()
    first = run_dir / "checkpoints" / "epoch_000.pt"
    before = first.stat().st_mtime_ns

    again = _train(killed_store)
    assert again.wait(timeout=300) == 0, again.stderr.read()[-2000:]
    assert (run_dir / "complete.json").exists()
    assert first.stat().st_mtime_ns == before  # resumed, not restarted: epoch 0 was not written again

    reference = _train(tmp_path / "whole")
    assert reference.wait(timeout=300) == 0, reference.stderr.read()[-2000:]
    whole_dir = Path(reference.stdout.read().strip())
    assert pd.read_csv(run_dir / "history.csv").equals(pd.read_csv(whole_dir / "history.csv"))
    import torch

    a = torch.load(run_dir / "checkpoints" / "epoch_010.pt", weights_only=False)
    b = torch.load(whole_dir / "checkpoints" / "epoch_010.pt", weights_only=False)
    state_a, state_b = (x.get("model", x) if isinstance(x, dict) else x for x in (a, b))
    assert state_a.keys() == state_b.keys()
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
