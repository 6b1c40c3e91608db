"""An interactive explorer of the stored results: pick a study, run, comparison, metric, layers and epoch.

It reads only what the run store holds (complete tables; for Study B's filter views, stored
checkpoints) and never trains. In a live Jupyter session :meth:`Explorer.show` displays the
widgets; in a headless execution (the book build, papermill runs: ``REPCHANGE_HEADLESS=1``)
it draws the current view as a static figure, so the rendered book never shows a dead widget.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from repchange.runs.runtime import Runtime
from repchange.runs.store import Store
from repchange.studies.a.finetuning import condition_label

__all__ = ["KINDS", "Explorer", "StoredTable", "curves", "stored_tables"]

KINDS = {
    "study_a/cka_to_init": "Study A — pre-training: CKA to the init",
    "study_a/finetune_cka": "Study A — fine-tuning: CKA to the references",
    "study_b/dynamics": "Study B — fine-tuning: distance to the source net",
}


@dataclass(frozen=True)
class StoredTable:
    """One complete result table in the store: its kind, folder, config and a one-line label."""

    kind: str
    path: Path
    config: dict

    @property
    def label(self) -> str:
        c = self.config
        if self.kind == "study_a/cka_to_init":
            p = c["pretrain"]
            measured = f", epochs measured {c['measured_epochs']}" if c.get("measured_epochs") else ""
            return (f"{p['dataset']}, d={p['degree']}, {p['train_size'] or 'all'} images × {p['epochs']} epochs, "
                    f"seeds {c['seeds']}{measured}")
        if self.kind == "study_a/finetune_cka":
            f = c["finetune"]
            labels = condition_label(f["degree"], f["shift"])
            measured = f", epochs measured {c['measured_epochs']}" if c.get("measured_epochs") else ""
            return (f"{f['pretrain']['dataset']} → {f['target']}, {labels}, {f['epochs']} epochs, "
                    f"seeds {c['seeds']}{measured}")
        f = c["finetune"]
        return f"{f['source']['arch']} → {f['target']}, seed {f['source']['seed']}, {f['epochs']} epochs"

    def table(self) -> pd.DataFrame:
        return pd.read_csv(self.path / "table.csv", dtype={"cls": str} if self.kind == "study_b/dynamics" else None)


def stored_tables(store: Store | None = None) -> list[StoredTable]:
    """Every complete table of the kinds in :data:`KINDS` that passes the store's check, sorted by kind and label."""
    store = store or Store()
    found = []
    for kind in KINDS:
        folder = store.root / kind
        if not folder.is_dir():
            continue
        for run in folder.iterdir():
            if store.serves(run) and (run / "table.csv").exists():
                found.append(StoredTable(kind, run, json.loads((run / "config.json").read_text())["config"]))
    return sorted(found, key=lambda t: (list(KINDS).index(t.kind), t.label))


def curves(table: pd.DataFrame, kind: str, seed: int | None = None) -> pd.DataFrame:
    """The table as seed, layer, epoch, comparison, metric, value (Study B: all probes, comparison
    ``source``; a stored per-run table has no seed column, so pass the run's ``seed``)."""
    if kind == "study_b/dynamics":
        rows = table[table.cls == "all"].assign(comparison="source")
        if "seed" not in rows:
            if seed is None:
                raise ValueError("a stored Study B table has no seed column; pass the run's seed")
            rows = rows.assign(seed=seed)
    else:
        rows = table
    return rows[["seed", "layer", "epoch", "comparison", "metric", "value"]]


def _finetune_b_config(d: dict[str, Any]):
    """A stored Study B fine-tuning config (JSON) back as a FinetuneBConfig."""
    from repchange.runs.trainer import OptimiserSpec
    from repchange.studies.b.runs import FinetuneBConfig, SourceConfig

    src = dict(d["source"], optimiser=OptimiserSpec(**d["source"]["optimiser"]))
    return FinetuneBConfig(**{**d, "source": SourceConfig(**src), "checkpoints": tuple(d["checkpoints"]),
                              "optimiser": OptimiserSpec(**d["optimiser"])})


