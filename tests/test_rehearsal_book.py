"""The rehearsal profile executes the book's chapters on miniature data in the paper's formats (notebook tier).

So far the metrics chapter and Study A's chapters (CIFAR-10's pickles, SVHN's .mat files, the paper's protocol):
about 3 minutes on two cores. Study B's chapters at 224 pixels (VGG19, ResNet50, DenseNet121 on the ImageFolder
trees, ImageNet weights through the cache) are the next step of the rehearsal (issue 38).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from repchange.book import rehearsal, runner

REHEARSED = ("00_metrics", "a1_cka_pretraining", "a2_label_degrees", "a3_cka_vs_degree", "a4_cka_vs_size",
             "a5_finetuning_change", "a6_finetuned_vs_references")


@pytest.mark.notebook
def test_the_metrics_and_study_a_chapters_execute_under_the_rehearsal_profile(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rehearsal.write_data(data)
    env = {"REPCHANGE_STORE": str(tmp_path / "store"), "REPCHANGE_DATA": str(data)}
    notebooks = {nb.stem: nb for nb in runner.book_notebooks()}
    for stem in REHEARSED:
        out = tmp_path / f"{stem}.ipynb"
        runner.execute(notebooks[stem], out, runner.resolve_parameters(notebooks[stem], "rehearsal"),
                       results_dir=tmp_path / "results", extra_env=env)
        text = out.read_text()
        assert "profile: rehearsal" in text, f"{stem} does not state its profile"
        assert "cifar10" in text, f"{stem} does not name the paper's data set: did it read other data?"
