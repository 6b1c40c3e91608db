"""Study B (Behzadi-Khormouji et al.): feature dynamics of a source net while it is fine-tuned.

Book default (offline, 2 CPU cores): a small VGG / ResNet / DenseNet is trained on the
*source* task -- the first ``source_size`` Fashion-MNIST training images of the five source
classes (T-shirt/top, trouser, pullover, dress, coat), the analogue of ImageNet pre-training --
and then fine-tuned, all layers trainable with a new head, on one of the targets below, as the
authors fine-tune (Adam, grad-norm clip 0.5). Each checkpoint's probed ReLU maps on the
target's probe images are compared with the source net's (epoch 0).

Targets (``TARGETS``) are a transfer design: the *similar* target is the other five
Fashion-MNIST classes (new classes, same domain), the *dissimilar* ones the same new classes
with inverted intensities (white backgrounds, the Fruits-360 analogue) and scikit-learn's
digits (another domain). Training images of a target come from Fashion-MNIST's training split
(never an image of the source set), evaluation and probe images from its test split. Subsets
of a split are stratified over its classes with seed 42 (:meth:`repchange.data.Split.stratified`).

Any ImageFolder tree is a target too: ``folder:<path>``, split as the paper targets (its own
Training/Test, train/test or train/val folders, else 80 / 20 with seed 42) and probed by the
same rules; for the small nets its images are read at 28x28 and made grey (ITU-R 601 luma).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .. import data as data_mod
from .. import image_folders, progress
from ..architectures import ARCHITECTURES, build_architecture
from ..features import BN_MODES, extract, positions_as_samples
from ..metrics import ALPHAS, CENTRINGS, Factors, filter_cka, filter_procrustes_similarity, pearson, pwsm, pwsm_key
from ..receptive_field import ReceptiveField, receptive_fields
from ..parallel import Job, run_jobs
from ..store import Store
from ..train import OptimiserSpec, load_checkpoint, progress_enabled, train

__all__ = ["CLASS_NAMES", "DEFAULT_TARGETS", "NEW_CLASSES", "SOURCE_CLASSES", "TARGETS", "baseline", "class_names", "describe_target", "is_folder_target", "DynamicsParams",
           "FinetuneBConfig", "SourceConfig", "describe", "dynamics", "dynamics_params", "filter_agreement", "finetune_b",
           "model_at", "checkpoint_maps", "run_config", "source_splits", "target_splits", "train_all",
           "train_source", "train_sources"]

TARGETS = {
    "fashion_new_classes": "similar: the five Fashion-MNIST classes the source never saw (sandal, shirt, sneaker, "
                           "bag, ankle boot); new classes, same domain",
    "fashion_inverted": "dissimilar appearance: the same five new classes with inverted intensities "
                        "(white backgrounds, the Fruits-360 analogue)",
    "digits": "dissimilar domain: scikit-learn's digits resized to 28x28",
    "fashion_heldout": "control, the source task itself: held-out images of the five source classes",
    "fashion_coarse": "new task, related domain: held-out Fashion-MNIST images of all ten classes in 4 coarse "
                      "classes (tops, trousers and dresses, footwear, bags)",
}
DEFAULT_TARGETS = ("fashion_new_classes", "fashion_inverted", "digits")
PAPER_TARGETS = {
    "scene15": "15-Scene: 15 indoor and outdoor scene categories (paper profile, ImageFolder)",
    "awa2": "Animals with Attributes 2: 50 animal classes (paper profile, ImageFolder)",
    "fruits360": "Fruits-360: 20 fruit classes on white backgrounds (paper profile, ImageFolder)",
}
OFFLINE_TARGETS = tuple(TARGETS)
TARGETS = {**TARGETS, **PAPER_TARGETS}
SMALL_ARCHS = ("vgg_small", "resnet_small", "densenet_small")
COARSE_FASHION = torch.tensor([0, 1, 0, 1, 0, 2, 0, 2, 3, 2])  # T-shirt, trouser, pullover, dress, coat, sandal, ...
FASHION_NAMES = ("T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                 "ankle boot")
SOURCE_CLASSES = (0, 1, 2, 3, 4)  # the source task: T-shirt/top, trouser, pullover, dress, coat
NEW_CLASSES = (5, 6, 7, 8, 9)  # the similar target: sandal, shirt, sneaker, bag, ankle boot
SPLIT_SEED = 42  # stratified subsets of every target split (the authors' split seed)
CLASS_NAMES = {
    "fashion_new_classes": {k: FASHION_NAMES[c] for k, c in enumerate(NEW_CLASSES)},
    "fashion_inverted": {k: FASHION_NAMES[c] for k, c in enumerate(NEW_CLASSES)},
    "fashion_heldout": {k: FASHION_NAMES[c] for k, c in enumerate(SOURCE_CLASSES)},
    "fashion_coarse": dict(enumerate(("tops", "trousers & dresses", "footwear", "bags"))),
    "digits": {d: str(d) for d in range(10)},
}
FOLDER_PREFIX = "folder:"  # a target "folder:<path>" is any ImageFolder tree (see target_splits)


def is_folder_target(target: str) -> bool:
    """True for a target named ``folder:<path>`` (any ImageFolder tree)."""
    return target.startswith(FOLDER_PREFIX)


def describe_target(target: str) -> str:
    """One line on what ``target`` is: its entry in :data:`TARGETS`, or the folder it is read from."""
    if is_folder_target(target):
        return f"ImageFolder tree {target[len(FOLDER_PREFIX):]} (split as the paper targets; 28x28 grey for the small nets)"
    return TARGETS[target]


def class_names(target: str) -> dict[int, str]:
    """``{label: class name}`` of ``target`` (a folder target: its class folders, sorted)."""
    if is_folder_target(target):
        tree = Path(target[len(FOLDER_PREFIX):]).expanduser()
        dirs = image_folders.own_split_dirs(tree)
        inner = tree / dirs[0] if dirs else tree
        return dict(enumerate(sorted(d.name for d in inner.iterdir() if d.is_dir())))
    return CLASS_NAMES[target]


TRAINING_CODE = ("data", "image_folders", "architectures", "train", "experiments.study_b")
TABLE_CODE = (*TRAINING_CODE, "features", "metrics")


@dataclass(frozen=True)
class SourceConfig:
    """The source net. A small net (``*_small``) is trained here on the first ``train_size``
    Fashion-MNIST images for ``epochs``; a torchvision net (vgg19, resnet50, densenet121) is
    taken as published: ``weights`` = "imagenet" (torchvision's cache), a state-dict path, or
    None (a random init, for tests); ``epochs``, ``train_size`` and ``optimiser`` are then unused."""

    arch: str = "vgg_small"
    seed: int = 1
    epochs: int = 3
    train_size: int = 4096
    optimiser: OptimiserSpec = field(default_factory=lambda: OptimiserSpec("adam", lr=1e-3, batch_size=64))
    weights: str | None = "imagenet"

    @property
    def pretrained_elsewhere(self) -> bool:
        """True for the torchvision nets, whose source training is ImageNet's."""
        return self.arch not in SMALL_ARCHS

    def validate(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.arch!r}; choose one of {sorted(ARCHITECTURES)} "
                             f"(small nets: offline targets; torchvision nets: ImageNet weights, paper targets)")
        if not self.pretrained_elsewhere and (self.epochs < 1 or self.train_size < 1):
            raise ValueError(f"source epochs and train_size must be positive, got {self.epochs} and {self.train_size}")


