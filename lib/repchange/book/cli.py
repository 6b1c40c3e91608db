"""``python -m repchange`` (or ``repchange``): two products on one command line.

The tool for your own model (the light install, ``pip install repchange``): ``compare`` and ``validate`` run with
nothing of the book's stack, trainer or store imported. The book (``pip install 'repchange[book]'``): every other
command.

    repchange compare resnet18 before.pt after.pt --probe path/to/imagefolder --out report/
    repchange validate resnet18 model.pt --probe path/to/imagefolder --out trust/

    repchange run notebooks/a1_cka_pretraining.py --profile smoke -p a_pretrain_epochs 3 -p a_seeds "[1, 2]"
    repchange params notebooks/a1_cka_pretraining.py
    repchange book --profile paper
    repchange sweep notebooks/a3_cka_vs_degree.py --profile smoke -g a_seeds "[[1], [2]]" --workers 2
    repchange check-book _build/default/html
    repchange store verify | du | prune [--yes] [--quarantine]
    repchange scale-record --profile scale
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from repchange.tool.cli import add_activations_parser, add_compare_parser, add_validate_parser

__all__ = ["TOOL_COMMANDS", "main"]

TOOL_COMMANDS = ("compare", "validate", "compare-activations")  # the light install's commands: they import the tool alone (base, data, measure, tool)


def _parse_overrides(pairs: list[list[str]]) -> dict[str, object]:
    """``-p name value`` pairs; values are read as YAML (``3`` -> int, ``[1, 2]`` -> list, ``null`` -> None)."""
    import yaml

    return {name: yaml.safe_load(value) for name, value in pairs}


def _cmd_run(args: argparse.Namespace) -> int:
    from repchange.book import runner
    import yaml

    notebook = Path(args.notebook).resolve()
    params = runner.resolve_parameters(notebook, args.profile, _parse_overrides(args.param))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out or runner.project_root() / "runs" / "notebooks" / f"{notebook.stem}-{args.profile}-{stamp}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "parameters.yaml").write_text(yaml.safe_dump(params, sort_keys=True))
    print(f"executing {notebook.name} with {params}", flush=True)
    from repchange.runs import progress

    with progress.follow(out / "progress.jsonl"):
        done = runner.execute(notebook, out / f"{notebook.stem}.ipynb", params, results_dir=out / "results",
                              progress=True)
    print(f"done in {done.seconds:.1f} s -> {out}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from repchange.book import sweep

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
    from repchange.book import runner

    from repchange.book import check

    html = Path(args.html or runner.project_root() / "_build" / "default" / "html")
    problems = check.check_site(html)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s) in {html}")
    return 1 if problems else 0


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def _cmd_store(args: argparse.Namespace) -> int:
    from repchange.runs import store_care
    from repchange.runs.store import QUARANTINE, Store

    store = Store(args.root) if args.root else Store()
    if not store.root.is_dir():
        raise FileNotFoundError(f"no run store at {store.root} (set REPCHANGE_STORE or pass --root)")
    if args.action == "verify":
        report = store_care.verify_all(store)
        bad = report[report.problem != ""]
        for row in bad.itertuples():
            print(f"{row.run}: {row.problem}")
        print(f"{len(report) - len(bad)} of {len(report)} runs in {store.root} match their manifests; {len(bad)} do not "
              "(the store quarantines and remakes a failing run when it is next asked for)")
        return 1 if len(bad) else 0
    if args.action == "du":
        usage = store_care.disk_usage(store)
        for row in usage.itertuples():
            print(f"{_mb(row.bytes):>12}  {row.runs:5d} runs  {row.kind}  {row.code_version}")
        print(f"{_mb(usage.bytes.sum()):>12}  {usage.runs.sum():5d} runs  in {store.root}")
        return 0
    stale = store_care.stale_runs(store)
    for row in stale.itertuples():
        print(f"{_mb(row.bytes):>12}  {row.run}: {row.why}")
    quarantined = store.root / QUARANTINE
    extra = " and the quarantine folder" if args.quarantine and quarantined.is_dir() else ""
    print(f"{len(stale)} run(s) no current code asks for, {_mb(stale.bytes.sum())}{extra}")
    if not args.yes:
        print("nothing deleted: run again with --yes to delete them")
        return 0
    freed = store_care.prune(store, stale, quarantine=args.quarantine)
    print(f"deleted: {_mb(freed)} freed")
    return 0


def _cmd_params(args: argparse.Namespace) -> int:
    from repchange.book import runner

    nb = runner.read_notebook(Path(args.notebook))
    for p in runner.declared_parameters(nb).values():
        comment = f"  # {p.help}" if p.help else ""
        print(f"{p.name}: {p.inferred_type_name} = {p.default}{comment}")
    return 0


def _cmd_book(args: argparse.Namespace) -> int:
    from repchange.book import runner

    start = time.perf_counter()
    index = runner.build_book(args.profile, out=Path(args.out) if args.out else None, rerun=args.rerun)
    print(f"book built in {time.perf_counter() - start:.0f} s: {index}")
    return 0


def _cmd_rehearsal_data(args: argparse.Namespace) -> int:
    from repchange.book import rehearsal

    root = Path(args.folder).expanduser()
    written = rehearsal.write_data(root / "data", per_class=args.per_class or rehearsal.PER_CLASS)
    weights = rehearsal.write_imagenet_weights(root / "torch" / "hub") if not args.no_weights else []
    print(f"miniature data in the published formats under {root / 'data'} ({', '.join(written)}); random ImageNet "
          f"weight files under {root / 'torch' / 'hub' / 'checkpoints'} ({len(weights)} files). Run the rehearsal with "
          f"REPCHANGE_DATA={root / 'data'} TORCH_HOME={root / 'torch'} repchange book --profile rehearsal")
    return 0


def _cmd_ledger_diff(args: argparse.Namespace) -> int:
    from repchange.studies import ledger_diff

    print("\n".join(ledger_diff.compare_folders(args.a, args.b)))
    return 0


def _cmd_scale_record(args: argparse.Namespace) -> int:
    import datetime
    import os
    import platform
    import subprocess

    from repchange.book import parameters, runner
    from repchange.studies.a import scale as a_scale
    from repchange.studies.a.scale_record import RECORD_FOLDER

    out = Path(args.out) if args.out else RECORD_FOLDER
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; name a folder for the record (default: {RECORD_FOLDER})")
    values = runner.effective_parameters(runner.project_root() / "notebooks" / "budget.py", args.profile,
                                         _parse_overrides(args.param))
    axis = parameters.scale_axis(values)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                            cwd=runner.project_root()).stdout.strip() or "unknown"
    import torch

    provenance = dict(date=datetime.date.today().isoformat(), commit=commit,
                      machine=f"{platform.machine()} CPU, {os.cpu_count()} cores",
                      command=" ".join(["repchange scale-record", *sys.argv[2:]]), torch=torch.__version__,
                      cpu_capability=torch.backends.cpu.get_cpu_capability(), threads=str(torch.get_num_threads()))
    written, lacking = a_scale.record_scales(axis["book"], axis["scales"], axis["seeds"], out, provenance,
                                             parameters.runtime(values))
    print(f"recorded in {out}: {', '.join(written) or 'nothing'}")
    for line in lacking:
        print(f"not recorded: {line}")
    return 0 if written else 1


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
                                              "script errors, broken images and links, raw maths, over-wide tables, "
                                              "pages whose provenance is not stated once before their first figure")
    check.add_argument("html", nargs="?", help="the site folder (default _build/default/html)")
    check.set_defaults(func=_cmd_check_book)
    st = sub.add_parser("store", help="look after the run store: verify every run against its manifest, show the "
                                      "space by kind and code version, prune runs no current code asks for")
    st.add_argument("action", choices=["verify", "du", "prune"])
    st.add_argument("--root", help="the store folder (default: $REPCHANGE_STORE, else runs/store)")
    st.add_argument("--yes", action="store_true", help="prune: delete what it lists (without it, only list)")
    st.add_argument("--quarantine", action="store_true", help="prune: also delete the quarantine folder")
    st.set_defaults(func=_cmd_store)
    book = sub.add_parser("book", help="execute every notebook with a profile and build the HTML book")
    book.add_argument("--profile", default="default")
    book.add_argument("--out", help="output folder (default _build/<profile>)")
    book.add_argument("--rerun", action="store_true", help="execute every notebook again, even those unchanged "
                                                           "since their last execution")
    book.set_defaults(func=_cmd_book)
    add_compare_parser(sub)
    add_validate_parser(sub)
    add_activations_parser(sub)
    rh = sub.add_parser("rehearsal-data", help="write miniature data in the paper profile's formats and random ImageNet "
                                               "weight files under torchvision's cache names (for --profile rehearsal)")
    rh.add_argument("folder", help="where to write: FOLDER/data (REPCHANGE_DATA) and FOLDER/torch (TORCH_HOME)")
    rh.add_argument("--per-class", type=int, default=None, help="images per class and split (at least 5; default: 15, the fewest that give the rehearsal profile's probes)")
    rh.add_argument("--no-weights", action="store_true", help="skip the weight files (VGG19's alone is 548 MB)")
    rh.set_defaults(func=_cmd_rehearsal_data)
    ld = sub.add_parser("ledger-diff", help="two builds' ledgers side by side: each verdict that differs, with its "
                                            "margin in both (a fragile one moves as a replication with new seeds would)")
    ld.add_argument("a", help="the first build's results folder, e.g. _build/default/results")
    ld.add_argument("b", help="the second build's results folder")
    ld.set_defaults(func=_cmd_ledger_diff)
    rec = sub.add_parser("scale-record", help="record the tables of the scale axis's runs the store holds "
                                              "(references/scale_record), so builds without them read them")
    rec.add_argument("--profile", default="scale", help="the profile whose a_scales are recorded (default scale)")
    rec.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="override one of budget.py's parameters (VALUE read as YAML); repeatable")
    rec.add_argument("--out", help="the record folder (default: the repository's references/scale_record)")
    rec.set_defaults(func=_cmd_scale_record)
    args = parser.parse_args(argv)
    if args.command in TOOL_COMMANDS:
        try:
            return args.func(args)
        except (ValueError, FileNotFoundError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    try:  # the book's stack is the [book] extra
        from repchange.book import runner
    except ModuleNotFoundError as err:
        print(f"error: repchange {args.command} needs the book's stack ({err.name} is not installed): "
              f"pip install 'repchange[book]' (from a clone: pip install -e '.[book]', or make book)",
              file=sys.stderr)
        return 2
    from repchange.runs.store import StoreWriteError

    try:
        from repchange.runs.allocator import mode

        mode()  # a bad REPCHANGE_KEEP_FREED_MEMORY is refused here, not in a notebook's kernel after it started
        return args.func(args)
    except (ValueError, FileNotFoundError, StoreWriteError, runner.NotebookFailed) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
