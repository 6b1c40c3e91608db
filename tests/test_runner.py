"""runner.execute on a tiny notebook: parameters injected, figures kept whatever the caller's backend."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from repchange.book import runner, vocabulary

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
    allowed = {"a_seeds": {"00_metrics"}}  # the metrics chapter trains two small nets of its own
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


# Each folder and the folders it may import from (itself included): base <- data <- nets, measure <- runs <- studies <-
# book; the tool for your own model on base, data and measure alone (no nets, trainer, pool or store).
LAYERS = {"base": {"base"}, "data": {"base", "data"}, "nets": {"base", "data", "nets"},
          "measure": {"base", "data", "measure"}, "runs": {"base", "data", "nets", "measure", "runs"},
          "studies": {"base", "data", "nets", "measure", "runs", "studies"},
          "tool": {"base", "data", "measure", "tool"},
          "book": {"base", "data", "nets", "measure", "runs", "studies", "tool", "book"}}


def _layer(module: str) -> str:
    top = module.split(".")[0]
    assert top in LAYERS, f"repchange.{module} lies outside the folders {sorted(LAYERS)}"
    return top


def _imports(path: Path) -> list[str]:
    """The repchange modules ``path`` imports, at any depth (absolute imports only)."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else
                 [a.name for a in node.names] if isinstance(node, ast.Import) else [])
        found += [n for n in names if n.startswith("repchange.")]
        assert not (isinstance(node, ast.ImportFrom) and node.level), f"{path}: use absolute imports"
    return found


def test_each_layer_imports_only_from_the_layers_before_it() -> None:
    """base <- data <- nets, measure <- runs <- studies <- book; the tool on base, data and measure."""
    upward = [f"{module} imports {name}" for module, path in _library_modules().items()
              for name in _imports(path) if _layer(name[len("repchange."):]) not in LAYERS[_layer(module)]]
    assert not upward, upward


def test_the_layering_rule_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from repchange.runs.trainer import train\n")
    assert [_layer(n[len("repchange."):]) for n in _imports(bad)] == ["runs"]
    assert "runs" not in LAYERS["tool"] and "nets" not in LAYERS["measure"]


def test_the_tool_imports_no_trainer_pool_store_nets_studies_or_book() -> None:
    """Importing every tool module (and the light command line) loads only base, data, measure and the tool."""
    import subprocess
    import sys

    code = ("import sys, importlib, pkgutil, repchange.tool as t\n"
            "for m in pkgutil.iter_modules(t.__path__):\n"
            "    if m.name not in ('track_lightning', 'track_transformers'): importlib.import_module('repchange.tool.' + m.name)\n"
            "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('repchange.'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    outside = [m for m in loaded if m.split(".")[1] not in LAYERS["tool"] | {"__init__"} and m != "repchange"]
    assert loaded and not outside, f"the tool's import closure holds {outside}"


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


def test_every_notebook_parameter_follows_the_shared_vocabulary() -> None:
    """a_ / b_ / own_ for one study's parameters, or shared, or one chapter's own (book.vocabulary)."""
    declared = {nb.stem: set(runner.declared_parameters(runner.read_notebook(nb))) for nb in runner.book_notebooks()}
    for stem, names in declared.items():
        assert not vocabulary.off_vocabulary(stem, names), f"{stem}: {vocabulary.off_vocabulary(stem, names)}"
    everywhere = set().union(*declared.values())
    assert not set(vocabulary.RENAMED) & everywhere, "a notebook still declares a name from before the vocabulary"
    assert set(vocabulary.RENAMED.values()) <= everywhere, "RENAMED points to names no notebook declares"
    assert vocabulary.off_vocabulary("a1_cka_pretraining", ["a_seeds", "epochs", "pc_layer", "device"]) == \
        ["epochs", "pc_layer"]  # and the rule can fail


def test_the_two_studies_use_the_same_words_after_their_prefix() -> None:
    """Fine-tuning and probe sizes: one word each in both studies (the issue's ft_epochs / finetune_epochs)."""
    declared = set().union(*(runner.declared_parameters(runner.read_notebook(nb)) for nb in runner.book_notebooks()))
    for word in ("seeds", "finetune_epochs", "finetune_size", "finetune_eval_size", "probe_size"):
        assert {f"a_{word}", f"b_{word}"} <= declared, word


def test_a_profile_key_that_no_notebook_declares_is_an_error(tmp_path: Path) -> None:
    a1 = runner.project_root() / "notebooks" / "a1_cka_pretraining.py"
    old = tmp_path / "old.yaml"
    old.write_text("all:\n  ft_epochs: 3\n  a_seeds: [1]\n")
    with pytest.raises(ValueError, match=r"sets \['ft_epochs'\], which no notebook declares \('ft_epochs' is now "
                                         r"'a_finetune_epochs'\)"):
        runner.resolve_parameters(a1, str(old))
    stray = tmp_path / "stray.yaml"
    stray.write_text("all:\n  a_seeds: [1]\na1_cka_pretrain:\n  a_width: 8\n")
    with pytest.raises(ValueError, match=r"section\(s\) \['a1_cka_pretrain'\] for no notebook"):
        runner.resolve_parameters(a1, str(stray))
    good = tmp_path / "good.yaml"
    good.write_text("all:\n  a_seeds: [1]\n  b_seeds: [3]\na1_cka_pretraining:\n  a_width: 8\n")
    assert runner.resolve_parameters(a1, str(good)) == {"a_seeds": [1], "a_width": 8, "profile": str(good)}
