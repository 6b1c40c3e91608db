"""A PyTorch Lightning callback around :class:`repchange.tool.track.Tracker` (``pip install -e .[lightning]``).

    trainer = lightning.Trainer(callbacks=[RepresentationTracking(probe, layers="stages", out="runs/track/x")])
    trainer.fit(module)
    table = trainer.callbacks[0].tracker.table

The reference is the module as it is when fitting starts. Measured at step 0, then after every
training epoch, or every ``every_n_steps`` optimiser steps when given; each row carries the
global step and the epoch; under gradient accumulation a step is measured once, when its optimiser step is done
(Lightning calls the batch hook once per micro-batch, with the same global step). Only the global-zero process
measures. Every value is also logged
through the trainer's loggers (TensorBoard, CSV, W&B, ...) as ``repchange/<metric>/<layer>`` (and
``.../p_value`` with a null), unless ``log=False``; an undefined value is left out of the log (the
table keeps it with its reason).
"""

from __future__ import annotations

from typing import Any

try:
    from lightning.pytorch.callbacks import Callback
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError("repchange.tool.track_lightning needs PyTorch Lightning: pip install -e '.[lightning]'") from err

from repchange.tool.track import Tracker, logged_values

__all__ = ["RepresentationTracking"]


class RepresentationTracking(Callback):
    """Track ``probe`` through the fitted module; ``tracker_options`` go to :class:`Tracker`."""

    def __init__(self, probe: Any, *, every_n_steps: int | None = None, log: bool = True,
                 **tracker_options: Any) -> None:
        if every_n_steps is not None and every_n_steps < 1:
            raise ValueError(f"every_n_steps must be a positive number of steps or None, got {every_n_steps}")
        self.probe, self.every_n_steps, self.log, self.options = probe, every_n_steps, log, tracker_options
        self.tracker: Tracker | None = None
        self._measured_step: int | None = None

    def _update(self, trainer: Any, epoch: int) -> None:
        assert self.tracker is not None
        self._measured_step = trainer.global_step
        rows = self.tracker.update(trainer.global_step, epoch=epoch)
        if self.log:
            values = logged_values(rows)
            for logger in trainer.loggers:
                logger.log_metrics(values, step=trainer.global_step)

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if trainer.is_global_zero:
            self.tracker = Tracker(pl_module, self.probe, **self.options)
            self._update(trainer, trainer.current_epoch)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:
        step = trainer.global_step
        if self.tracker is not None and self.every_n_steps and step % self.every_n_steps == 0 \
                and step != self._measured_step:  # micro-batches inside one accumulation window share a step
            self._update(trainer, trainer.current_epoch)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self.tracker is not None and self.every_n_steps is None:
            self._update(trainer, trainer.current_epoch + 1)