@dataclass(frozen=True)
class FinetuneBConfig:
    """Fine-tuning of a source net on ``target``, checkpoints at ``checkpoints`` (0 = the source net)."""

    source: SourceConfig = field(default_factory=SourceConfig)
    target: str = "fashion_new_classes"
    epochs: int = 7
    checkpoints: tuple[int, ...] = (0, 1, 2, 3, 5, 7)
    train_size: int | None = 768  # every offline target has this many (digits' train split holds 797); None = all
    eval_size: int | None = 500  # None = the whole test split
    image_size: int = 224  # paper targets: images resized to image_size x image_size
    optimiser: OptimiserSpec = field(default_factory=lambda: OptimiserSpec("adam", lr=1e-4, batch_size=32,
                                                                           grad_clip=0.5))

    def validate(self) -> None:
        self.source.validate()
        if is_folder_target(self.target):
            if not self.target[len(FOLDER_PREFIX):].strip():
                raise ValueError("a folder target is 'folder:<path to an ImageFolder tree>'; the path is empty")
        elif self.target not in TARGETS:
            raise ValueError(f"unknown target {self.target!r}; choose one of {sorted(TARGETS)} or "
                             f"'folder:<path to an ImageFolder tree>'")
        elif self.source.pretrained_elsewhere != (self.target in PAPER_TARGETS):
            raise ValueError(f"{self.source.arch} cannot be fine-tuned on {self.target!r}: the small nets "
                             f"{list(SMALL_ARCHS)} go with the offline targets {list(OFFLINE_TARGETS)}, the torchvision "
                             f"nets with the paper targets {list(PAPER_TARGETS)} (paper profile)")
        if self.epochs < 1:
            raise ValueError(f"fine-tuning epochs must be at least 1, got {self.epochs}")
        bad = [e for e in self.checkpoints if not 0 <= e <= self.epochs]
        if bad or 0 not in self.checkpoints:
            raise ValueError(f"checkpoints must include 0 and lie in 0..{self.epochs}, got {list(self.checkpoints)}")
        if any(v is not None and v < 1 for v in (self.train_size, self.eval_size)):
            raise ValueError(f"train_size and eval_size must be positive (or None for all), got {self.train_size} "
                             f"and {self.eval_size}")
        if self.target in OFFLINE_TARGETS and (self.train_size is None or self.eval_size is None):
            raise ValueError("the offline targets need explicit train_size and eval_size (they share one pool)")


def _fashion(data_root: str | None) -> data_mod.DataSet:
    return data_mod.load("fashion_mnist", root=data_root)


