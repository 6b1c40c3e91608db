from __future__ import annotations

import errno
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import torch

from repchange.runs.store import Store, StoreWriteError, config_key, verify_run, write_failure


@dataclass(frozen=True)
class Cfg:
    a: int = 1
    b: tuple = (1, 2)


def test_keys_depend_on_config_and_code_only() -> None:
    assert config_key("k", Cfg()) == config_key("k", {"b": [1, 2], "a": 1.0})
    assert config_key("k", Cfg()) != config_key("k", Cfg(a=2))
    assert config_key("k", Cfg()) != config_key("other", Cfg())
    assert config_key("k", Cfg()) != config_key("k", Cfg(), code=("data.labels",))
    with pytest.raises(TypeError, match="cannot be part of a run key"):
        config_key("k", {"x": object()})


def test_get_or_run_produces_once(tmp_path: Path) -> None:
    store, calls = Store(tmp_path), []

    def produce(run_dir: Path) -> None:
        calls.append(run_dir)
        (run_dir / "out.txt").write_text("done")

    first = store.get_or_run("train", Cfg(), produce)
    second = Store(tmp_path).get_or_run("train", Cfg(), produce)
    assert first == second and len(calls) == 1
    assert (first / "out.txt").read_text() == "done" and Store.is_complete(first)
    assert '"a": 1' in (first / "config.json").read_text()


def test_a_killed_run_is_never_served_and_resumes(tmp_path: Path) -> None:
    store = Store(tmp_path)

    def killed(run_dir: Path) -> None:
        (run_dir / "partial.txt").write_text("epoch 1")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.get_or_run("train", Cfg(), killed)
    run_dir = store.run_dir("train", Cfg())
    assert not Store.is_complete(run_dir)
    seen = []
    store.get_or_run("train", Cfg(), lambda d: seen.append((d / "partial.txt").read_text()))
    assert seen == ["epoch 1"] and Store.is_complete(run_dir)


def test_tables_round_trip_and_are_computed_once(tmp_path: Path) -> None:
    store, calls = Store(tmp_path), []
    frame = pd.DataFrame({"layer": ["block1", "logits"], "value": [0.25, 0.125]})

    def compute() -> pd.DataFrame:
        calls.append(1)
        return frame

    assert store.table("t", Cfg(), compute).equals(frame)
    assert store.table("t", Cfg(), compute).equals(frame) and len(calls) == 1


def test_store_root_follows_the_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REPCHANGE_STORE", str(tmp_path / "elsewhere"))
    assert Store().root == (tmp_path / "elsewhere").resolve()


