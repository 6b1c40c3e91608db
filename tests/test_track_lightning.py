"""The Lightning callback, tested when PyTorch Lightning is installed (the test extra installs it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

lightning = pytest.importorskip("lightning")

from repchange.measure.metrics import linear_cka
from repchange.tool.track_lightning import RepresentationTracking


class Classifier(lightning.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple, _index: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.5)


@pytest.mark.slow
def test_the_callback_tracks_every_epoch_against_the_module_at_fit_start(tmp_path) -> None:
    torch.manual_seed(0)
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    module, probe = Classifier(), torch.randn(40, 8)
    with torch.no_grad():
        start = module.net[1](module.net[0](probe)).clone()
    callback = RepresentationTracking(probe, layers=["net.1"], metrics=("cka",), out=tmp_path / "track")
    logger = lightning.pytorch.loggers.CSVLogger(tmp_path / "logs", name="run")
    trainer = lightning.Trainer(max_epochs=2, accelerator="cpu", logger=logger, enable_checkpointing=False,
                                enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.callbacks.append(callback)
    trainer.fit(module, loader)
    table = callback.tracker.table
    assert table.step.tolist() == [0, 4, 8] and table.epoch.tolist() == [0, 1, 2]
    with torch.no_grad():
        end = module.net[1](module.net[0](probe))
    assert table.value.iloc[-1] == pytest.approx(linear_cka(start, end), abs=1e-6)  # float32 on permuted rows
    assert table.value.iloc[0] == pytest.approx(1.0) and table.value.iloc[-1] < 0.999
    assert (tmp_path / "track" / "track.csv").exists()
    import pandas as pd

    logged = pd.read_csv(Path(logger.log_dir) / "metrics.csv").dropna(subset=["repchange/cka/net.1"])
    assert logged.step.tolist() == [0, 4, 8]  # through the trainer's logger, at the tracked steps
    assert logged["repchange/cka/net.1"].tolist() == pytest.approx(table.value.tolist())
    with pytest.raises(ValueError, match="every_n_steps"):
        RepresentationTracking(probe, every_n_steps=0)


@pytest.mark.slow
def test_gradient_accumulation_measures_each_optimiser_step_once(tmp_path) -> None:
    torch.manual_seed(0)
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4)  # 16 micro-batches
    callback = RepresentationTracking(torch.randn(40, 8), layers=["net.1"], metrics=("cka",), every_n_steps=1)
    trainer = lightning.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                                enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                                accumulate_grad_batches=4)
    trainer.callbacks.append(callback)
    trainer.fit(Classifier(), loader)
    assert callback.tracker.table.step.tolist() == [0, 1, 2, 3, 4]  # 4 optimiser steps, each measured once
