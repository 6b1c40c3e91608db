"""A Hugging Face ``transformers`` Trainer callback around :class:`repchange.tool.track.Tracker`
(``pip install -e .[transformers]``)::

    trainer = transformers.Trainer(model=model, args=args, train_dataset=train)
    tracking = attach(trainer, probe, layers=["bert.encoder.layer.?", "bert"], view="first",
                      select={"bert": "last_hidden_state"})  # a model-output object: read one field
    trainer.train()
    tracking.tracker.table

The probe is usually a mapping of keyword inputs (``{"input_ids": ..., "attention_mask": ...}``,
:mod:`repchange.tool.probes`); a Hugging Face layer often returns a tuple or a model-output object, read
through ``select`` (:mod:`repchange.tool.hooks`). The reference is the model when training begins.
Measured at step 0, then at the end of every epoch, or every ``every_n_steps`` optimiser steps when
given; each row carries the global step and the epoch. Values go to ``trainer.state.log_history``
and to the Trainer's next log as ``repchange/<metric>/<layer>``, so to TensorBoard, W&B, ... (its
``report_to``) when the callback runs before the reporters: :func:`attach` puts it first (a callback
passed to ``Trainer(callbacks=...)`` runs after them, and its values reach the table and
``log_history`` only). Only the main process measures.
"""

from __future__ import annotations

from typing import Any

try:
    from transformers import TrainerCallback
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError("repchange.tool.track_transformers needs Hugging Face transformers: "
                      "pip install -e '.[transformers]'") from err

from repchange.tool.track import Tracker, logged_values

__all__ = ["RepresentationTrackingCallback", "attach"]


class RepresentationTrackingCallback(TrainerCallback):
    """Track ``probe`` through the trained model; ``tracker_options`` go to :class:`Tracker`."""

    def __init__(self, probe: Any, *, every_n_steps: int | None = None, log: bool = True,
                 **tracker_options: Any) -> None:
        if every_n_steps is not None and every_n_steps < 1:
            raise ValueError(f"every_n_steps must be a positive number of steps or None, got {every_n_steps}")
        self.probe, self.every_n_steps, self.log, self.options = probe, every_n_steps, log, tracker_options
        self.tracker: Tracker | None = None
        self._pending: dict[str, float] = {}

    def _update(self, state: Any, model: Any) -> None:
        if self.tracker is None:
            return
        rows = self.tracker.update(state.global_step, epoch=float(state.epoch or 0))  # leaves every module's mode
        if self.log:
            values = logged_values(rows)
            state.log_history.append({**values, "epoch": float(state.epoch or 0), "step": state.global_step})
            self._pending.update(values)

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self.tracker = Tracker(model, self.probe, **self.options)
            self._update(state, model)

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> Any:
        if self.every_n_steps and state.global_step % self.every_n_steps == 0:
            self._update(state, model)
            control.should_log = control.should_log or bool(self._pending)
        return control

    def on_epoch_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> Any:
        if self.every_n_steps is None:
            self._update(state, model)
            control.should_log = control.should_log or bool(self._pending)
        return control

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        """Hand the values measured since the last log to the Trainer's log (and so to its reporters)."""
        if logs is not None and self._pending:
            logs.update(self._pending)
            self._pending = {}


def attach(trainer: Any, probe: Any, **options: Any) -> RepresentationTrackingCallback:
    """Add a :class:`RepresentationTrackingCallback` to ``trainer`` ahead of its reporting callbacks, so its
    values reach TensorBoard, W&B, ... with the Trainer's own log; returns it."""
    callback = RepresentationTrackingCallback(probe, **options)
    trainer.callback_handler.callbacks.insert(0, callback)
    return callback
