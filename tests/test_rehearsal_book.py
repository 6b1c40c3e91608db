"""The rehearsal profile executes every chapter of the book on miniature data in the paper's formats (notebook tier).

Study A's chapters on CIFAR-10's pickles and SVHN's .mat files; Study B's at 224 pixels with VGG19, ResNet50 and
DenseNet121 and ImageNet weights through torchvision's cache; then every summary chapter on what they stored.
Study B runs on 15-Scene alone here (greyscale JPEGs of varied sizes, fifteen class folders): the three targets'
loaders are checked in ``test_rehearsal.py``, and VGG19's per-filter metrics on 224-pixel maps cost about
three minutes per table and target on two cores, so ``make rehearsal`` (every target, the HTML built) is where
all three meet the chapters. 10 minutes on two cores (600 s measured in a fresh-clone ``make test``, 2026-12-05;
973 s in an earlier session, before every freed block was kept, the heap's top untrimmed below 1 GiB), with the
largest process at 15 GB: the three 224-pixel nets' freed blocks stay in their process for reuse
(``REPCHANGE_KEEP_FREED_MEMORY=0``: about 10 GB, and more system time). Since Study B's PWSM comes from each
class's moments (no float64 copy of every position), b1 alone peaks at 9.5 GB against 14.3 GB (2026-12-06). A fresh-clone
``make test`` at 3f809fa (2026-12-06): this test 1,107 s, the whole suite 2,494 s, the
largest process 9.6 GB; with the source's moments kept across checkpoints b1 alone took 212 s against 230 s,
and with narrow classes in the Gram form 151.5 s against 165.8 s (another machine, 2026-12-06)."""

from __future__ import annotations

from pathlib import Path

import pytest

from repchange.book import rehearsal, runner

STUDY_A = ("00_metrics", "a1_cka_pretraining", "a2_label_degrees", "a3_cka_vs_degree", "a4_cka_vs_size",
           "a5_finetuning_change", "a6_finetuned_vs_references")
ONE_TARGET = {"b_targets": ["scene15"], "b_viz_target": "scene15", "b_deviation_target": "scene15"}


def _overrides(notebook: Path) -> dict[str, object]:
    """The one-target cut, for the names this notebook reads: those it declares and, on a summary page, the chapters'
    (they go into its ``chapters``; without them the ledger would compute every target's tables again)."""
    declared = runner.declared_parameters(runner.read_notebook(notebook))
    readable = set(declared) | (runner.chapter_names() if "chapters" in declared else set())
    return {name: value for name, value in ONE_TARGET.items() if name in readable}


@pytest.mark.notebook
def test_every_chapter_executes_under_the_rehearsal_profile(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rehearsal.write_data(data)
    rehearsal.write_imagenet_weights(tmp_path / "torch" / "hub")
    env = {"REPCHANGE_STORE": str(tmp_path / "store"), "REPCHANGE_DATA": str(data), "TORCH_HOME": str(tmp_path / "torch")}
    notebooks = runner.book_notebooks()
    assert set(STUDY_A) <= {nb.stem for nb in notebooks}
    for notebook in notebooks:
        if notebook.suffix != ".py":
            continue  # a prose page
        out = tmp_path / f"{notebook.stem}.ipynb"
        params = runner.resolve_parameters(notebook, "rehearsal", _overrides(notebook))
        runner.execute(notebook, out, params, results_dir=tmp_path / "results", extra_env=env)
        text = out.read_text()
        assert "profile: rehearsal" in text, f"{notebook.stem} does not state its profile"
        if notebook.stem in STUDY_A:
            assert "cifar10" in text, f"{notebook.stem} does not name the paper's data set: did it read other data?"
        if notebook.stem[:1] == "b" and notebook.stem[1:2].isdigit():  # b1_ ... b5_
            assert "scene15" in text and "vgg19" in text, f"{notebook.stem} does not name the paper's target and net"
