"""runner.execute on a tiny notebook: parameters injected, figures kept whatever the caller's backend."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from repchange.book import runner

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


def _library_modules() -> dict[str, Path]:
    import repchange

    package = Path(repchange.__file__).parent
    return {".".join(p.relative_to(package).with_suffix("").parts): p for p in package.rglob("*.py")
            if p.stem not in ("__init__", "__main__")}


def test_the_package_docstring_names_every_module() -> None:
    import repchange

    missing = sorted(m for m in _library_modules() if f"``{m}``" not in repchange.__doc__)
    assert not missing, f"lib/repchange/__init__.py does not list {missing}"


LAYERS = {"core": {"core"}, "studies": {"core", "studies"}, "book": {"core", "studies", "book", "tools"},
          "tools": {"core", "tools"}}


def _layer(module: str) -> str:
    top = module.split(".")[0]
    return top if top in ("core", "studies", "book") else "tools"


def test_each_layer_imports_only_from_the_layers_before_it() -> None:
    """core <- studies <- book; your-own-model tools (hooks, track, compare) on core only."""
    import ast

    upward = []
    for module, path in _library_modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else
                     [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                if name.startswith("repchange.") and _layer(name[len("repchange."):]) not in LAYERS[_layer(module)]:
                    upward.append(f"{module} imports {name}")
            assert not (isinstance(node, ast.ImportFrom) and node.level), f"{module}: use absolute imports"
    assert not upward, upward


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
