"""``python -m repchange`` (or ``repchange``): run notebooks with parameters, build the book.

    repchange run notebooks/a1_cka_pretraining.py --profile smoke -p epochs 3 -p seeds "[1, 2]"
    repchange params notebooks/a1_cka_pretraining.py
    repchange book --profile paper
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

from . import runner

__all__ = ["main"]


def _parse_overrides(pairs: list[list[str]]) -> dict[str, object]:
    """``-p name value`` pairs; values are read as YAML (``3`` -> int, ``[1, 2]`` -> list, ``null`` -> None)."""
    return {name: yaml.safe_load(value) for name, value in pairs}


def _cmd_run(args: argparse.Namespace) -> int:
    notebook = Path(args.notebook).resolve()
    params = runner.resolve_parameters(notebook, args.profile, _parse_overrides(args.param))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out or runner.project_root() / "runs" / "notebooks" / f"{notebook.stem}-{args.profile}-{stamp}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "parameters.yaml").write_text(yaml.safe_dump(params, sort_keys=True))
    print(f"executing {notebook.name} with {params}", flush=True)
    done = runner.execute(notebook, out / f"{notebook.stem}.ipynb", params, results_dir=out / "results",
                          progress=True)
    print(f"done in {done.seconds:.1f} s -> {out}")
    return 0


def _cmd_params(args: argparse.Namespace) -> int:
    nb = runner.read_notebook(Path(args.notebook))
    for p in runner.declared_parameters(nb).values():
        comment = f"  # {p.help}" if p.help else ""
        print(f"{p.name}: {p.inferred_type_name} = {p.default}{comment}")
    return 0


def _cmd_book(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    index = runner.build_book(args.profile, out=Path(args.out) if args.out else None)
    print(f"book built in {time.perf_counter() - start:.0f} s: {index}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="repchange", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute one notebook with a profile and parameters into a run folder")
    run.add_argument("notebook")
    run.add_argument("--profile", default="default", help="default, smoke, paper, or a YAML path")
    run.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="override one parameter (VALUE read as YAML); repeatable")
    run.add_argument("--out", help="run folder (default runs/notebooks/<name>-<profile>-<time>)")
    run.set_defaults(func=_cmd_run)
    params = sub.add_parser("params", help="list a notebook's parameters with their defaults")
    params.add_argument("notebook")
    params.set_defaults(func=_cmd_params)
    book = sub.add_parser("book", help="execute every notebook with a profile and build the HTML book")
    book.add_argument("--profile", default="default")
    book.add_argument("--out", help="output folder (default _build/<profile>)")
    book.set_defaults(func=_cmd_book)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, runner.NotebookFailed) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
