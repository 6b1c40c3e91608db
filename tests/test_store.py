from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from repchange.core.store import Store, config_key


@dataclass(frozen=True)
class Cfg:
    a: int = 1
    b: tuple = (1, 2)


def test_keys_depend_on_config_and_code_only() -> None:
    assert config_key("k", Cfg()) == config_key("k", {"b": [1, 2], "a": 1.0})
    assert config_key("k", Cfg()) != config_key("k", Cfg(a=2))
    assert config_key("k", Cfg()) != config_key("other", Cfg())
    assert config_key("k", Cfg()) != config_key("k", Cfg(), code=("core.labels",))
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
    from repchange.core.store import source_fingerprint

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
    from repchange.core.store import pooled_fingerprint

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
TRAINING_CODE = ("core.data", "study_b.runs", "study_b.dynamics")


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
