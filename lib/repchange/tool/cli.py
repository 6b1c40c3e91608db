"""``repchange compare``: its arguments and its command, on the light install (no book stack imported).

The book's command line (:mod:`repchange.book.cli`) adds this subcommand beside its own.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_activations_parser", "add_compare_parser", "add_validate_parser"]


def add_compare_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``compare`` (its flags and :func:`_cmd_compare`) to a command line's subcommands."""
    cmp = sub.add_parser("compare", help="compare two checkpoints layer by layer, or every layer against every layer "
                                          "(also of two architectures), on a probe set (table, figure, HTML report)")
    cmp.add_argument("arch", help="a torchvision model name (e.g. resnet18) or module:function returning the model")
    cmp.add_argument("checkpoint_a", help="the reference checkpoint (a state-dict file)")
    cmp.add_argument("checkpoint_b", help="the checkpoint compared with it")
    cmp.add_argument("--probe", required=True, help="an ImageFolder root or a book data set (e.g. fashion_mnist)")
    cmp.add_argument("--arch-b", help="B's architecture, when it differs from A's (gives the layer × layer matrix)")
    cmp.add_argument("--layers", nargs="+", help="module paths, globs or name@k (default: the end of each stage)")
    cmp.add_argument("--layers-b", nargs="+", help="B's layers in the matrix (default: --layers)")
    cmp.add_argument("--matrix", action="store_true", help="every layer of B against every layer of A")
    cmp.add_argument("--metrics", nargs="+", help="cka, cka_debiased, rbf_cka, mutual_knn, procrustes, pwsm (with "
                                                  "--alpha), filter_procrustes, and the peers' mutual_knn_uncentred "
                                                  "(platonic-rep), cknna, svcca, pwcca, rsa, and held out (aligned on "
                                                  "half the probe, scored on the other): procrustes_heldout, "
                                                  "pwsm_heldout, and the population's Procrustes distance "
                                                  "estimated from moments: procrustes_moments (default: cka "
                                                  "procrustes; "
                                                  "with --streaming or a matrix: cka_debiased)")
    cmp.add_argument("--view", default="flatten", choices=["flatten", "positions", "mean", "first", "last"],
                     help="how a layer's output becomes (samples, features): flatten, positions as samples, the mean "
                          "over positions, the first or last token (token sequences: real tokens only, by the probe's "
                          "attention_mask)")
    cmp.add_argument("--view-b", choices=["flatten", "mean", "first", "last"],
                     help="B's view in the matrix (default --view)")
    cmp.add_argument("--null", type=int, default=0, help="permutations of a null for every value (0: none)")
    cmp.add_argument("--bootstrap", type=int, default=0, help="bootstrap draws of an interval for cka_debiased")
    cmp.add_argument("--alpha", nargs="+", type=float, default=[], help="PWSM alphas in [0, 1]")
    cmp.add_argument("--n-probe", type=int, default=500, help="probe images (spread over the classes)")
    cmp.add_argument("--image-size", type=int, help="resize probe images to this size (ImageFolder default 224)")
    cmp.add_argument("--num-classes", type=int, help="head size (default: read from the checkpoint)")
    cmp.add_argument("--bn", default="eval", choices=["eval", "batch"], help="BatchNorm statistics at extraction")
    cmp.add_argument("--streaming", action="store_true", help="minibatch debiased CKA: memory independent of the "
                                                               "probe size (metrics: cka_debiased only)")
    cmp.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    cmp.add_argument("--out", default="compare-report", help="folder for compare.csv, compare.png, compare.html")
    cmp.set_defaults(func=_cmd_compare)


def _cmd_compare(args: argparse.Namespace) -> int:
    from repchange.tool.compare import compare

    out = Path(args.out)
    pairwise = args.matrix or args.arch_b is not None
    default_metrics = ["cka_debiased"] if args.streaming or pairwise else ["cka", "procrustes"]
    table = compare(args.arch, args.checkpoint_a, args.checkpoint_b, args.probe, arch_b=args.arch_b,
                    layers=args.layers or "stages", layers_b=args.layers_b, matrix=args.matrix,
                    metrics=args.metrics or default_metrics, alphas=args.alpha, view=args.view, view_b=args.view_b,
                    null=args.null, bootstrap=args.bootstrap, n_probe=args.n_probe, image_size=args.image_size,
                    num_classes=args.num_classes, bn=args.bn, streaming=args.streaming, device=args.device, out=out)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep=""))
    print(f"report: {out / 'compare.html'} (table {out / 'compare.csv'}, figure {out / 'compare.png'})")
    return 0


