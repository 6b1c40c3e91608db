"""Execute notebooks headlessly with papermill, and build the book from the executed copies.

Notebook sources are jupytext ``py:percent`` files in ``notebooks/``. A *profile* is a YAML
file in ``notebooks/params/`` (or any path)::

    all:                      # parameters for every notebook that declares them
      a_seeds: [1]
    a1_cka_pretraining:       # parameters for one notebook (file stem)
      a_pretrain_epochs: 2

The profile ``default`` means each notebook's own parameters cell. Every executed notebook
gets ``profile=<name>`` so its figures say what produced them.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import jupytext
import nbformat
import yaml

from repchange.book import code_behind, html_build, parameter_checks, usage as usage_mod, vocabulary
from repchange.runs import progress as progress_mod

__all__ = [
    "NotebookFailed",
    "SUMMARY_PAGES",
    "book_notebooks",
    "build_book",
    "chapter_names",
    "chapter_values",
    "check_profile",
    "declared_parameters",
    "effective_parameters",
    "execute",
    "load_profile",
    "parameter_reference",
    "profile_reference",
    "project_root",
    "resolve_parameters",
    "summarised_chapters",
]


class NotebookFailed(RuntimeError):
    """A notebook raised during execution; the message holds its error and the executed copy."""


def project_root() -> Path:
    """The checkout this library is installed from (editable install)."""
    root = Path(__file__).resolve().parents[3]  # lib/repchange/book/runner.py -> checkout
    if not (root / "notebooks").is_dir():
        raise RuntimeError(f"{root} is not a repchange checkout (no notebooks/); install with `pip install -e .`")
    return root


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """A jupytext source (or .ipynb) as a notebook node."""
    if not path.exists():
        raise FileNotFoundError(f"notebook {path} does not exist")
    nb = jupytext.read(path)
    for cell in nb.cells:  # papermill reads cell.metadata.tags on every cell
        cell.metadata.setdefault("tags", [])
    return nb


def declared_parameters(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """``{name: papermill Parameter}`` of the cell tagged ``parameters``.

    Raises ValueError when papermill cannot read an assignment of that cell (it would silently
    drop the parameter, e.g. for a comment that contains " = ").
    """
    from papermill.inspection import _infer_parameters

    found = {p.name: p for p in _infer_parameters(nb)}
    cell = next((c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if cell is not None:
        assigned = [node for node in ast.parse(cell.source).body if isinstance(node, (ast.Assign, ast.AnnAssign))]
        lines = cell.source.splitlines()
        for node in assigned:
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            if isinstance(target, ast.Name) and target.id not in found:
                raise ValueError(f"papermill cannot read the parameter line {lines[node.lineno - 1]!r}; keep its "
                                 f"comment free of ' = ' and its value on one line")
    return found


def load_profile(profile: str) -> dict[str, dict[str, Any]]:
    """The profile's sections; ``default`` is empty. Unknown names list the profiles that exist.

    A profile may start with ``extends: OTHER``: OTHER's sections, then this file's keys over them."""
    if profile == "default":
        return {}
    path = Path(profile)
    if path.suffix not in (".yaml", ".yml"):
        path = project_root() / "notebooks" / "params" / f"{profile}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in (project_root() / "notebooks" / "params").glob("*.yaml"))
        raise ValueError(f"unknown profile {profile!r}: no file {path}; choose 'default' or one of {known}")
    data = yaml.safe_load(path.read_text()) or {}
    base = data.pop("extends", None) if isinstance(data, dict) else None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"profile {path} must map 'all' and notebook names to parameter mappings")
    if base is None:
        return data
    if base == profile or base == path.stem:
        raise ValueError(f"profile {path} extends itself")
    merged = load_profile(str(base))
    return {name: {**merged.get(name, {}), **data.get(name, {})} for name in {*merged, *data}}


def _hints(names: list[str], declared: Mapping[str, Any]) -> str:
    hints = [h for h in (vocabulary.suggestion(n, declared) for n in names) if h]
    return f" ({'; '.join(hints)})" if hints else ""


@functools.lru_cache(maxsize=None)
def _declared_names(path: str, modified: int) -> frozenset[str]:
    return frozenset(declared_parameters(read_notebook(Path(path))))


def _names_in_book() -> dict[str, frozenset[str]]:
    """``{notebook stem: declared parameter names}`` of every book notebook (cached per file version)."""
    return {p.stem: _declared_names(str(p), p.stat().st_mtime_ns) for p in book_notebooks()}


def check_profile(sections: Mapping[str, Mapping[str, Any]], also: Mapping[str, Iterable[str]] | None = None) -> None:
    """Raise ValueError for a profile key that would do nothing: an ``all`` key that no book notebook
    declares, or a section named after no book notebook. ``also``: ``{notebook stem: declared names}``
    of further notebooks (one outside the book). Renamed names are reported with their new names."""
    book = {**_names_in_book(), **{stem: frozenset(names) for stem, names in (also or {}).items()}}
    known = frozenset().union(*book.values())
    unused = sorted(set(sections.get("all", {})) - known)
    if unused:
        raise ValueError(f"the profile's 'all' section sets {unused}, which no notebook declares"
                         f"{_hints(unused, known)}; see book/parameters.md for every notebook's parameters")
    strays = sorted(set(sections) - {"all"} - set(book))
    if strays:
        raise ValueError(f"the profile has section(s) {strays} for no notebook; sections are named after "
                         f"notebook files without .py: {sorted(book)}")


SUMMARY_PAGES = ("claims_ledger", "estimator_grid", "paper_beside_run", "deviations", "intro")
"""Pages that summarise the chapters: they declare ``profile`` and ``chapters`` (chapter parameters changed from the
profile) and read every chapter's parameters with :func:`chapter_values`, so a chapter parameter is declared once,
in the chapters that use it. A chapter parameter given to one of them (``-p a_seeds [1, 2]``) goes into ``chapters``."""


def summarised_chapters(root: Path | None = None) -> list[Path]:
    """The chapters whose parameters the summary pages read: both studies' chapters and the budget page."""
    return [nb for nb in book_notebooks(root) if re.match(r"[ab]\d", nb.stem) or nb.stem == "budget"]