def _of_classes(split: data_mod.Split, classes: tuple[int, ...]) -> data_mod.Split:
    """The images of ``classes``, relabelled 0..len(classes)-1 in that order."""
    index = torch.nonzero(torch.isin(split.labels, torch.tensor(classes))).flatten()
    chosen = split.subset(index)
    remap = torch.full((int(split.labels.max()) + 1,), -1, dtype=torch.int64)
    remap[list(classes)] = torch.arange(len(classes))
    return chosen.with_labels(remap[chosen.labels])


def _source_set(fm: data_mod.DataSet, train_size: int) -> tuple[torch.Tensor, data_mod.Split]:
    """Indices into Fashion-MNIST's training split of the source set (the first ``train_size`` images of
    the source classes) and that set, labelled 0..4."""
    index = torch.nonzero(torch.isin(fm.train.labels, torch.tensor(SOURCE_CLASSES))).flatten()
    if train_size > len(index):
        raise ValueError(f"the source classes have {len(index)} Fashion-MNIST training images; asked for {train_size}")
    index = index[:train_size]
    return index, _of_classes(fm.train.subset(index), SOURCE_CLASSES)


def source_splits(cfg: "SourceConfig", data_root: str | None = None) -> tuple[data_mod.Split, data_mod.Split]:
    """(train, eval) of a small source net: its source set and 1,000 test images of the source classes."""
    fm = _fashion(data_root)
    _, train_set = _source_set(fm, cfg.train_size)
    return train_set, _of_classes(fm.test, SOURCE_CLASSES).stratified(1000, SPLIT_SEED)


def target_splits(cfg: FinetuneBConfig, data_root: str | None = None
                  ) -> tuple[data_mod.Split, data_mod.Split, int]:
    """(train, eval, number of classes) of the target; Fashion-MNIST targets never reuse source images.

    ``train_size`` / ``eval_size`` images (None = all) are drawn stratified over the classes with
    seed 42. Paper targets come from :mod:`repchange.image_folders` (under ``data_root``)."""
    def take(train: data_mod.Split, test: data_mod.Split) -> tuple[data_mod.Split, data_mod.Split]:
        for split, n, name in ((train, cfg.train_size, "train"), (test, cfg.eval_size, "eval")):
            if n is not None and n > len(split):
                raise ValueError(f"{cfg.target} has {len(split)} {name} images; asked for {n}")
        return train.stratified(cfg.train_size, SPLIT_SEED), test.stratified(cfg.eval_size, SPLIT_SEED)

    if cfg.target in PAPER_TARGETS:
        ds = image_folders.load_folder_set(cfg.target, data_root, image_size=cfg.image_size)
        return (*take(ds.train, ds.test), ds.num_classes)
    if is_folder_target(cfg.target):
        small = not cfg.source.pretrained_elsewhere
        ds = image_folders.load_image_folder(cfg.target[len(FOLDER_PREFIX):], image_size=28 if small else cfg.image_size)
        tr, ev = take(ds.train, ds.test)
        return (*((_grey(tr), _grey(ev)) if small else (tr, ev)), ds.num_classes)
    if cfg.target == "digits":
        digits = data_mod.load("digits").conformed_to((1, 28, 28))
        return (*take(digits.train, digits.test), 10)
    fm = _fashion(data_root)
    source_index, _ = _source_set(fm, cfg.source.train_size)
    unseen = torch.ones(len(fm.train), dtype=torch.bool)
    unseen[source_index] = False
    pool = fm.train.subset(torch.nonzero(unseen).flatten())  # every training image the source never saw
    if cfg.target in ("fashion_new_classes", "fashion_inverted"):
        tr, ev = take(_of_classes(pool, NEW_CLASSES), _of_classes(fm.test, NEW_CLASSES))
        if cfg.target == "fashion_inverted":
            tr, ev = data_mod.Split(255 - tr.images, tr.labels), data_mod.Split(255 - ev.images, ev.labels)
        return tr, ev, len(NEW_CLASSES)
    if cfg.target == "fashion_heldout":
        return (*take(_of_classes(pool, SOURCE_CLASSES), _of_classes(fm.test, SOURCE_CLASSES)), len(SOURCE_CLASSES))
    tr, ev = take(pool, fm.test)  # fashion_coarse
    return tr.with_labels(COARSE_FASHION[tr.labels]), ev.with_labels(COARSE_FASHION[ev.labels]), 4