def add_validate_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``validate`` (the grounding report of the measures on one checkpoint) to a command line's subcommands."""
    val = sub.add_parser("validate", help="which measure to trust on your model: controlled changes to its own "
                                          "activations (isometries, a deleted component, artefacts, a null), read "
                                          "by each measure (table, figure, advice)")
    val.add_argument("arch", help="a torchvision model name (e.g. resnet18) or module:function returning the model")
    val.add_argument("checkpoint", help="a state-dict file")
    val.add_argument("--probe", required=True, help="an ImageFolder root or a book data set (e.g. fashion_mnist)")
    val.add_argument("--twin", help="a state-dict file of the same architecture trained from another seed (or "
                                    "re-initialised): how far it reads is reported beside the constructions")
    val.add_argument("--layers", nargs="+", help="module paths, globs or name@k (default: the end of each stage)")
    val.add_argument("--metrics", nargs="+", help="measures of (samples × features) activations (default: cka "
                                                  "cka_debiased procrustes procrustes_heldout mutual_knn)")
    val.add_argument("--view", default="flatten", choices=["flatten", "mean", "first", "last"],
                     help="how a layer's output becomes (samples, features)")
    val.add_argument("--n-probe", type=int, default=200, help="probe images (spread over the classes)")
    val.add_argument("--image-size", type=int, help="resize probe images to this size (ImageFolder default 224)")
    val.add_argument("--num-classes", type=int, help="output classes (default: read from the checkpoint)")
    val.add_argument("--resamples", type=int, default=10, help="probe subsamples behind each interval (at least 2)")
    val.add_argument("--bn", default="eval", choices=["eval", "batch"], help="BatchNorm at extraction")
    val.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    val.add_argument("--out", required=True, help="folder for validate.csv and validate.png")
    val.set_defaults(func=_cmd_validate)


def _cmd_validate(args: argparse.Namespace) -> int:
    from repchange.tool.validate import DEFAULT_METRICS, validate_checkpoint

    advice_text = validate_checkpoint(args.arch, args.checkpoint, args.probe, layers=args.layers or "stages",
                                      metrics=args.metrics or DEFAULT_METRICS, view=args.view, n_probe=args.n_probe,
                                      image_size=args.image_size, num_classes=args.num_classes,
                                      resamples=args.resamples, bn=args.bn, device=args.device, out=Path(args.out),
                                      twin=args.twin)
    print(advice_text)
    print(f"report: {Path(args.out) / 'validate.csv'}, {Path(args.out) / 'validate.png'}")
    return 0


def add_activations_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``compare-activations`` (:func:`_cmd_activations`): two files of activations computed elsewhere."""
    act = sub.add_parser("compare-activations", help="compare two files of activations computed elsewhere, layer by "
                                                      "layer, their samples matched by ids")
    act.add_argument("activations_a", help="a torch file (torch.save) or .npz of {layer: (samples, features)}, with "
                                           "the samples' ids under the key 'ids' where known")
    act.add_argument("activations_b", help="the same of the other side")
    act.add_argument("--metrics", nargs="+", default=["cka", "procrustes"], help="measures of (samples × features) "
                                                                                 "activations (default: cka procrustes)")
    act.add_argument("--alpha", type=float, nargs="+", default=[], help="alphas of pwsm")
    act.add_argument("--align", action="store_true", help="reorder B's rows to A's ids where both files hold the "
                                                          "same samples in another order (else that is refused)")
    act.add_argument("--out", default="runs/compare_activations", help="folder for compare_activations.csv")
    act.set_defaults(func=_cmd_activations)


def _read_activations(path: str) -> tuple[dict, object]:
    import numpy as np
    import torch

    file = Path(path)
    if not file.is_file():
        raise ValueError(f"{path}: no such file (a torch file or .npz of {{layer: (samples, features)}})")
    if file.suffix == ".npz":
        with np.load(file, allow_pickle=False) as arrays:
            content = {name: arrays[name] for name in arrays.files}
    else:
        content = torch.load(file, map_location="cpu", weights_only=True)
    if not isinstance(content, dict):
        raise ValueError(f"{path}: holds a {type(content).__name__}, not a dict of {{layer: (samples, features)}}")
    ids = content.pop("ids", None)
    return content, (ids.tolist() if hasattr(ids, "tolist") else ids)


def _cmd_activations(args: argparse.Namespace) -> int:
    from repchange.tool.activations import compare_activations

    (acts_a, ids_a), (acts_b, ids_b) = _read_activations(args.activations_a), _read_activations(args.activations_b)
    table = compare_activations(acts_a, acts_b, ids_a=ids_a, ids_b=ids_b, align=args.align,
                                metrics=args.metrics, alphas=args.alpha)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "compare_activations.csv", index=False)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep=""))
    print(f"table: {out / 'compare_activations.csv'}")
    return 0
