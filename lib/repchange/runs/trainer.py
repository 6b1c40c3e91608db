"""The one trainer, for pre-training and fine-tuning alike.

Data sets live in memory: a split is normalised once into a float tensor on the device and
batches are index slices of a per-epoch permutation. The permutation of epoch ``e`` is drawn
from ``seed`` and ``e`` alone, so a run resumed after a kill is bit-identical to one that
never stopped (on the same device and library versions).

Files written into ``run_dir`` (each atomically):
``checkpoints/epoch_XXX.pt`` (model state at each chosen epoch, 0 = before any step),
``resume.pt`` (model + optimiser + history after the last finished epoch),
``history.csv`` (one row per epoch: epoch, train_loss, train_acc, test_loss, test_acc, fit_loss, fit_acc).

Two training accuracies: ``train_acc`` is the running mean over the epoch's batches in train mode
(it lags the net: early batches count at their earlier weights); ``fit_acc`` (and ``fit_loss``) is
the net *after* the epoch, in eval mode, on every training image -- what "the training set is
fitted" means. It costs one forward pass over the training split, so it is measured only at
``fit_epochs``.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from repchange.base.devices import resolve_device
from repchange.runs import progress
from repchange.data.datasets import Split, normalise
from repchange.base.threads import torch_threads
from repchange.runs.parallel import train_threads
from repchange.base.files import atomic_write

__all__ = ["OptimiserSpec", "TrainingDiverged", "checkpoint_path", "load_checkpoint", "train"]


@dataclass(frozen=True)
class OptimiserSpec:
    """Optimiser and batch settings. ``name`` is ``"sgd"`` or ``"adam"``; ``grad_clip`` a max norm or None."""

    name: str = "sgd"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 32
    grad_clip: float | None = None

    def __post_init__(self) -> None:
        if self.name not in ("sgd", "adam"):
            raise ValueError(f"unknown optimiser {self.name!r}; choose 'sgd' or 'adam'")
        if not self.lr > 0:
            raise ValueError(f"learning rate must be positive, got {self.lr}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")

    def build(self, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        if self.name == "sgd":
            return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def progress_enabled() -> bool:
    """Progress bars are on unless ``REPCHANGE_PROGRESS=0`` (the book build turns them off)."""
    return os.environ.get("REPCHANGE_PROGRESS", "1") != "0"


def checkpoint_path(run_dir: Path, epoch: int) -> Path:
    return run_dir / "checkpoints" / f"epoch_{epoch:03d}.pt"


def load_checkpoint(model: nn.Module, run_dir: Path, epoch: int) -> nn.Module:
    """Load the weights saved at ``epoch`` into ``model`` (in place) and return it."""
    path = checkpoint_path(run_dir, epoch)
    if not path.exists():
        saved = sorted(p.stem for p in (run_dir / "checkpoints").glob("epoch_*.pt"))
        raise FileNotFoundError(f"no checkpoint for epoch {epoch} in {run_dir}; saved: {saved}")
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model


def _save(obj: object, path: Path) -> None:
    atomic_write(path, lambda p: torch.save(obj, p))


@torch.no_grad()
def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> tuple[float, float]:
    model.eval()
    loss_sum, correct = 0.0, 0
    for start in range(0, len(y), batch_size):
        logits = model(x[start : start + batch_size])
        target = y[start : start + batch_size]
        loss_sum += float(nn.functional.cross_entropy(logits, target, reduction="sum"))
        correct += int((logits.argmax(1) == target).sum())
    return loss_sum / len(y), correct / len(y)


def train(
    model: nn.Module,
    train_split: Split,
    test_split: Split,
    *,
    epochs: int,
    optimiser: OptimiserSpec,
    seed: int,
    run_dir: Path,
    checkpoint_epochs: Iterable[int] = (),
    device: str = "auto",
    desc: str = "training",
    eval_epochs: Iterable[int] | None = None,
    fit_epochs: Iterable[int] = (),
    on_epoch_end: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Train ``model`` for ``epochs`` epochs; return the per-epoch history.

    Resumes from ``run_dir/resume.pt`` when an earlier attempt left one. ``test_split`` is
    evaluated at ``eval_epochs`` (None: after every epoch and at epoch 0; test loss and
    accuracy are NaN at the others); the training split itself, in eval mode after the epoch, at
    ``fit_epochs`` (``fit_loss``, ``fit_acc``; NaN at the others). ``on_epoch_end(epoch)`` runs after an epoch's files are
    written (tests use it to simulate a kill). On the CPU the run uses
    :func:`repchange.runs.parallel.train_threads` threads, so its numbers do not depend on how many
    runs train beside it. Every epoch is reported to :mod:`repchange.runs.progress`.
    """
    with torch_threads(train_threads()):  # numbers independent of how many runs train beside it
        if epochs < 0:
            raise ValueError(f"epochs must be non-negative, got {epochs}")
        run_dir = Path(run_dir)
        dev = resolve_device(device)
        wanted = sorted({int(e) for e in checkpoint_epochs})
        bad = [e for e in wanted if not 0 <= e <= epochs]
        if bad:
            raise ValueError(f"checkpoint epochs {bad} lie outside 0..{epochs}")

        # channels_last: about 1.3x faster conv/max-pool training on CPU for conv4 (see `make bench`).
        model.to(dev, memory_format=torch.channels_last)
        opt = optimiser.build(model.parameters())
        stats = getattr(model, "input_stats", None)  # e.g. ImageNet mean/std for torchvision weights
        x_train = normalise(train_split.images, stats).to(dev, memory_format=torch.channels_last)
        x_test = normalise(test_split.images, stats).to(dev, memory_format=torch.channels_last)
        y_train, y_test = train_split.labels.to(dev), test_split.labels.to(dev)
        eval_batch = max(256, optimiser.batch_size)
        evaluated = set(range(epochs + 1)) if eval_epochs is None else {int(e) for e in eval_epochs}
        fitted = {int(e) for e in fit_epochs}

        def evaluate(epoch: int) -> tuple[float, float]:
            return _evaluate(model, x_test, y_test, eval_batch) if epoch in evaluated else (math.nan, math.nan)

        def fit(epoch: int) -> tuple[float, float]:
            return _evaluate(model, x_train, y_train, eval_batch) if epoch in fitted else (math.nan, math.nan)

        history: list[dict[str, float]] = []
        start_epoch = 0
        resume_file = run_dir / "resume.pt"
        if resume_file.exists():
            state = torch.load(resume_file, map_location=dev, weights_only=False)
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimiser"])
            history, start_epoch = state["history"], state["epoch"]
        else:
            if 0 in wanted:
                _save(model.state_dict(), checkpoint_path(run_dir, 0))
            test_loss, test_acc = evaluate(0)
            fit_loss, fit_acc = fit(0)
            history.append(dict(epoch=0, train_loss=math.nan, train_acc=math.nan, test_loss=test_loss,
                                test_acc=test_acc, fit_loss=fit_loss, fit_acc=fit_acc))

        n = len(y_train)
        bar = tqdm(range(start_epoch + 1, epochs + 1), desc=desc, initial=start_epoch, total=epochs,
                   disable=not progress_enabled(), leave=False)
        for epoch in bar:
            model.train()
            epoch_start = time.perf_counter()
            order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).to(dev)
            loss_sum = torch.zeros((), device=dev)
            correct = torch.zeros((), device=dev, dtype=torch.int64)
            for start in range(0, n, optimiser.batch_size):
                idx = order[start : start + optimiser.batch_size]
                logits = model(x_train[idx].contiguous(memory_format=torch.channels_last))
                loss = nn.functional.cross_entropy(logits, y_train[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if optimiser.grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), optimiser.grad_clip)
                opt.step()
                loss_sum += loss.detach() * len(idx)
                correct += (logits.detach().argmax(1) == y_train[idx]).sum()
            train_loss = float(loss_sum) / n
            if not math.isfinite(train_loss):
                raise TrainingDiverged(
                    f"{desc}: training loss became {train_loss} in epoch {epoch}; lower the learning rate "
                    f"(now {optimiser.lr}). Checkpoints up to epoch {epoch - 1} are kept in {run_dir}."
                )
            images_per_s = n / (time.perf_counter() - epoch_start)
            test_loss, test_acc = evaluate(epoch)
            fit_loss, fit_acc = fit(epoch)
            history.append(dict(epoch=epoch, train_loss=train_loss, train_acc=float(correct) / n,
                                test_loss=test_loss, test_acc=test_acc, fit_loss=fit_loss, fit_acc=fit_acc))
            bar.set_postfix(loss=f"{train_loss:.3f}", test_acc=f"{test_acc:.3f}")
            progress.report("epoch", desc=desc, epoch=epoch, epochs=epochs, images_per_s=images_per_s)
            if epoch in wanted:
                _save(model.state_dict(), checkpoint_path(run_dir, epoch))
            _save({"model": model.state_dict(), "optimiser": opt.state_dict(), "history": history, "epoch": epoch},
                  resume_file)
            if on_epoch_end is not None:
                on_epoch_end(epoch)
        bar.close()

        frame = pd.DataFrame(history)
        atomic_write(run_dir / "history.csv", lambda p: frame.to_csv(p, index=False))
        return frame