class Explorer:
    """Widgets over :func:`stored_tables`; ``figure()`` draws the current selection (also without widgets).

    Left panel: the chosen metric of each chosen layer over epochs (mean ± s.e.m. over seeds),
    the chosen epoch marked; right panel: every layer at the chosen epoch. For Study B,
    ``filters()`` shows the most and least changed filter of the first chosen layer as heatmaps
    on probe images at epoch 0 and at the chosen epoch, from the stored checkpoints.
    """

    def __init__(self, store: Store | None = None) -> None:
        import ipywidgets as w

        self.store = store or Store()
        self.tables = stored_tables(self.store)
        if not self.tables:
            raise FileNotFoundError(f"the run store {self.store.root} holds no result tables yet; run a chapter "
                                    "first (e.g. `make book`), or point REPCHANGE_STORE at a store that has them")
        kinds = [k for k in KINDS if any(t.kind == k for t in self.tables)]
        self.study = w.Dropdown(options=[(KINDS[k], k) for k in kinds], description="study")
        self.run = w.Dropdown(description="run", layout=w.Layout(width="640px"))
        self.comparison = w.Dropdown(description="comparison")
        self.metric = w.Dropdown(description="metric")
        self.layers = w.SelectMultiple(description="layers", rows=6)
        self.epoch = w.SelectionSlider(description="epoch", options=[0])
        self.output = w.Output()
        self._table = pd.DataFrame()
        self._busy = False
        self._live = False  # redraw into the output widget only once the widgets are displayed
        self.study.observe(lambda _: self._on_study(), "value")
        self.run.observe(lambda _: self._on_run(), "value")
        for control in (self.comparison, self.metric, self.layers, self.epoch):
            control.observe(lambda _: self.redraw(), "value")
        self._on_study()

    # --- state ------------------------------------------------------------------------------
    def _on_study(self) -> None:
        runs = [t for t in self.tables if t.kind == self.study.value]
        self._busy = True
        self.run.options = [(t.label, k) for k, t in enumerate(self.tables) if t in runs]
        self.run.index = 0  # ipywidgets 8 leaves the value None when options change
        self._busy = False
        self._on_run()

    def _on_run(self) -> None:
        if self._busy or self.run.value is None:
            return
        stored = self.tables[self.run.value]
        seed = stored.config["finetune"]["source"]["seed"] if stored.kind == "study_b/dynamics" else None
        self._table = curves(stored.table(), stored.kind, seed)
        self._busy = True
        for control, column in ((self.comparison, "comparison"), (self.metric, "metric")):
            control.options = list(dict.fromkeys(self._table[column]))
            control.index = 0
        layers = list(dict.fromkeys(self._table.layer))
        self.layers.options = layers
        self.layers.value = tuple(layers)
        epochs = sorted(self._table.epoch.unique())
        self.epoch.options = [int(e) for e in epochs]
        self.epoch.value = int(epochs[-1])
        self._busy = False
        self.redraw()

    @property
    def selection(self) -> pd.DataFrame:
        """Rows of the current run, comparison, metric and layers."""
        t = self._table
        return t[(t.comparison == self.comparison.value) & (t.metric == self.metric.value)
                 & t.layer.isin(self.layers.value)]

    # --- drawing ----------------------------------------------------------------------------
    def figure(self):
        """The current view as a matplotlib figure."""
        import matplotlib as mpl

        from repchange.base.plotting import HOUSE_STYLE

        with mpl.rc_context(HOUSE_STYLE):
            return self._draw()

    def _draw(self):
        """:meth:`figure`'s drawing: the curves over epochs above the bars at the chosen epoch."""
        from repchange.base.plotting import caption, legend_below, panel_grid, place_caption, wrapped

        rows = self.selection
        stats = rows.groupby(["layer", "epoch"], sort=False)["value"].agg(["mean", "sem"]).reset_index()
        fig, (left, right) = panel_grid(2, panel_height=3.2, max_cols=1, extra_height=1.4)
        for layer in self.layers.value:
            s = stats[stats.layer == layer]
            left.plot(s.epoch, s["mean"], marker="o", ms=3, label=layer)
            left.fill_between(s.epoch, s["mean"] - s["sem"].fillna(0), s["mean"] + s["sem"].fillna(0), alpha=0.2)
        left.axvline(self.epoch.value, color="black", lw=0.8, ls=":")
        left.set_xlabel("epoch")
        left.set_ylabel(f"{self.metric.value} to {self.comparison.value}")
        legend_below(fig, left, ncol=5)
        left.grid(alpha=0.3)
        at = stats[stats.epoch == self.epoch.value]
        right.bar(range(len(at)), at["mean"], yerr=at["sem"].fillna(0), color="#4c72b0", capsize=2)
        right.set_xticks(range(len(at)), at.layer, rotation=30, ha="right")
        right.set_title(f"epoch {self.epoch.value}")
        right.grid(alpha=0.3, axis="y")
        stored = self.tables[self.run.value]
        fig.suptitle(wrapped(f"{KINDS[stored.kind]} — {stored.label}", fig))
        caption(fig, f"stored run {stored.path.name} · seeds: {sorted(rows.seed.unique().tolist())} · "
                      f"mean ± s.e.m. over seeds")
        place_caption(fig)
        return fig

    def describe(self) -> str:
        """One line naming the current view's study, run (data, conditions), seeds and stored run."""
        stored = self.tables[self.run.value]
        seeds = sorted(int(x) for x in self._table.seed.unique())
        return f"{KINDS[stored.kind]}: {stored.label} · seeds: {seeds} · stored run {stored.path.name}"

    def filters(self, n_samples: int = 3, device: str = "auto", data_root: str | None = None):
        """Study B: heatmaps of the most and least changed filter of the first chosen layer (epoch 0 and the
        chosen epoch) from stored checkpoints; raises where the run's checkpoints are not stored."""
        from repchange.studies.b import runs, tables, visualize
        from repchange.studies.b.figures import fig_heatmaps

        stored = self.tables[self.run.value]
        if stored.kind != "study_b/dynamics":
            raise ValueError("filter views exist for Study B runs only; choose a Study B run")
        cfg = _finetune_b_config(stored.config["finetune"])
        if not self.store.serves(self.store.run_dir("study_b/finetune", cfg, code=runs.TRAINING_CODE)):
            raise FileNotFoundError(f"the checkpoints of {stored.label} are not in {self.store.root} (the explorer "
                                    "never trains); run the Study B chapters with this store first")
        layer, epoch = self.layers.value[0], self.epoch.value
        runtime = Runtime(store=self.store, device=device, data_root=data_root)
        probe, maps, _ = tables.checkpoint_maps(cfg, [layer], stored.config["n_probe"], runtime)
        filters = list(visualize.pick_filters(visualize.filter_change(maps[0][layer], maps[epoch][layer])))
        size = probe.images.shape[-1]
        heat = {e: visualize.heatmaps(maps[e][layer], filters, size)[:, :n_samples] for e in sorted({0, epoch})}
        return fig_heatmaps(probe.images[:n_samples].numpy(), heat, filters, layer, f"stored run {stored.path.name}",
                            title=f"{stored.label}, layer {layer}: most (top) and least (bottom) changed filter "
                                  f"by epoch {epoch}")

    def redraw(self) -> None:
        if self._busy or not self._live or self.run.value is None:
            return
        import matplotlib.pyplot as plt

        self.output.clear_output(wait=True)
        with self.output:
            if not self.layers.value:
                print("choose at least one layer")
                return
            self.figure()
            plt.show()
            if self.tables[self.run.value].kind == "study_b/dynamics" and self.epoch.value > 0:
                try:
                    self.filters()
                    plt.show()
                except FileNotFoundError as err:
                    print(err)

    def show(self) -> None:
        """Widgets in a live session; the current view as static figures when executed headlessly."""
        import ipywidgets as w
        import matplotlib.pyplot as plt
        from IPython.display import display

        if os.environ.get("REPCHANGE_HEADLESS") == "1":
            self.figure()
            plt.show()
            return
        display(w.VBox([w.HBox([self.study, self.comparison, self.metric]), self.run,
                        w.HBox([self.layers, self.epoch]), self.output]))
        self._live = True
        self.redraw()

    def select(self, **values: Any) -> "Explorer":
        """Set controls by name (study, run, comparison, metric, layers, epoch), in that order; returns self."""
        for name in ("study", "run", "comparison", "metric", "layers", "epoch"):
            if name in values:
                control = getattr(self, name)
                value = values[name]
                if name == "run" and isinstance(value, str):  # by label
                    matches = [v for label, v in control.options if value in label]
                    if not matches:
                        raise ValueError(f"no stored run matches {value!r}; runs: {[l for l, _ in control.options]}")
                    value = matches[0]
                control.value = tuple(value) if name == "layers" else value
        return self
