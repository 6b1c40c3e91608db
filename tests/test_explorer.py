"""The explorer: it lists what the store holds, draws the chosen view, and never trains."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib
import pytest

from repchange.book import explorer
from repchange.runs.runtime import Runtime
from repchange.runs.store import Store
from repchange.runs.trainer import OptimiserSpec
from repchange.studies.a import tables as a_tables
from repchange.studies.b import runs
from repchange.studies.b import tables as b_tables

matplotlib.use("Agg")

PRETRAIN = a_tables.PretrainConfig(epochs=2, train_size=128, eval_size=100, width=8,
                                  optimiser=OptimiserSpec("sgd", lr=1e-3, momentum=0.9, batch_size=32))
SOURCE = runs.SourceConfig(arch="vgg_small", epochs=1, train_size=256)
TINY_B = runs.FinetuneBConfig(source=SOURCE, epochs=2, checkpoints=(0, 1, 2), train_size=64, eval_size=40)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> dict:
    store = Store(tmp_path_factory.mktemp("explorer") / "store")
    a = a_tables.cka_to_init(a_tables.CkaToInitParams(PRETRAIN, seeds=(1, 2), n_probe=40), Runtime(store, "cpu"))
    b = b_tables.dynamics(b_tables.DynamicsParams(finetune=TINY_B, archs=("vgg_small",), targets=("digits",), n_probe=20),
                         runtime=Runtime(store, "cpu"))
    return {"store": store, "a": a, "b": b}


def test_it_lists_the_stored_tables_with_labels(stored: dict) -> None:
    tables = explorer.stored_tables(stored["store"])
    assert [t.kind for t in tables] == ["study_a/cka_to_init", "study_b/dynamics"]
    assert tables[0].label == "fashion_mnist, d=0, 128 images × 2 epochs, seeds [1, 2]"
    assert tables[1].label == "vgg_small → digits, seed 1, 2 epochs"


def test_the_view_follows_the_controls_and_plots_the_stored_means(stored: dict) -> None:
    view = explorer.Explorer(stored["store"])
    assert view.study.value == "study_a/cka_to_init" and view.comparison.value == "init"
    assert view.epoch.value == 2 and view.layers.value == ("block1", "block2", "block3", "block4", "logits")
    view.select(metric="cka_debiased", layers=["block1", "logits"], epoch=1)
    fig = view.figure()
    left, right = fig.axes
    assert left.get_ylabel() == "cka_debiased to init"
    assert [line.get_label() for line in left.lines[:2]] == ["block1", "logits"]
    a = stored["a"]
    expected = a[(a.metric == "cka_debiased") & (a.comparison == "init") & (a.layer == "logits")
                 ].groupby("epoch").value.mean()
    assert list(left.lines[1].get_ydata()) == pytest.approx(expected.tolist())
    heights = [bar.get_height() for bar in right.patches]
    assert heights[1] == pytest.approx(expected[1]) and right.get_title() == "epoch 1"

    view.select(study="study_b/dynamics")  # switching study resets run, comparison, metric, layers, epoch
    assert view.comparison.value == "source" and view.epoch.value == 2
    assert view.describe() == (f"Study B — fine-tuning: distance to the source net: vgg_small → digits, seed 1, "
                               f"2 epochs · seeds: [1] · stored run {view.tables[view.run.value].path.name}")
    assert view.metric.value in set(stored["b"].metric)
    with pytest.raises(ValueError, match="no stored run matches 'svhn'"):
        view.select(run="svhn")


def test_study_b_filter_view_reads_stored_checkpoints_and_never_trains(stored: dict, tmp_path: Path) -> None:
    view = explorer.Explorer(stored["store"]).select(study="study_b/dynamics", layers=["conv3_2"], epoch=2)
    fig = view.filters(n_samples=2, device="cpu")
    assert "conv3_2" in fig._suptitle.get_text() and "by epoch 2" in fig._suptitle.get_text()
    # A store holding the table but not the checkpoints: the explorer says so instead of training.
    partial = Store(tmp_path / "partial")
    shutil.copytree(stored["store"].root / "study_b" / "dynamics", partial.root / "study_b" / "dynamics")
    lonely = explorer.Explorer(partial).select(study="study_b/dynamics")
    with pytest.raises(FileNotFoundError, match="not in .* \\(the explorer never trains\\)"):
        lonely.filters()
    assert not (partial.root / "study_b" / "finetune").exists()


def test_an_empty_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="holds no result tables yet; run a chapter first"):
        explorer.Explorer(Store(tmp_path / "empty"))


def test_headless_show_draws_a_static_figure_instead_of_widgets(stored: dict, monkeypatch, capsys) -> None:
    shown = []
    monkeypatch.setattr("matplotlib.pyplot.show", lambda *a, **k: shown.append(True))
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: pytest.fail("a widget was displayed headlessly"))
    monkeypatch.setenv("REPCHANGE_HEADLESS", "1")
    explorer.Explorer(stored["store"]).show()
    assert shown == [True]


def test_live_show_displays_the_controls(stored: dict, monkeypatch) -> None:
    import ipywidgets

    displayed = []
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: displayed.extend(a))
    monkeypatch.setattr("matplotlib.pyplot.show", lambda *a, **k: None)
    monkeypatch.delenv("REPCHANGE_HEADLESS", raising=False)
    view = explorer.Explorer(stored["store"])
    view.show()
    (box,) = displayed
    assert isinstance(box, ipywidgets.VBox)
    shown = {type(w).__name__ for child in box.children for w in getattr(child, "children", (child,))}
    assert {"Dropdown", "SelectMultiple", "SelectionSlider", "Output"} <= shown
