"""The Hugging Face Trainer callback, on a small BERT built from a config (no download)."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

from repchange.measure.metrics import linear_cka
from repchange.tool.track_transformers import RepresentationTrackingCallback, attach


class Recorder(transformers.TrainerCallback):
    """Stands for a reporter (TensorBoard, W&B): keeps every log it is handed."""

    def __init__(self) -> None:
        self.logs: list[dict] = []

    def on_log(self, args, state, control, logs=None, **kwargs) -> None:
        self.logs.append(dict(logs or {}))


class Sentences(torch.utils.data.Dataset):
    def __init__(self, ids: torch.Tensor, labels: torch.Tensor) -> None:
        self.ids, self.labels = ids, labels

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.ids[i], "attention_mask": torch.ones_like(self.ids[i]), "labels": self.labels[i]}


@pytest.mark.slow
def test_the_trainer_callback_tracks_a_bert_and_reaches_the_reporters(tmp_path) -> None:
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=16, num_labels=3)
    model = transformers.BertForSequenceClassification(config)
    ids, labels = torch.randint(1, 60, (64, 10)), torch.randint(0, 3, (64,))
    probe = {"input_ids": torch.randint(1, 60, (40, 10)), "attention_mask": torch.ones(40, 10, dtype=torch.long)}
    model.eval()
    with torch.no_grad():
        start = model.bert(**probe).last_hidden_state[:, 0].clone()
    args = transformers.TrainingArguments(output_dir=str(tmp_path), num_train_epochs=2, per_device_train_batch_size=16,
                                          learning_rate=5e-3, report_to=[], logging_steps=1, save_strategy="no",
                                          use_cpu=True, disable_tqdm=True)
    recorder = Recorder()
    trainer = transformers.Trainer(model=model, args=args, train_dataset=Sentences(ids, labels), callbacks=[recorder])
    tracking = attach(trainer, probe, layers=["bert.encoder.layer.1", "bert"], select={"bert": "last_hidden_state"},
                      view="first", metrics=("cka", "cka_debiased"))
    trainer.train()
    table = tracking.tracker.table
    assert table.step.unique().tolist() == [0, 4, 8] and table.epoch.unique().tolist() == [0.0, 1.0, 2.0]
    model.eval()
    with torch.no_grad():
        end = model.bert(**probe).last_hidden_state[:, 0]
    last = table[(table.step == 8) & (table.metric == "cka") & (table.layer == "bert")].value.item()
    assert last == pytest.approx(linear_cka(start, end), abs=1e-6) and last < 0.999
    key = "repchange/cka/bert"
    assert any(key in logs for logs in recorder.logs)  # a reporter sees the values with the Trainer's log
    assert [h[key] for h in trainer.state.log_history if key in h][-1] == pytest.approx(last)
    with pytest.raises(ValueError, match="every_n_steps"):
        RepresentationTrackingCallback(probe, every_n_steps=0)
