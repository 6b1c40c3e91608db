"""``python -m repchange`` (or ``repchange``): run notebooks with parameters, build the book.

    repchange run notebooks/a1_cka_pretraining.py --profile smoke -p epochs 3 -p seeds "[1, 2]"
    repchange params notebooks/a1_cka_pretraining.py
    repchange book --profile paper
    repchange sweep notebooks/a3_cka_vs_degree.py --profile smoke -g seeds "[[1], [2]]" --workers 2
    repchange check-book _build/default/html
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
    from . import progress

    with progress.follow(out / "progress.jsonl"):
        done = runner.execute(notebook, out / f"{notebook.stem}.ipynb", params, results_dir=out / "results",
                              progress=True)
    print(f"done in {done.seconds:.1f} s -> {out}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from . import sweep

    axes = _parse_overrides(args.grid)
    cells = sweep.grid(**axes) if axes else [{}]
    executor = None
    if args.scheduler:
        from distributed import Client  # pip install distributed

        executor = Client(args.scheduler)
    report = sweep.sweep_notebook(args.notebook, cells, profile=args.profile, base=_parse_overrides(args.param),
                                  out=args.out, executor=executor, workers=args.workers, retries=args.retries)
    print(report[["cell", "status", "attempts", "seconds", "error"]].to_string(index=False))
    failed = int((report.status == "failed").sum())
    print(f"{len(report) - failed} of {len(report)} cells finished; report: {report.attrs['report']}")
    return 1 if failed else 0


def _cmd_check_book(args: argparse.Namespace) -> int:
    from . import book_check

    html = Path(args.html or runner.project_root() / "_build" / "default" / "html")
    problems = book_check.check_site(html)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s) in {html}")
    return 1 if problems else 0


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
    sw = sub.add_parser("sweep", help="run a notebook over a parameter grid, each cell once, on local processes "
                                       "or a Dask cluster")
    sw.add_argument("notebook")
    sw.add_argument("--profile", default="default")
    sw.add_argument("-g", "--grid", nargs=2, action="append", default=[], metavar=("NAME", "VALUES"),
                    help="one grid axis: a YAML list of values for parameter NAME; repeatable (cartesian product)")
    sw.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="a parameter fixed for every cell (VALUE read as YAML); repeatable")
    sw.add_argument("--out", help="sweep folder (default runs/sweeps/<name>-<profile>)")
    sw.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    sw.add_argument("--scheduler", help="address of a Dask scheduler, e.g. tcp://10.0.0.1:8786 (needs distributed)")
    sw.add_argument("--retries", type=int, default=0, help="run a failed cell again up to this many times")
    sw.set_defaults(func=_cmd_sweep)
    check = sub.add_parser("check-book", help="load every page of the built book in headless Chromium and report "
                                              "script errors, broken images and links, uncaptioned figures")
    check.add_argument("html", nargs="?", help="the site folder (default _build/default/html)")
    check.set_defaults(func=_cmd_check_book)
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