def _grey(split: data_mod.Split) -> data_mod.Split:
    """RGB images as one grey channel (ITU-R 601 luma), for the small nets' 1-channel input."""
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    grey = (split.images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    return data_mod.Split(grey, split.labels)


def _new_net(arch: str, seed: int, num_classes: int) -> torch.nn.Module:
    """A small net for 1-channel input (random init from ``seed``)."""
    torch.manual_seed(seed)
    return build_architecture(arch, in_channels=1, num_classes=num_classes)


def _published_net(source: SourceConfig, num_classes: int, *, weights: bool) -> torch.nn.Module:
    """A torchvision net with the source weights (or none, to load a checkpoint into) and a new
    ``num_classes`` head drawn from ``source.seed``."""
    torch.manual_seed(source.seed)
    return build_architecture(source.arch, in_channels=3, num_classes=num_classes,
                              weights=source.weights if weights else None)


def train_source(cfg: SourceConfig, *, store: Store | None = None, device: str = "auto",
                 data_root: str | None = None) -> Path | None:
    """Train (or load) a small source net; returns its run folder (checkpoint at the last epoch).
    None for a torchvision net: its source training is ImageNet's, its weights come with it."""
    cfg.validate()
    if cfg.pretrained_elsewhere:
        return None
    store = store or Store()

    def produce(run_dir: Path) -> None:
        tr, ev = source_splits(cfg, data_root)
        train(_new_net(cfg.arch, cfg.seed, len(SOURCE_CLASSES)), tr, ev, epochs=cfg.epochs, optimiser=cfg.optimiser,
              seed=cfg.seed, run_dir=run_dir, checkpoint_epochs=[cfg.epochs], eval_epochs=[cfg.epochs], device=device,
              desc=f"source {cfg.arch} seed {cfg.seed}")

    return store.get_or_run("study_b/source", cfg, produce, code=TRAINING_CODE)


def finetune_b(cfg: FinetuneBConfig, *, store: Store | None = None, device: str = "auto",
               data_root: str | None = None) -> Path:
    """Fine-tune (or load) the source net on the target with a new head; returns the run folder."""
    cfg.validate()
    store = store or Store()
    source_dir = train_source(cfg.source, store=store, device=device, data_root=data_root)

    def produce(run_dir: Path) -> None:
        tr, ev, classes = target_splits(cfg, data_root)
        if cfg.source.pretrained_elsewhere:
            model = _published_net(cfg.source, classes, weights=True)
        else:
            model = load_checkpoint(_new_net(cfg.source.arch, cfg.source.seed, len(SOURCE_CLASSES)), source_dir,
                                    cfg.source.epochs)
            head = _new_net(cfg.source.arch, cfg.source.seed + 1, classes)  # a fresh head for the target's classes
            model = _with_head_of(model, head)
        # test accuracy only at the checkpoints: the figures and tables read it nowhere else
        train(model, tr, ev, epochs=cfg.epochs, optimiser=cfg.optimiser, seed=cfg.source.seed, run_dir=run_dir,
              checkpoint_epochs=cfg.checkpoints, eval_epochs=cfg.checkpoints, device=device, desc=_label(cfg))

    return store.get_or_run("study_b/finetune", cfg, produce, code=TRAINING_CODE)


def _label(cfg: FinetuneBConfig) -> str:
    return f"fine-tune {cfg.source.arch} seed {cfg.source.seed} on {cfg.target}"


# relative cost of a training step, for ordering the queue (slowest first)
_ARCH_COST = {"vgg_small": 1.0, "resnet_small": 1.5, "densenet_small": 3.0}


def _source_job(cfg: SourceConfig, store_root: str, device: str, data_root: str | None) -> None:
    train_source(cfg, store=Store(store_root), device=device, data_root=data_root)


def _finetune_job(cfg: FinetuneBConfig, store_root: str, device: str, data_root: str | None) -> None:
    finetune_b(cfg, store=Store(store_root), device=device, data_root=data_root)


def train_sources(sources: list[SourceConfig], *, store: Store | None = None, device: str = "auto",
                  data_root: str | None = None) -> None:
    """Train every small source net of ``sources`` the store lacks, side by side."""
    store = store or Store()
    missing = store.missing("study_b/source", (s for s in sources if not s.pretrained_elsewhere), TRAINING_CODE)
    run_jobs([Job(_source_job, dict(cfg=s, store_root=str(store.root), device=device, data_root=data_root),
                  label=f"source {s.arch} seed {s.seed}", cost=_ARCH_COST.get(s.arch, 1.0) * s.epochs * s.train_size)
              for s in missing], device=device, desc="Study B source nets")


def train_all(cfgs: list[FinetuneBConfig], *, store: Store | None = None, device: str = "auto",
              data_root: str | None = None) -> None:
    """Train every source net and fine-tuning of ``cfgs`` the store lacks, side by side: sources
    first, then fine-tunings (:func:`repchange.parallel.run_jobs`)."""
    store = store or Store()
    common = dict(store_root=str(store.root), device=device, data_root=data_root)
    missing = store.missing("study_b/finetune", cfgs, TRAINING_CODE)
    train_sources([c.source for c in missing], store=store, device=device, data_root=data_root)
    run_jobs([Job(_finetune_job, dict(cfg=c, **common), label=_label(c),
                  cost=_ARCH_COST.get(c.source.arch, 1.0) * c.epochs * (c.train_size or 10_000)) for c in missing],
             device=device, desc="Study B fine-tunings")


def _head_name(model: torch.nn.Module) -> str:
    return next(n for n in ("classifier", "fc") if isinstance(getattr(model, n, None), torch.nn.Linear))


def _with_head_of(model: torch.nn.Module, other: torch.nn.Module) -> torch.nn.Module:
    name = _head_name(model)
    setattr(model, name, getattr(other, name))
    return model


def model_at(cfg: FinetuneBConfig, run_dir: Path, epoch: int, num_classes: int) -> torch.nn.Module:
    """The fine-tuned net at ``epoch`` (0 = the source net with the new head)."""
    if cfg.source.pretrained_elsewhere:
        return load_checkpoint(_published_net(cfg.source, num_classes, weights=False), run_dir, epoch)
    model = _with_head_of(_new_net(cfg.source.arch, 0, len(SOURCE_CLASSES)), _new_net(cfg.source.arch, 0, num_classes))
    return load_checkpoint(model, run_dir, epoch)


@dataclass(frozen=True)
class DynamicsParams:
    """Figures 2-4: every probed layer at every checkpoint against the source net."""

    finetune: FinetuneBConfig = field(default_factory=FinetuneBConfig)
    archs: tuple[str, ...] = ("vgg_small", "resnet_small", "densenet_small")
    targets: tuple[str, ...] = DEFAULT_TARGETS
    seeds: tuple[int, ...] = (1,)  # source-net seeds (the paper: one run per model and data set)
    alphas: tuple[float, ...] = ALPHAS
    n_probe: int = 200
    bn: str = "batch"  # BatchNorm at extraction: batch statistics (the authors' code) or "eval"
    procrustes_centre: str = "rows"  # per-filter Procrustes: centre rows (the authors' code) or "columns" (scipy)
    lr_by_target: tuple[tuple[str, float], ...] = ()  # fine-tuning learning rate of named targets (paper: Fruits 1e-3)

    def validate(self) -> None:
        if self.bn not in BN_MODES:
            raise ValueError(f"bn must be one of {BN_MODES}, got {self.bn!r}")
        if self.procrustes_centre not in CENTRINGS:
            raise ValueError(f"procrustes_centre must be one of {CENTRINGS}, got {self.procrustes_centre!r}")
        unknown = [t for t, _ in self.lr_by_target if t not in TARGETS and not is_folder_target(t)]
        if unknown:
            raise ValueError(f"lr_by_target names unknown targets {unknown}; choose from {sorted(TARGETS)}")
        if not self.archs or not self.targets or not self.seeds:
            raise ValueError("archs, targets and seeds must each name at least one entry")
        for arch in self.archs:
            for target in self.targets:
                replace(self.finetune, source=replace(self.finetune.source, arch=arch), target=target).validate()
        if any(not 0.0 <= a <= 1.0 for a in self.alphas):
            raise ValueError(f"alphas must lie in [0, 1], got {list(self.alphas)}")
        if self.n_probe < 2 or (self.finetune.eval_size is not None and self.n_probe > self.finetune.eval_size):
            raise ValueError(f"n_probe must lie in 2..eval_size ({self.finetune.eval_size}), got {self.n_probe}")


def _class_groups(labels: torch.Tensor, per_class: bool = True) -> list[tuple[str, torch.Tensor]]:
    """``("all", all probes)`` and, with ``per_class``, ``(class index, its probes)`` masks."""
    groups = [("all", torch.ones_like(labels, dtype=torch.bool))]
    if per_class:
        groups += [(str(c), labels == c) for c in labels.unique().tolist()]
    return groups


def _layer_rows(src: torch.Tensor, now: torch.Tensor, labels: torch.Tensor, alphas: tuple[float, ...],
                source_factors: dict[str, Factors] | None = None, *, per_class: bool = True, centre: str = "rows"
                ) -> list[dict[str, object]]:
    """Distances of one layer's (n, C, H, W) maps to the source's, over all probes and per class.

    ``source_factors`` caches the source's positions-as-samples factors per class across calls.
    """
    source_factors = {} if source_factors is None else source_factors
    similarity = filter_procrustes_similarity(src, now, centre=centre)  # (n, C), NaN for dead maps
    rows = []
    for cls, mask in _class_groups(labels, per_class):
        sim = similarity[mask].numpy()
        rows.append(dict(cls=cls, metric="procrustes_filter", alpha=np.nan, value=float(1 - np.nanmean(sim)) if
                         np.isfinite(sim).any() else np.nan, dead_fraction=float(np.isnan(sim).mean())))
        if cls not in source_factors:
            source_factors[cls] = Factors(positions_as_samples(src[mask]), name=f"source maps ({cls})")
        x, y = source_factors[cls], Factors(positions_as_samples(now[mask]), name=f"fine-tuned maps ({cls})")
        for alpha in alphas:
            # a class with fewer positions than channels leaves whitening undefined (alpha < 1): NaN there,
            # while for all probes together the ValueError stands (raise n_probe)
            undefined = cls != "all" and alpha < 1 and x.n < x.p
            rows.append(dict(cls=cls, metric=pwsm_key(alpha), alpha=alpha,
                             value=np.nan if undefined else pwsm(x, y, alpha=alpha), dead_fraction=np.nan))
    return rows


def _run_label(cfg: FinetuneBConfig) -> str:
    return f"{cfg.source.arch} seed {cfg.source.seed} on {cfg.target}"


def dynamics(params: DynamicsParams, *, store: Store | None = None, device: str = "auto",
             data_root: str | None = None) -> pd.DataFrame:
    """Tidy table: arch, target, seed, layer, epoch, cls (``all`` or a class index), metric, value, dead_fraction,
    train_acc, test_acc.

    Metrics (distances to the source net, 0 = unchanged): ``pwsm_alpha_<a>`` (angular shape
    metric on positions-as-samples, radians; NaN for a class whose images give fewer positions
    than the layer has channels when alpha < 1) and ``procrustes_filter`` (1 - nan-mean per-filter
    Procrustes similarity; ``dead_fraction`` = share of (image, filter) maps that were all zero).
    Each (arch, target) table is stored once.
    """
    params.validate()
    store = store or Store()
    keys = {cfg: dict(finetune=asdict(cfg), alphas=params.alphas, n_probe=params.n_probe, bn=params.bn,
                      centre=params.procrustes_centre) for cfg in _runs(params)}
    train_all([cfg for cfg, key in keys.items() if not store.has("study_b/dynamics", key, TABLE_CODE)],
              store=store, device=device, data_root=data_root)
    tables = []
    for cfg in tqdm(progress.counted(list(keys), "Study B distance tables", _run_label), total=len(keys),
                    desc="Study B runs", disable=not progress_enabled()):

        def compute(cfg: FinetuneBConfig = cfg) -> pd.DataFrame:
            run_dir, probe, source_maps, checkpoints = _run_maps(cfg, params, store, device, data_root)
            history = pd.read_csv(run_dir / "history.csv").set_index("epoch")
            rows, cache = [], {layer: {} for layer in source_maps}
            for epoch, maps in checkpoints:
                for layer in maps:
                    for row in _layer_rows(source_maps[layer], maps[layer], probe.labels, params.alphas,
                                           cache[layer], centre=params.procrustes_centre):
                        rows.append(dict(layer=layer, epoch=epoch, **row, train_acc=history.loc[epoch, "train_acc"],
                                         test_acc=history.loc[epoch, "test_acc"]))
            return pd.DataFrame(rows)

        tables.append(_labelled(store.table("study_b/dynamics", keys[cfg], compute, code=TABLE_CODE), cfg))
    return _tidy(tables)


def _run_maps(cfg: FinetuneBConfig, params: DynamicsParams, store: Store, device: str, data_root: str | None,
              from_epoch: int = 0) -> tuple[Path, data_mod.Split, dict[str, torch.Tensor], Iterator]:
    """The run's folder (trained if not stored), its probe set, the source net's (n, C, H, W) maps of
    every probed layer, and a lazy ``(epoch, maps)`` over the checkpoints from ``from_epoch`` on
    (epoch 0 reuses the source maps: the same net)."""
    run_dir = finetune_b(cfg, store=store, device=device, data_root=data_root)
    probe, classes = _probe(cfg, params.n_probe, data_root)

    def maps_at(epoch: int) -> dict[str, torch.Tensor]:
        model = model_at(cfg, run_dir, epoch, classes)
        return extract(model, model.probe_layers, probe, flatten=False, bn=params.bn)

    source_maps = maps_at(0)
    checkpoints = ((e, source_maps if e == 0 else maps_at(e)) for e in cfg.checkpoints if e >= from_epoch)
    return run_dir, probe, source_maps, checkpoints


def filter_agreement(params: DynamicsParams, *, store: Store | None = None, device: str = "auto",
                     data_root: str | None = None) -> pd.DataFrame:
    """The paper's metric agreement (Sec. 4, "mean value for Pearson's r as 0.83"), computed as the
    authors' code does: for each (layer, epoch > 0, class) one Pearson r *across the layer's
    filters* between two per-filter distances to the source net, each a mean over the class's
    probe images -- the per-filter Procrustes distance and the per-filter CKA distance
    (1 - :func:`repchange.metrics.filter_cka`, the same maps read as CKA reads them).

    Columns: arch, target, seed, layer, epoch, cls, r, n_filters (filters with both distances
    finite; r is NaN below 3 or where either distance is constant over the filters).
    """
    params.validate()
    store = store or Store()
    keys = {cfg: dict(finetune=asdict(cfg), n_probe=params.n_probe, bn=params.bn, centre=params.procrustes_centre)
            for cfg in _runs(params)}
    train_all([cfg for cfg, key in keys.items() if not store.has("study_b/filter_agreement", key, TABLE_CODE)],
              store=store, device=device, data_root=data_root)
    tables = []
    for cfg in tqdm(progress.counted(list(keys), "Study B filter agreement", _run_label), total=len(keys),
                    desc="Study B filter agreement", disable=not progress_enabled()):

        def compute(cfg: FinetuneBConfig = cfg) -> pd.DataFrame:
            _, probe, source_maps, checkpoints = _run_maps(cfg, params, store, device, data_root, from_epoch=1)
            rows = []
            for epoch, maps in checkpoints:
                for layer, now in maps.items():
                    for cls, mask in _class_groups(probe.labels)[1:]:
                        rows.append(dict(layer=layer, epoch=epoch, cls=cls,
                                         **_filter_r(source_maps[layer][mask], now[mask], params.procrustes_centre)))
            return pd.DataFrame(rows)

        tables.append(_labelled(store.table("study_b/filter_agreement", keys[cfg], compute, code=TABLE_CODE), cfg))
    return _tidy(tables)


def _filter_r(src: torch.Tensor, now: torch.Tensor, centre: str) -> dict[str, float]:
    """Pearson r across filters of the per-filter Procrustes and CKA distances of (n, C, H, W) maps."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN filters (dead on every image) stay NaN
        procrustes = 1 - np.nanmean(filter_procrustes_similarity(src, now, centre=centre).numpy(), axis=0)
        cka = 1 - np.nanmean(filter_cka(src, now, centre=centre).numpy(), axis=0)
    both = np.isfinite(procrustes) & np.isfinite(cka)
    try:
        r = pearson(procrustes, cka)
    except ValueError:  # fewer than 3 live filters, or a distance constant over them
        r = np.nan
    return dict(r=r, n_filters=int(both.sum()))


def _runs(params: DynamicsParams) -> list[FinetuneBConfig]:
    """One fine-tuning config per (arch, target, seed) of ``params``, in that order."""
    return [run_config(params, a, t, s) for a in params.archs for t in params.targets for s in params.seeds]


def _probe(cfg: FinetuneBConfig, n_probe: int, data_root: str | None) -> tuple[data_mod.Split, int]:
    """``n_probe`` evaluation images of the run's target, stratified over its classes (seed 42), and its
    number of classes."""
    _, ev, classes = target_splits(cfg, data_root)
    if n_probe < 1:
        raise ValueError(f"n_probe must be at least 1, got {n_probe}")
    if n_probe > len(ev):
        raise ValueError(f"n_probe={n_probe} exceeds the {len(ev)} evaluation images of {cfg.target}")
    return ev.stratified(n_probe, SPLIT_SEED), classes


def _labelled(frame: pd.DataFrame, cfg: FinetuneBConfig) -> pd.DataFrame:
    return frame.assign(arch=cfg.source.arch, target=cfg.target, seed=cfg.source.seed)


def _tidy(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The per-run tables as one frame, arch / target / seed first."""
    frame = pd.concat(tables, ignore_index=True)
    front = ["arch", "target", "seed"]
    return frame[front + [c for c in frame.columns if c not in front]]


def dynamics_params(*, archs: list[str], targets: list[str], seeds: list[int], source_epochs: int,
                    source_size: int, finetune_epochs: int, finetune_checkpoints: list[int],
                    finetune_size: int | None, finetune_eval_size: int | None, finetune_lr: float,
                    finetune_batch_size: int, n_probe: int, alphas: list[float] = ALPHAS,
                    weights: str | None = "imagenet", bn: str = "batch", procrustes_centre: str = "rows",
                    lr_by_target: dict[str, float] | None = None) -> DynamicsParams:
    """The :class:`DynamicsParams` of a Study B notebook's parameters cell (the same in every chapter, so
    all chapters share the stored runs and tables); validated."""
    source = replace(SourceConfig(), epochs=source_epochs, train_size=source_size, weights=weights)
    finetune = FinetuneBConfig(source=source, epochs=finetune_epochs, checkpoints=tuple(finetune_checkpoints),
                               train_size=finetune_size, eval_size=finetune_eval_size,
                               optimiser=OptimiserSpec("adam", lr=finetune_lr, batch_size=finetune_batch_size,
                                                       grad_clip=0.5))
    params = DynamicsParams(finetune=finetune, archs=tuple(archs), targets=tuple(targets), seeds=tuple(seeds),
                            alphas=tuple(float(a) for a in alphas), n_probe=n_probe, bn=bn,
                            procrustes_centre=procrustes_centre,
                            lr_by_target=tuple(sorted((lr_by_target or {}).items())))
    params.validate()
    return params


def describe(params: DynamicsParams, targets: list[str] | None = None) -> dict[str, str]:
    """Provenance of a Study B table: data (source → targets), source and fine-tuning settings, probes."""
    ft, src = params.finetune, params.finetune.source
    small = [a for a in params.archs if a in SMALL_ARCHS]
    source = f"first {src.train_size} Fashion-MNIST images of classes 0-4 × {src.epochs} epochs" if small else \
        f"published weights ({src.weights}), {ft.image_size} px inputs"
    overrides = "".join(f"; lr {lr:g} on {t}" for t, lr in params.lr_by_target)
    origin = "Fashion-MNIST source" if small else f"{src.weights} weights"
    return dict(data=f"{origin} → {', '.join(targets or params.targets)}", source=source,
                fine_tuning=f"{ft.train_size or 'all'} images × {ft.epochs} epochs, Adam lr {ft.optimiser.lr:g}, "
                            f"batch {ft.optimiser.batch_size}, clip {ft.optimiser.grad_clip}{overrides}",
                checkpoints=list(ft.checkpoints),
                probe=f"{params.n_probe} eval images of each target, stratified over classes",
                extraction=f"BatchNorm {params.bn}, Procrustes centring {params.procrustes_centre}")


def run_config(params: DynamicsParams, arch: str, target: str, seed: int | None = None) -> FinetuneBConfig:
    """The fine-tuning config of one (arch, target, seed) run of ``params`` (seed: the first by default)."""
    seed = params.seeds[0] if seed is None else seed
    cfg = replace(params.finetune, source=replace(params.finetune.source, arch=arch, seed=seed), target=target)
    lr = dict(params.lr_by_target).get(target)
    if lr is not None:
        cfg = replace(cfg, optimiser=replace(cfg.optimiser, lr=lr))
    cfg.validate()
    return cfg


def checkpoint_maps(cfg: FinetuneBConfig, layers: list[str] | None, n_probe: int, *, store: Store | None = None,
                    device: str = "auto", data_root: str | None = None, bn: str = "batch"
                    ) -> tuple[data_mod.Split, dict[int, dict[str, torch.Tensor]], dict[str, ReceptiveField]]:
    """The probe images, the (n, C, H, W) maps of ``layers`` (default: all probed) at every checkpoint
    of the run (trained if not stored), and each layer's receptive-field geometry."""
    run_dir = finetune_b(cfg, store=store, device=device, data_root=data_root)
    probe, classes = _probe(cfg, n_probe, data_root)
    maps, fields = {}, {}
    for epoch in cfg.checkpoints:
        model = model_at(cfg, run_dir, epoch, classes)
        names = list(model.probe_layers) if layers is None else list(layers)
        unknown = [n for n in names if n not in model.probe_layers]
        if unknown:
            raise ValueError(f"{cfg.source.arch} has no probed layer(s) {unknown}; it has {list(model.probe_layers)}")
        chosen = {n: model.probe_layers[n] for n in names}
        maps[epoch] = extract(model, chosen, probe, flatten=False, bn=bn)
        if not fields:
            fields = receptive_fields(model, chosen)
    return probe, maps, fields


INDEPENDENT_SEED_OFFSET = 1000  # the independent source net of seed s is trained with seed s + 1000


def baseline(params: DynamicsParams, *, store: Store | None = None, device: str = "auto",
             data_root: str | None = None) -> pd.DataFrame:
    """The distance an *unrelated* net has: each probed layer of the source net against the same layer
    of an independently trained source net (same architecture, data and recipe, seed + 1000), on
    each target's probe images, all probes together. Small nets only (a torchvision source has no
    independent twin here). Columns: arch, target, seed, layer, metric, value, dead_fraction.

    A fine-tuned layer whose distance to its source stays below this level is still closer to its
    source than a differently seeded net of the same kind is.
    """
    params.validate()
    store = store or Store()
    twins, keys = {}, {}
    for cfg in _runs(params):
        if cfg.source.pretrained_elsewhere:
            continue
        twin = twins[cfg] = replace(cfg.source, seed=cfg.source.seed + INDEPENDENT_SEED_OFFSET)
        keys[cfg] = dict(source=asdict(cfg.source), twin=asdict(twin), target=cfg.target, eval_size=cfg.eval_size,
                         source_size=cfg.source.train_size, alphas=params.alphas, n_probe=params.n_probe, bn=params.bn,
                         centre=params.procrustes_centre)
    train_sources([source for cfg, key in keys.items() if not store.has("study_b/baseline", key, TABLE_CODE)
                   for source in (cfg.source, twins[cfg])], store=store, device=device, data_root=data_root)
    tables = []
    for cfg, twin in twins.items():

        def compute(cfg: FinetuneBConfig = cfg, twin: SourceConfig = twin) -> pd.DataFrame:
            probe, _ = _probe(cfg, params.n_probe, data_root)
            maps = []
            for source in (cfg.source, twin):
                run_dir = train_source(source, store=store, device=device, data_root=data_root)
                model = load_checkpoint(_new_net(source.arch, source.seed, len(SOURCE_CLASSES)), run_dir, source.epochs)
                maps.append(extract(model, model.probe_layers, probe, flatten=False, bn=params.bn))
            rows = []
            for layer in maps[0]:
                for row in _layer_rows(maps[0][layer], maps[1][layer], probe.labels, params.alphas, per_class=False,
                                       centre=params.procrustes_centre):
                    rows.append(dict(layer=layer, metric=row["metric"], value=row["value"],
                                     dead_fraction=row["dead_fraction"]))
            return pd.DataFrame(rows)

        tables.append(_labelled(store.table("study_b/baseline", keys[cfg], compute, code=TABLE_CODE), cfg))
    if not tables:
        return pd.DataFrame(columns=["arch", "target", "seed", "layer", "metric", "value", "dead_fraction"])
    return _tidy(tables)