def test_missing_lists_each_unstored_config_once_in_order(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.get_or_run("k", Cfg(b=2), lambda d: None)
    assert store.missing("k", [Cfg(b=3), Cfg(b=2), Cfg(b=3), Cfg(b=1)]) == [Cfg(b=3), Cfg(b=1)]
    assert store.missing("other", [Cfg(b=2)]) == [Cfg(b=2)]


def test_code_fingerprint_ignores_imports_docstrings_comments_and_layout_not_code() -> None:
    from repchange.runs.store import source_fingerprint

    base = '''"""Module doc."""
from .metrics import pwsm


def f(x):
    """Doc."""
    return x + 1
'''
    moved = '''"""Reworded module doc."""
from ..metrics import pwsm  # the module moved one package down


def f(x):
    # a comment
    return (x
            + 1)
'''
    changed = base.replace("x + 1", "x + 2")
    assert source_fingerprint(base) == source_fingerprint(moved)
    assert source_fingerprint(base) != source_fingerprint(changed)
    assert source_fingerprint('def g():\n    """only a docstring"""\n') == source_fingerprint("def g():\n    pass\n")


def test_code_version_survives_splitting_a_module_but_not_a_change_of_what_it_computes() -> None:
    from repchange.runs.store import pooled_fingerprint

    whole = '''"""Runs and dynamics."""
from . import data

__all__ = ["train", "measure"]
TRAINING_CODE = ("data", "experiments.study_b")


def train(x):
    return x + 1


def measure(x):
    return x * 2
'''
    runs = '''"""Runs."""
from ..core import data

__all__ = ["train"]
TRAINING_CODE = ("data.datasets", "study_b.runs", "study_b.dynamics")


def train(x):
    return x + 1
'''
    dynamics = '''"""Dynamics."""
from .runs import train

__all__ = ["measure"]


def measure(x):
    return x * 2
'''
    assert pooled_fingerprint([whole]) == pooled_fingerprint([runs, dynamics]) == pooled_fingerprint([dynamics, runs])
    assert pooled_fingerprint([whole]) != pooled_fingerprint([runs])  # a definition left out of the key
    assert pooled_fingerprint([whole]) != pooled_fingerprint([runs, dynamics.replace("x * 2", "x * 3")])
    assert pooled_fingerprint([whole]) != pooled_fingerprint([whole.replace('TRAINING_CODE = ', 'SOMETHING = ')])


# ----------------------------------------------------------------------------------------------
# The store serves only what it has checked: complete.json is a manifest of sizes and SHA-256s.

def _edit(path: Path) -> None:
    """Change one byte in the middle of ``path`` (same size: only the checksum can tell)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _weights_run(store: Store, calls: list) -> Path:
    def produce(run_dir: Path) -> None:
        calls.append(1)
        torch.save({"w": torch.arange(1000.0)}, run_dir / "epoch_1.pt")
        (run_dir / "history.csv").write_text("epoch,loss\n1,0.5\n")

    return store.get_or_run("train", Cfg(), produce)


def test_the_manifest_records_every_file_with_size_and_checksum(tmp_path: Path) -> None:
    store = Store(tmp_path)
    run_dir = _weights_run(store, [])
    manifest = json.loads((run_dir / "complete.json").read_text())
    assert set(manifest["files"]) == {"config.json", "epoch_1.pt", "history.csv"}  # not the lock, not itself
    assert manifest["files"]["history.csv"] == {"size": 17, "sha256": hashlib.sha256(b"epoch,loss\n1,0.5\n").hexdigest()}
    assert manifest["kind"] == "train" and verify_run(run_dir) is None


@pytest.mark.parametrize("name", ["epoch_1.pt", "config.json", "history.csv"])
@pytest.mark.parametrize("damage", [_edit, _truncate])
def test_a_damaged_run_is_quarantined_named_and_made_again(tmp_path: Path, capsys, name: str, damage) -> None:
    store, calls = Store(tmp_path), []
    run_dir = _weights_run(store, calls)
    damage(run_dir / name)
    again = _weights_run(Store(tmp_path), calls)  # a new process's store: nothing cached
    assert again == run_dir and len(calls) == 2  # made again, in the same place
    assert verify_run(run_dir) is None and torch.load(run_dir / "epoch_1.pt")["w"][999] == 999
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"store: train/{run_dir.name} failed its check ({name} ")
    quarantined = list((tmp_path / ".quarantine" / "train").iterdir())
    assert len(quarantined) == 1 and quarantined[0].name.startswith(run_dir.name)
    assert (quarantined[0] / name).exists() and (quarantined[0] / "complete.json").exists()  # moved aside, not deleted


def test_an_edited_table_is_never_served(tmp_path: Path, capsys) -> None:
    store = Store(tmp_path)
    frame = pd.DataFrame({"layer": ["block1", "logits"], "value": [0.25, 0.125]})
    store.table("cka", Cfg(), lambda: frame)
    run_dir = store.run_dir("cka", Cfg())
    (run_dir / "table.csv").write_text((run_dir / "table.csv").read_text().replace("0.25", "0.35"))
    served = Store(tmp_path).table("cka", Cfg(), lambda: frame)
    pd.testing.assert_frame_equal(served, frame)  # recomputed, not the edited digit
    assert "(table.csv differs from its recorded checksum)" in capsys.readouterr().err  # same size: the checksum tells
    assert verify_run(run_dir) is None


def test_a_run_without_checksums_is_not_served(tmp_path: Path, capsys) -> None:
    """Runs finished before the store recorded checksums cannot be checked: made again, the old one kept aside."""
    store, calls = Store(tmp_path), []
    run_dir = _weights_run(store, calls)
    (run_dir / "complete.json").write_text(json.dumps({"key": run_dir.name}))
    assert not Store(tmp_path).has("train", Cfg())
    assert "stored before the store recorded checksums" in capsys.readouterr().err
    _weights_run(Store(tmp_path), calls)
    assert len(calls) == 2


def test_a_verified_run_is_hashed_once_per_process_until_its_files_change(tmp_path: Path, monkeypatch) -> None:
    from repchange.runs import store as store_module

    store = Store(tmp_path)
    run_dir = _weights_run(store, [])
    hashed = []
    real = store_module._sha256
    monkeypatch.setattr(store_module, "_sha256", lambda p: hashed.append(p.name) or real(p))
    store_module._VERIFIED.clear()
    assert store.has("train", Cfg()) and store.has("train", Cfg())
    assert sorted(hashed) == ["config.json", "epoch_1.pt", "history.csv"]  # the second look used the cache
    _edit(run_dir / "history.csv")
    assert not store.has("train", Cfg())  # its stats changed: checked again, and it fails


def test_store_care_verifies_measures_and_prunes_only_what_no_code_asks_for(tmp_path: Path, capsys) -> None:
    from repchange.book.cli import main
    from repchange.runs import store_care

    store = Store(tmp_path)
    current = store.get_or_run("train", Cfg(), lambda d: (d / "w.txt").write_text("current"), code=("data.labels",))
    old = store.get_or_run("train", Cfg(a=2), lambda d: (d / "w.txt").write_text("old"), code=("data.labels",))
    manifest = json.loads((old / "complete.json").read_text())
    manifest["code"]["version"] = "0" * 16  # made by code that no longer exists
    (old / "complete.json").write_text(json.dumps(manifest))
    plain = store.get_or_run("table", Cfg(), lambda d: (d / "t.csv").write_text("x\n1\n"))
    (plain / "t.csv").write_text("x\n2\n")  # damaged
    assert main(["store", "verify", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"table/{plain.name}: t.csv differs from its recorded checksum" in out and "2 of 3 runs" in out
    usage = store_care.disk_usage(store)
    assert usage.runs.sum() == 3 and set(usage.kind) == {"train", "table"}
    assert main(["store", "prune", "--root", str(tmp_path)]) == 0
    assert old.exists() and f"train/{old.name}: made by code version 0000" in capsys.readouterr().out  # listed only
    assert main(["store", "prune", "--root", str(tmp_path), "--yes"]) == 0
    assert not old.exists() and current.exists() and plain.exists()


# ---- write errors say what happened and what to do (issue 25) -----------------------------------------------------

def _full_disk_error() -> RuntimeError:
    """What torch.save really raises when the disk fills mid-write (/dev/full: every write fails with ENOSPC)."""
    try:
        torch.save({"w": torch.zeros(10_000)}, "/dev/full")
    except RuntimeError as error:
        return error
    raise AssertionError("torch.save to /dev/full succeeded")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_full_disk_names_the_store_its_free_space_and_repchange_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    Store(store.root).table("t", {"x": 1}, lambda: pd.DataFrame({"v": [1]}))  # a run finished before the disk fills

    def produce(run_dir: Path) -> None:
        raise _full_disk_error()

    with pytest.raises(StoreWriteError, match=rf"run store {re.escape(str(store.root))} is out of space \([\d,]+ MB "
                                              rf"free; .*unexpected pos.*REPCHANGE_STORE.*finished runs are kept"):
        store.get_or_run("train", {"x": 2}, produce)
    assert not store.is_complete(store.run_dir("train", {"x": 2}))
    assert store.has("t", {"x": 1})  # nothing finished is lost
    with pytest.raises(StoreWriteError, match="out of space"):
        store.table("t", {"x": 3}, lambda: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))


def test_a_read_only_store_names_the_folder_and_repchange_store(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "store")
    real_mkdir = Path.mkdir

    def read_only(self: Path, *args: object, **kwargs: object) -> None:
        if self.is_relative_to(store.root):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(StoreWriteError, match=rf"run store {re.escape(str(store.root))} is read-only .*set "
                                              rf"REPCHANGE_STORE to a writable folder"):
        store.table("t", {"x": 1}, lambda: pd.DataFrame({"v": [1]}))


def test_an_error_about_a_file_outside_the_store_is_not_called_a_store_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")

    def produce(run_dir: Path) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", "/data/fashion/train-images")

    with pytest.raises(PermissionError, match="/data/fashion") as caught:
        store.get_or_run("train", {"x": 1}, produce)
    assert not isinstance(caught.value, StoreWriteError)
    assert write_failure(RuntimeError("PytorchStreamReader failed reading zip archive"), store.root) is None


def test_the_cached_code_version_equals_the_parsed_one_and_follows_the_file(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import inspect

    from repchange.runs import store as store_mod

    modules = ("data.datasets", "runs.trainer", "studies.b.runs")
    parsed = store_mod.pooled_fingerprint(inspect.getsource(importlib.import_module(f"repchange.{m}")) for m in modules)
    assert store_mod.code_version(modules) == parsed == store_mod.code_version(modules)
    # a new version of a module's file (another stamp) is parsed again, not served from the cache
    copy = tmp_path / "runs.py"
    copy.write_text(Path(inspect.getsourcefile(importlib.import_module("repchange.studies.b.runs"))).read_text()
                    + "\n\ndef added() -> int:\n    return 1\n")
    stamps = {"studies.b.runs": (str(copy), copy.stat().st_size, copy.stat().st_mtime_ns)}
    real = store_mod._file_stamp
    monkeypatch.setattr(store_mod, "_file_stamp", lambda name: stamps.get(name) or real(name))
    assert store_mod.code_version(modules) != parsed