def chapter_names() -> set[str]:
    """Every parameter a summarised chapter declares (:func:`summarised_chapters`): what a summary page reads."""
    return set().union(*(_declared_names(str(nb), nb.stat().st_mtime_ns) for nb in summarised_chapters()))


def profile_reference(profile: str) -> str:
    """``profile`` as a kernel in another folder can load it: a profile name as it is, a YAML file's absolute path."""
    path = Path(profile)
    return str(path.resolve()) if path.suffix in (".yaml", ".yml") else profile


def chapter_values(profile: str = "default", chapters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every parameter of the chapters a summary page reads (:func:`summarised_chapters`) as those chapters run under
    ``profile`` with ``chapters`` changed, checked; ``profile`` is the label the page's provenance prints. Raises
    ValueError naming a parameter two chapters would read differently (a profile section for one chapter only), and
    one that no chapter declares."""
    chapters = dict(chapters or {})
    values: dict[str, Any] = {}
    readers: dict[str, str] = {}
    for nb in summarised_chapters():
        declared = declared_parameters(read_notebook(nb))
        own = effective_parameters(nb, profile, {k: v for k, v in chapters.items() if k in declared})
        for name, value in own.items():
            if name == "profile":
                continue
            if name in values and values[name] != value:
                raise ValueError(f"{readers[name]} and {nb.stem} run with {name} = {values[name]!r} and {value!r}: a "
                                 f"summary page cannot read both; set {name} in the profile's 'all' section")
            values.setdefault(name, value)
            readers.setdefault(name, nb.stem)
    unknown = sorted(set(chapters) - set(values))
    if unknown:
        raise ValueError(f"chapters sets {unknown}, which no chapter declares{_hints(unknown, values)}")
    values["profile"] = profile if not chapters else f"{profile} + overrides {chapters}"
    return values


def effective_parameters(
    notebook: Path, profile: str = "default", overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Every parameter's value in a run of ``notebook``: its parameters cell's defaults (literals),
    then :func:`resolve_parameters` over them; all checked."""
    return _resolved(notebook, profile, overrides)[0]


def resolve_parameters(
    notebook: Path, profile: str = "default", overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Parameters for ``notebook``: the profile's ``all`` and per-notebook sections, then ``overrides``.

    Keys from ``all`` that the notebook does not declare are skipped (other notebooks declare them,
    see :func:`check_profile`); an explicit per-notebook key or override the notebook does not declare
    is an error naming the ones it does, with the new name of a renamed parameter. Every parameter
    (defaults included) is then typed and checked (:func:`repchange.book.parameter_checks.check_notebook`):
    a bad one raises :class:`~repchange.book.parameter_checks.ParameterError` before anything runs; the
    values come back as checked (``-p a_lr 1e-3``, a YAML string, as the float 0.001).
    """
    checked, chosen = _resolved(notebook, profile, overrides)
    return {name: checked[name] for name in chosen}


def _resolved(notebook: Path, profile: str, overrides: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """(every parameter of ``notebook`` as checked: defaults, then the profile and ``overrides``; the names the
    profile or ``overrides`` set), for :func:`resolve_parameters` and :func:`effective_parameters`."""
    declared = declared_parameters(read_notebook(notebook))
    sections = load_profile(profile)
    if sections:
        check_profile(sections, {notebook.stem: declared})
    chosen = {k: v for k, v in sections.get("all", {}).items() if k in declared}
    specific = {**sections.get(notebook.stem, {}), **(overrides or {})}
    readable = set(declared) | (chapter_names() if "chapters" in declared else set())
    unknown = sorted(set(specific) - readable)
    if unknown:
        raise ValueError(f"{notebook.name} has no parameter(s) {unknown}{_hints(unknown, dict.fromkeys(readable))}; "
                         f"its parameters are {sorted(declared)}")
    if "chapters" in declared:  # a summary page: it reads its chapters' parameters from the profile itself
        routed = {k: v for k, v in specific.items() if k in chapter_names() and k not in declared}
        specific = {k: v for k, v in specific.items() if k not in routed}
        if routed:
            specific["chapters"] = {**specific.get("chapters", {}), **routed}
        chosen.update(specific)
        chosen["profile"] = profile_reference(profile)
    else:
        chosen.update(specific)
    if "profile" in declared:
        label = profile if not overrides else f"{profile} + overrides {dict(overrides)}"
        chosen.setdefault("profile", label)
    defaults = {name: ast.literal_eval(p.default) for name, p in declared.items()}
    return parameter_checks.check_notebook(notebook, {**defaults, **chosen}, declared), list(chosen)


@dataclass(frozen=True)
class Executed:
    notebook: Path
    seconds: float


def execute(
    notebook: Path,
    output: Path,
    parameters: Mapping[str, Any],
    *,
    results_dir: Path | None = None,
    progress: bool = False,
    extra_env: Mapping[str, str] | None = None,
) -> Executed:
    """Execute the jupytext ``notebook`` with ``parameters`` into ``output`` (.ipynb).

    The kernel runs in the notebook's folder and inherits ``REPCHANGE_RESULTS_DIR`` (where
    notebooks save their tables) and ``extra_env``. On failure the executed copy is still
    written and :class:`NotebookFailed` names the error.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    notebook, output = Path(notebook).resolve(), Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    nb = read_notebook(notebook)
    # Progress bars inside a headless kernel would only clutter the saved notebook; papermill
    # reports progress per cell on the terminal instead.
    # REPCHANGE_HEADLESS tells widgets (the explorer) to draw static figures: no browser will run them.
    # MPLBACKEND: the kernel's inline backend, whatever the caller's shell set (an inherited
    # MPLBACKEND=Agg would make every figure vanish from the executed notebook without an error).
    env_updates = {"REPCHANGE_PROGRESS": "0", "REPCHANGE_HEADLESS": "1",
                   "MPLBACKEND": "module://matplotlib_inline.backend_inline", **(extra_env or {})}
    if results_dir is not None:
        env_updates["REPCHANGE_RESULTS_DIR"] = str(Path(results_dir).resolve())
    saved = {k: os.environ.get(k) for k in env_updates}
    os.environ.update(env_updates)
    start = time.perf_counter()
    try:
        pm.execute_notebook(
            nb, str(output), parameters=dict(parameters), kernel_name="python3", language="python",
            cwd=str(notebook.parent), progress_bar=progress, log_output=False,
        )
    except PapermillExecutionError as err:
        raise NotebookFailed(f"{notebook.name} failed: {err.ename}: {err.evalue}\n"
                             f"(executed copy with the traceback: {output})") from None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return Executed(output, time.perf_counter() - start)


def for_reading(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """An executed notebook prepared for the book: the reader sees narrative, figures, tables and
    verdicts first, and every line of code stays one click away.

    - papermill's injected-parameters cell is removed (``remove-cell``): the page states its
      profile and parameters in its provenance line;
    - the parameters cell and the imports cell before it are folded whole (``hide-cell``);
    - every other code cell folds its input (``hide-input``) and keeps its outputs;
    - results that are only a plain-text repr (a path, a dict of glued numbers) and stderr streams
      (warnings naming this machine's files) are dropped: the numbers appear in the prose, the
      paths belong to this machine.
    """
    code = [c for c in nb.cells if c.cell_type == "code"]
    params = next((i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", [])), None)
    for i, cell in enumerate(code):
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags:
            tags.append("remove-cell")
        elif params is not None and i <= params:
            tags.append("hide-cell")
        elif not {"hide-cell", "remove-cell", "remove-input"} & set(tags):
            tags.append("hide-input")
        cell.outputs = [o for o in cell.get("outputs", [])
                        if not (o.get("output_type") == "execute_result" and set(o.get("data", {})) <= {"text/plain"})
                        and not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    return nb


def book_notebooks(root: Path | None = None) -> list[Path]:
    """The notebook sources the table of contents names, in execution order: the chapters in their order, then
    the root page when it is a notebook (the landing page summarises the ledger the chapters' tables make, so it
    runs once they are stored)."""
    root = root or project_root()
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(toc)
    if isinstance(toc.get("root"), str):
        files.append(toc["root"])
    return [root / f"{f}.py" for f in files if f.startswith("notebooks/")]


def _title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """A notebook's title: the first line of its first Markdown cell that starts with ``# ``."""
    return next((c.source.splitlines()[0].lstrip("# ").strip() for c in nb.cells
                 if c.cell_type == "markdown" and c.source.startswith("# ")), fallback)


def _stage_code_pages(root: Path, src: Path, calls: Mapping[Path, code_behind.Calls]) -> None:
    """Stage the generated pages of the library code behind the pages (:mod:`repchange.book.code_behind`) and the
    table of contents that lists them after the book's own parts."""
    called_by: dict[str, list[tuple[str, str]]] = {}
    for nb_path, found in calls.items():
        doc = nb_path.relative_to(root).with_suffix("").as_posix()
        for module in found.modules:
            called_by.setdefault(module, []).append((doc, _title(read_notebook(nb_path), nb_path.stem)))
    pages = code_behind.module_pages(called_by)
    for path, text in pages.items():
        html_build.stage_bytes(text.encode(), src / path)
    for stale in (src / code_behind.CODE_FOLDER).glob("*.md"):  # a module no page calls any more
        if stale.relative_to(src).as_posix() not in pages:
            stale.unlink()
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    toc.setdefault("parts", []).append(code_behind.toc_part(list(called_by)))
    html_build.stage_bytes(yaml.safe_dump(toc, sort_keys=False, allow_unicode=True).encode(), src / "_toc.yml")


def parameter_reference(root: Path | None = None) -> str:
    """The "Parameters of every notebook" page (MyST Markdown): per book notebook, each parameter's
    name, type, default and comment, read from its parameters cell as papermill reads it."""
    root = root or project_root()
    lines = ["# Parameters of every notebook", "",
             "Generated from each notebook's parameters cell when the book is built (what "
             "`papermill --help-notebook` and `make params NB=...` print). Pass any of them with "
             "`python -m repchange run NB -p NAME VALUE`, in a profile, or as a sweep axis; see {doc}`how_to_run`. "
             "Each value is checked against its type and its rule before the notebook runs "
             "(`repchange.book.parameter_checks`): a bad one stops the run in one line naming it.", ""]
    for nb_path in book_notebooks(root):
        nb = read_notebook(nb_path)
        title = _title(nb, nb_path.stem)
        lines += [f"## `{nb_path.relative_to(root)}`", "", title, "", "| parameter | default | meaning (type) |",
                  "|---|---|---|"]
        for p in declared_parameters(nb).values():
            meaning = f"{_decimals_in(p.help)} ({p.inferred_type_name})" if p.help else f"({p.inferred_type_name})"
            cell = [f"`{p.name}`", f"`{_decimal_literal(p.default)}`", meaning.replace("|", "\\|")]
            lines.append("| " + " | ".join(cell) + " |")
        lines.append("")
    return "\n".join(lines)


SCIENTIFIC_LITERAL = r"\d+(?:\.\d+)?[eE][-+]?\d+"  # 1e-3, 2.5E+2


def _decimals_in(text: str) -> str:
    """``text`` with every number in scientific notation ("lr 1e-3") written as its decimal ("lr 0.001")."""
    return re.sub(rf"(?<![\w.]){SCIENTIFIC_LITERAL}(?!\w)", lambda m: _decimal_literal(m.group(0)), text)


def _decimal_literal(text: str) -> str:
    """A float literal in scientific notation (``1e-3``) as the decimal it equals (``0.001``), for readers;
    any other default's source text as it is."""
    if re.fullmatch(rf"[-+]?{SCIENTIFIC_LITERAL}", text.strip()):
        import numpy as np

        return np.format_float_positional(float(text), trim="-")
    return text


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s"


# Notebooks whose output depends on every stored run, not only on their own parameters: their
# execution key also covers the list of complete runs in the store.
READS_WHOLE_STORE = {"explorer"}


def library_fingerprint() -> str:
    """Hash of the code of every module of the library (imports and docstrings left out)."""
    from repchange.runs.store import source_fingerprint

    package = Path(__file__).resolve().parents[1]  # the repchange package
    prints = [f"{p.relative_to(package)}:{source_fingerprint(p.read_text())}" for p in sorted(package.rglob("*.py"))]
    return hashlib.sha256("\n".join(prints).encode()).hexdigest()


def execution_key(notebook: Path, parameters: Mapping[str, Any], library: str) -> str:
    """What an executed notebook's output depends on: its source, its parameters, the library's code,
    the data and store locations (and, for :data:`READS_WHOLE_STORE`, the store's complete runs)."""
    from repchange.base.files import default_root
    from repchange.runs.store import Store
    from repchange.runs.store_care import complete_runs

    parts = [notebook.read_text(), json.dumps(dict(parameters), sort_keys=True, default=str), library,
             os.environ.get("REPCHANGE_DATA", ""), str(default_root())]
    if notebook.stem in READS_WHOLE_STORE:
        store = Store(default_root())
        parts += [run.relative_to(store.root).as_posix() for run in complete_runs(store)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def build_book(profile: str = "default", *, out: Path | None = None, warnings_as_errors: bool = True,
               rerun: bool = False) -> Path:
    """Execute every notebook of the book with ``profile`` and build the HTML; return index.html.

    A notebook whose :func:`execution_key` (source, parameters, library code, data and store
    locations) matches its last execution under ``out`` is kept as it is; the HTML is rebuilt only where a
    staged page changed, and kept when none did (:mod:`repchange.book.html_build`), so a warm build with
    nothing changed takes seconds. ``rerun=True`` executes every notebook again and rebuilds every page.

    Layout under ``out`` (default ``_build/<profile>``): ``src/`` is the staged book (config,
    prose, executed notebooks), ``results/`` the notebooks' tables, ``html/`` the site (``sphinx/`` Sphinx's
    kept build, ``html.key`` the staged pages it was built from), ``profile.csv``
    what each notebook executed in this build cost (wall, user and system CPU, peak memory).
    Jupyter Book's own execution is off: every page is a papermill output.
    """
    root = project_root()
    out = Path(out or root / "_build" / profile).resolve()
    src = out / "src"
    notebooks = book_notebooks(root)
    calls = {nb_path: code_behind.library_calls(nb_path.read_text()) for nb_path in notebooks}
    html_build.stage_file(root / "_config.yml", src / "_config.yml")  # staged only where the bytes differ
    html_build.stage_tree(root / "book", src / "book")
    html_build.stage_bytes(parameter_reference(root).encode(), src / "book" / "parameters.md")
    _stage_code_pages(root, src, calls)
    timings_file, keys_file = out / "timings.json", out / "executed.json"
    last = json.loads(timings_file.read_text()) if timings_file.exists() else {}
    executed = json.loads(keys_file.read_text()) if keys_file.exists() and not rerun else {}
    timings: dict[str, float] = {}
    usages: list[usage_mod.Usage] = []
    library = library_fingerprint()
    book_start = time.perf_counter()
    every_params = {nb_path: resolve_parameters(nb_path, profile) for nb_path in notebooks}  # all checked first
    for i, nb_path in enumerate(notebooks, 1):
        params = every_params[nb_path]
        name = str(nb_path.relative_to(root))
        target = src / nb_path.relative_to(root).with_suffix(".ipynb")
        key = execution_key(nb_path, params, library)
        if executed.get(name) == key and target.exists():
            timings[name] = last.get(name, 0.0)
            print(f"[{i}/{len(notebooks)}] {name}: unchanged since its last execution (notebook, parameters, "
                  f"library code{', run store' if nb_path.stem in READS_WHOLE_STORE else ''}), kept", flush=True)
            continue
        before = f"; {last[name]:.0f} s in the last build" if name in last else ""
        print(f"[{i}/{len(notebooks)}] executing {name} (profile {profile}{before})", flush=True)
        executed.pop(name, None)
        with progress_mod.follow(out / "progress.jsonl"), usage_mod.measured(name) as cost:
            done = execute(nb_path, target, params, results_dir=out / "results", progress=sys.stderr.isatty())
        usages.append(cost)
        usage_mod.write_profile(out / "profile.csv", usages)  # this build's executions, kept on a crash
        nbformat.write(code_behind.with_section(for_reading(nbformat.read(target, as_version=4)), calls[nb_path],
                                                str(nb_path.parent.relative_to(root))), target)
        timings[name] = done.seconds
        executed[name] = execution_key(nb_path, params, library)  # after the run: the store as it left it
        keys_file.write_text(json.dumps(executed, indent=2))  # a crash keeps what already ran
        timings_file.write_text(json.dumps({**last, **timings}, indent=2))
        print(f"      done in {done.seconds:.1f} s{'; ' + cost.line() if cost.line() else ''} (book so far "
              f"{_clock(time.perf_counter() - book_start)})", flush=True)
    timings_file.write_text(json.dumps(timings, indent=2))
    html, how = html_build.build_html(src, out, warnings_as_errors=warnings_as_errors, full=rerun, cwd=root)
    if how == "kept":
        print("HTML: no staged page changed since the last build, kept", flush=True)
    return html / "index.html"
