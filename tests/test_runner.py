"""runner.execute on a tiny notebook: parameters injected, figures kept whatever the caller's backend."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from repchange import runner

TINY = '''# %% tags=["parameters"]
width: int = 2

# %%
import matplotlib.pyplot as plt
plt.plot(range(width))
plt.show()
print("width", width)
'''


def test_figures_survive_an_inherited_agg_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")  # as a CI shell or a headless session may set it
    source = tmp_path / "tiny.py"
    source.write_text(TINY)
    done = runner.execute(source, tmp_path / "tiny.ipynb", {"width": 5})
    cells = nbformat.read(done.notebook, as_version=4).cells
    outputs = [o for c in cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the figure was not kept"
    assert any("width 5" in o.get("text", "") for o in outputs)
    import os

    assert os.environ["MPLBACKEND"] == "Agg"  # the caller's environment is restored


def test_a_parameter_shared_by_several_chapters_has_one_default() -> None:
    """Chapters that show the same runs must build the same configs: a name declared in several
    notebooks (seeds, epochs, lr, ...) has the same default in every one of them."""
    defaults: dict[str, dict[str, str]] = {}
    for nb in runner.book_notebooks():
        for name, p in runner.declared_parameters(runner.read_notebook(nb)).items():
            defaults.setdefault(name, {})[nb.stem] = p.default
    allowed = {"seeds": {"00_metrics"}}  # the metrics chapter trains two small nets of its own
    for name, by_notebook in defaults.items():
        shared = {stem: v for stem, v in by_notebook.items() if stem not in allowed.get(name, set())}
        assert len(set(shared.values())) <= 1, f"{name} has different defaults: {shared}"


def test_the_package_docstring_names_every_module() -> None:
    import repchange

    modules = {p.stem for p in Path(repchange.__file__).parent.rglob("*.py")} - {"__init__", "__main__"}
    missing = sorted(m for m in modules if f"``{m}``" not in repchange.__doc__)
    assert not missing, f"lib/repchange/__init__.py does not list {missing}"


def test_execution_key_follows_source_parameters_and_library(tmp_path: Path) -> None:
    notebook = tmp_path / "tiny.py"
    notebook.write_text(TINY)
    library = runner.library_fingerprint()
    key = runner.execution_key(notebook, {"width": 5}, library)
    assert runner.execution_key(notebook, {"width": 5}, library) == key
    assert runner.execution_key(notebook, {"width": 6}, library) != key
    assert runner.execution_key(notebook, {"width": 5}, "other library") != key
    notebook.write_text(TINY.replace("range(width)", "range(width + 1)"))
    assert runner.execution_key(notebook, {"width": 5}, library) != key
