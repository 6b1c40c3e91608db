from __future__ import annotations

from pathlib import Path

import pytest
import torch

from repchange.data.datasets import Split, normalise
from repchange.nets.conv4 import Conv4
from repchange.runs.trainer import OptimiserSpec, TrainingDiverged, checkpoint_path, load_checkpoint, train


def toy_splits(n: int = 96) -> tuple[Split, Split]:
    """Two classes a conv net can separate: bright vs dark images, with noise."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 2
    base = torch.where(labels[:, None, None, None] == 1, 170.0, 80.0)
    images = (base + 40 * torch.randn(n, 1, 16, 16, generator=g)).clamp(0, 255).to(torch.uint8)
    half = n // 2
    return Split(images[:half], labels[:half]), Split(images[half:], labels[half:])


def fresh_model(seed: int = 0) -> Conv4:
    torch.manual_seed(seed)
    return Conv4(1, 2, 16, width=8)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


SPEC = OptimiserSpec("sgd", lr=0.05, momentum=0.9, batch_size=8)


def run(tmp: Path, epochs: int = 3, **kw) -> tuple[Conv4, object]:
    model = fresh_model()
    tr, te = toy_splits()
    history = train(model, tr, te, epochs=epochs, optimiser=SPEC, seed=5, run_dir=tmp, **kw)
    return model, history


def test_training_learns_and_records_history(tmp_path: Path) -> None:
    _, history = run(tmp_path, epochs=4, checkpoint_epochs=[0, 2, 4])
    assert list(history.columns) == ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "fit_loss", "fit_acc"]
    assert history.epoch.tolist() == [0, 1, 2, 3, 4]
    assert history.fit_acc.isna().all()  # measured only at fit_epochs
    assert history.test_acc.iloc[-1] > 0.9 and history.train_loss.iloc[-1] < history.train_loss.iloc[1]
    saved = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert saved == ["epoch_000.pt", "epoch_002.pt", "epoch_004.pt"]
    assert (tmp_path / "history.csv").exists()


def test_fit_is_the_net_after_the_epoch_in_eval_mode_on_the_training_images(tmp_path: Path) -> None:
    model, history = run(tmp_path, epochs=3, fit_epochs=[1, 3])
    assert history.fit_acc.isna().tolist() == [True, False, True, False]
    tr, _ = toy_splits()
    model.eval()
    with torch.no_grad():
        logits = model(normalise(tr.images, None).contiguous(memory_format=torch.channels_last))
    assert history.fit_acc.iloc[-1] == pytest.approx(float((logits.argmax(1) == tr.labels).float().mean()))
    assert history.fit_loss.iloc[-1] == pytest.approx(float(torch.nn.functional.cross_entropy(logits, tr.labels)),
                                                      rel=1e-5)


def test_same_seed_gives_identical_weights(tmp_path: Path) -> None:
    a, ha = run(tmp_path / "a")
    b, hb = run(tmp_path / "b")
    assert same_weights(a, b)
    assert ha.equals(hb)


def test_resume_after_a_kill_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    whole, whole_history = run(tmp_path / "whole", epochs=4)

    def kill_after_epoch_2(epoch: int) -> None:
        if epoch == 2:
            raise KeyboardInterrupt("simulated kill")

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "killed", epochs=4, on_epoch_end=kill_after_epoch_2)
    assert not (tmp_path / "killed" / "history.csv").exists()
    resumed, resumed_history = run(tmp_path / "killed", epochs=4)
    assert same_weights(whole, resumed)
    assert resumed_history.equals(whole_history)


def test_checkpoints_load_back(tmp_path: Path) -> None:
    model, _ = run(tmp_path, epochs=2, checkpoint_epochs=[0, 2])
    reloaded = load_checkpoint(fresh_model(seed=99), tmp_path, 2)
    assert same_weights(model, reloaded)
    init = load_checkpoint(fresh_model(seed=99), tmp_path, 0)
    assert same_weights(fresh_model(), init)
    with pytest.raises(FileNotFoundError, match="no checkpoint for epoch 1"):
        load_checkpoint(fresh_model(), tmp_path, 1)
    assert checkpoint_path(tmp_path, 7).name == "epoch_007.pt"


def test_nan_loss_stops_with_a_clear_error(tmp_path: Path) -> None:
    model = fresh_model()
    with torch.no_grad():
        model.head.weight.fill_(float("nan"))
    tr, te = toy_splits()
    with pytest.raises(TrainingDiverged, match="lower the learning rate"):
        train(model, tr, te, epochs=1, optimiser=SPEC, seed=0, run_dir=tmp_path)


def test_bad_arguments(tmp_path: Path) -> None:
    tr, te = toy_splits()
    with pytest.raises(ValueError, match=r"checkpoint epochs \[5\] lie outside 0..3"):
        train(fresh_model(), tr, te, epochs=3, optimiser=SPEC, seed=0, run_dir=tmp_path, checkpoint_epochs=[5])
    with pytest.raises(ValueError, match="epochs must be non-negative"):
        train(fresh_model(), tr, te, epochs=-1, optimiser=SPEC, seed=0, run_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown optimiser 'rmsprop'"):
        OptimiserSpec("rmsprop")
