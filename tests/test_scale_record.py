"""The committed record of the scale axis: served only where it is exactly this build's scale, verified before
it is read, and read into the same verdicts as the store's tables."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from repchange.book import parameters, runner
from repchange.runs.runtime import Runtime
from repchange.studies.a import scale as a_scale
from repchange.studies.a.pretraining import TRAINING_CODE as PRETRAINING_CODE
from repchange.studies.a.scale_record import RECORD_FOLDER, TABLES, RecordError, ScaleRecord, record_key, write_record

TINY = {"a_dataset": "fashion_mnist", "a_cross_domain": "digits", "a_seeds": [1, 2, 3], "a_degrees": [0, 9],
        "a_shifts": ["seed"], "a_pretrain_sizes": [32, 64], "a_size_sweep_degree": 9, "a_pretrain_epochs": 1,
        "a_pretrain_size": 64, "a_pretrain_eval_size": 64, "a_finetune_epochs": 1, "a_finetune_size": 64,
        "a_finetune_eval_size": 64, "a_probe_size": 64, "extraction_bn": "batch", "a_batch_size": 32, "a_lr": 1e-3,
        "a_momentum": 0.9, "a_bn_order": "relu_bn", "a_width": 8, "device": "cpu", "data_root": None,
        "download": False}
PROVENANCE = dict(date="2026-12-04", commit="0123456789abcdef", machine="test machine", command="pytest")


def _book(values: dict) -> dict:
    return dict(pretraining=parameters.cka_to_init(values), degrees=parameters.degree_sweep(values),
                sizes=parameters.size_sweep(values), finetuning=parameters.finetune_sweep(values))


def _synthetic_frames() -> dict[str, pd.DataFrame]:
    return {name: pd.DataFrame({"seed": [1, 2, 3], "value": [0.5, 0.25, 0.125], "table": name}) for name in TABLES}


def test_a_record_round_trips_and_serves_only_its_own_parameters(tmp_path: Path) -> None:
    tables = a_scale.scale_tables(a_scale.Scale(128, 2), "batch", [1, 2, 3], **_book(TINY))
    frames = _synthetic_frames()
    write_record(tmp_path, {"128 × 2 batch": (tables, frames, 128)}, PROVENANCE)
    found = ScaleRecord(tmp_path).tables(tables)
    assert found is not None and found.images == 128
    assert found.source == ("recorded 2026-12-04 at commit 0123456, measured with the same code and parameters on test "
                            "machine (torch version, CPU capability and thread count not recorded)")
    detailed = {**PROVENANCE, "torch": "2.14.1", "cpu_capability": "AVX512", "threads": "2"}
    write_record(tmp_path / "detailed", {"128 × 2 batch": (tables, frames, 128)}, detailed)
    assert ScaleRecord(tmp_path / "detailed").tables(tables).source.endswith(
        "on test machine (torch 2.14.1, CPU capability AVX512, 2 threads)")
    for name in TABLES:
        pd.testing.assert_frame_equal(found.frames[name], frames[name])
    # another mode, other seeds, another scale, another probe: not this record's tables
    others = [replace(tables, bn="eval"), a_scale.scale_tables(a_scale.Scale(128, 2), "batch", [1, 2, 4], **_book(TINY)),
              a_scale.scale_tables(a_scale.Scale(128, 3), "batch", [1, 2, 3], **_book(TINY)),
              a_scale.scale_tables(a_scale.Scale(128, 2), "batch", [1, 2, 3], **_book({**TINY, "a_probe_size": 32}))]
    assert len({record_key(t) for t in [tables, *others]}) == 5
    assert all(ScaleRecord(tmp_path).tables(t) is None for t in others)
    assert ScaleRecord(tmp_path / "absent").tables(tables) is None


def test_a_record_is_byte_identical_when_written_twice(tmp_path: Path) -> None:
    tables = a_scale.scale_tables(a_scale.Scale(128, 2), "eval", [1, 2, 3], **_book(TINY))
    write_record(tmp_path / "a", {"x": (tables, _synthetic_frames(), 128)}, PROVENANCE)
    write_record(tmp_path / "b", {"x": (tables, _synthetic_frames(), 128)}, PROVENANCE)
    key = record_key(tables)
    for name in TABLES:
        assert (tmp_path / "a" / key / f"{name}.csv.gz").read_bytes() == (tmp_path / "b" / key / f"{name}.csv.gz").read_bytes()
    # recorded again later with the same measurements: the first provenance stands; new measurements replace it
    write_record(tmp_path / "a", {"x": (tables, _synthetic_frames(), 128)}, {**PROVENANCE, "commit": "fedcba9876"})
    assert "at commit 0123456," in ScaleRecord(tmp_path / "a").tables(tables).source
    changed = {**_synthetic_frames(), "sizes": pd.DataFrame({"seed": [1], "value": [0.75]})}
    write_record(tmp_path / "a", {"x": (tables, changed, 128)}, {**PROVENANCE, "commit": "fedcba9876"})
    assert "at commit fedcba9," in ScaleRecord(tmp_path / "a").tables(tables).source


@pytest.mark.parametrize("damage", ["edit", "delete"])
def test_an_edited_or_missing_record_file_is_an_error_naming_it(tmp_path: Path, damage: str) -> None:
    tables = a_scale.scale_tables(a_scale.Scale(128, 2), "batch", [1, 2, 3], **_book(TINY))
    write_record(tmp_path, {"x": (tables, _synthetic_frames(), 128)}, PROVENANCE)
    path = tmp_path / record_key(tables) / "sizes.csv.gz"
    if damage == "edit":
        path.write_bytes(path.read_bytes()[:-3] + b"abc")
    else:
        path.unlink()
    with pytest.raises(RecordError, match="sizes.csv.gz"):
        ScaleRecord(tmp_path).tables(tables)


def test_the_committed_record_is_current_and_intact() -> None:
    """Every entry of references/scale_record is reachable from the budget chapter's default parameters with
    today's training and measuring code, and its files match their checksums. When this fails after a change of
    training code, re-run `repchange run notebooks/budget.py --profile scale`, then `repchange scale-record`."""
    path = RECORD_FOLDER / "record.json"
    if not path.exists():
        pytest.skip("no committed scale record")
    entries = json.loads(path.read_text())["entries"]
    assert entries, "record.json lists no entries"
    values = runner.effective_parameters(runner.project_root() / "notebooks" / "budget.py", "default")
    book = parameters.scale_axis(values)["book"]
    record = ScaleRecord()
    for key, entry in entries.items():
        images, epochs = entry["scale"]
        tables = a_scale.scale_tables(a_scale.Scale(images, epochs), entry["bn"], entry["seeds"], **book)
        assert record_key(tables) == key, (
            f"the record's {entry['label']} was made with other parameters or training code than today's; "
            f"re-run the scale profile and `repchange scale-record`, or delete the entry")
        assert record.tables(tables) is not None
        assert {"date", "commit", "machine", "command"} <= set(entry["provenance"])


@pytest.mark.slow
def test_recorded_tables_give_the_verdicts_of_the_stored_ones(store_root: Path, tmp_path: Path) -> None:
    runtime = Runtime(device="cpu")
    book = _book(TINY)
    axis = dict(book=book, own=a_scale.Scale(64, 1), own_seeds=[1, 2, 3], scales=[a_scale.Scale(128, 1)],
                seeds=[1, 2, 3])
    trained, status = a_scale.scale_axis(**axis, runtime=runtime, train=True)
    assert set(trained.source) == {"this build"}
    written, lacking = a_scale.record_scales(book, [a_scale.Scale(128, 1), a_scale.Scale(256, 1)], [1, 2, 3],
                                             tmp_path / "record", PROVENANCE, runtime)
    assert written == ["128 × 1 batch", "128 × 1 eval"]
    assert [line.split(":")[0] for line in lacking] == ["256 × 1 (batch)", "256 × 1 (eval)"]
    # one of the 128-image trainings gone from the store: that scale is read from the record, the book's own
    # scale still from the store
    pre, _ = a_scale.scale_trainings(a_scale.scale_tables(a_scale.Scale(128, 1), "batch", [1, 2, 3], **book), runtime)
    shutil.rmtree(runtime.store.run_dir("study_a/pretrain", pre[0], PRETRAINING_CODE))
    fresh = Runtime(device="cpu")
    recorded, status = a_scale.scale_axis(**axis, runtime=fresh, record=ScaleRecord(tmp_path / "record"))
    assert any(line.startswith("128 × 1: read") and "recorded 2026-12-04" in line for line in status), status
    columns = ["key", "bn", "images", "epochs", "verdict", "value", "ci_low", "ci_high"]
    pd.testing.assert_frame_equal(recorded[columns].reset_index(drop=True), trained[columns].reset_index(drop=True))
    assert set(recorded[recorded.images == 128].source) == {
        "recorded 2026-12-04 at commit 0123456, measured with the same code and parameters on test machine (torch "
        "version, CPU capability and thread count not recorded)"}


def test_scale_record_refuses_a_file_as_its_folder_before_any_work(tmp_path: Path, store_root: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    from repchange.book.cli import main

    target = tmp_path / "a-file"
    target.write_text("kept")
    assert main(["scale-record", "--out", str(target)]) == 2
    assert "--out" in capsys.readouterr().err and target.read_text() == "kept"
    assert not store_root.exists() or not any(store_root.rglob("complete.json"))


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"entries": 3}'])
def test_a_garbled_record_file_is_named_with_its_fix(tmp_path: Path, text: str) -> None:
    (tmp_path / "record.json").write_text(text)
    with pytest.raises(RecordError, match=r"record.json is not a record .*restore it with git"):
        ScaleRecord(tmp_path)
