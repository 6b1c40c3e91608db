"""Study B's runs (Behzadi-Khormouji et al.): the targets, the source nets and their fine-tunings.

Book default (offline, 2 CPU cores): a small VGG / ResNet / DenseNet is trained on the
*source* task -- the first ``source_size`` Fashion-MNIST training images of the five source
classes (T-shirt/top, trouser, pullover, dress, coat), the analogue of ImageNet pre-training --
and then fine-tuned, all layers trainable with a new head, on one of the targets below, as the
authors fine-tune (Adam, grad-norm clip 0.5), every epoch's weights kept for
:mod:`repchange.studies.b.tables`.

Targets (``TARGETS``) are a transfer design: the *similar* target is the other five
Fashion-MNIST classes (new classes, same domain), the *dissimilar* ones the same new classes
with inverted intensities (white backgrounds, the Fruits-360 analogue) and scikit-learn's
digits (another domain). Training images of a target come from Fashion-MNIST's training split
(never an image of the source set), evaluation and probe images from its test split. Subsets
of a split are stratified over its classes with seed 42 (:meth:`repchange.data.datasets.Split.stratified`).

Any ImageFolder tree is a target too: ``folder:<path>``, split as the paper targets (its own
Training/Test, train/test or train/val folders, else 80 / 20 with seed 42) and probed by the
same rules; for the small nets its images are read at 28x28 and made grey (ITU-R 601 luma).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from repchange.data import datasets as data_mod
from repchange.data import image_folders
from repchange.nets.architectures import ARCHITECTURES, build_architecture
from repchange.runs.parallel import Job, run_jobs
from repchange.runs.runtime import Runtime
from repchange.runs.trainer import OptimiserSpec, load_checkpoint, train

__all__ = ["CLASS_NAMES", "DEFAULT_TARGETS", "NEW_CLASSES", "SOURCE_CLASSES", "TARGETS", "FinetuneBConfig", "SourceConfig",
           "class_names", "describe_target", "finetune_b", "is_folder_target", "model_at", "source_splits",
           "target_splits", "train_all", "train_source", "train_sources"]

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


def class_names(target: str, data_root: str | None = None) -> dict[int, str]:
    """``{label: class name}`` of ``target`` (a folder target: its class folders, sorted; a paper target: the class
    folders its loader reads, under ``data_root``)."""
    if target in image_folders.FOLDER_SETS:
        return dict(enumerate(image_folders.folder_set_classes(target, data_root)))
    if is_folder_target(target):
        tree = Path(target[len(FOLDER_PREFIX):]).expanduser()
        dirs = image_folders.own_split_dirs(tree)
        inner = tree / dirs[0] if dirs else tree
        return dict(enumerate(sorted(d.name for d in inner.iterdir() if d.is_dir())))
    return CLASS_NAMES[target]


TRAINING_CODE = ("data.datasets", "data.image_folders", "nets.architectures", "base.devices", "runs.trainer", "studies.b.runs")


@dataclass(frozen=True)
class SourceConfig:
    """The source net. A small net (``*_small``) is trained here on the first ``train_size``
    Fashion-MNIST images for ``epochs``; a torchvision net (vgg19, resnet50, densenet121) is
    taken as published: ``weights`` = "imagenet" (torchvision's cache), a state-dict path, or
    None (a random init, for tests); ``epochs``, ``train_size`` and ``optimiser`` are then unused."""

    arch: str = "vgg_small"
    seed: int = 1
    epochs: int = 10  # where every small net's source accuracy has plateaued (studies.b.source_plateau)
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
    seed 42. Paper targets come from :mod:`repchange.data.image_folders` (under ``data_root``)."""
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


def train_source(cfg: SourceConfig, runtime: Runtime | None = None) -> Path | None:
    """Train (or load) a small source net; returns its run folder (checkpoint at the last epoch, test accuracy
    after every epoch in ``history.csv``). None for a torchvision net: its source training is ImageNet's, its
    weights come with it."""
    cfg.validate()
    if cfg.pretrained_elsewhere:
        return None
    runtime = runtime or Runtime()

    def produce(run_dir: Path) -> None:
        tr, ev = source_splits(cfg, runtime.data_root)
        # test accuracy after every epoch: the source curve that says whether the net has plateaued
        # (repchange.studies.b.source_plateau); 1,000 images, a small share of an epoch's cost
        train(_new_net(cfg.arch, cfg.seed, len(SOURCE_CLASSES)), tr, ev, epochs=cfg.epochs, optimiser=cfg.optimiser,
              seed=cfg.seed, run_dir=run_dir, checkpoint_epochs=[cfg.epochs], eval_epochs=None,
              device=runtime.device, desc=f"source {cfg.arch} seed {cfg.seed}")

    return runtime.store.get_or_run("study_b/source", cfg, produce, code=TRAINING_CODE)


def finetune_b(cfg: FinetuneBConfig, runtime: Runtime | None = None) -> Path:
    """Fine-tune (or load) the source net on the target with a new head; returns the run folder."""
    cfg.validate()
    runtime = runtime or Runtime()
    source_dir = train_source(cfg.source, runtime=runtime)

    def produce(run_dir: Path) -> None:
        tr, ev, classes = target_splits(cfg, runtime.data_root)
        if cfg.source.pretrained_elsewhere:
            model = _published_net(cfg.source, classes, weights=True)
        else:
            model = load_checkpoint(_new_net(cfg.source.arch, cfg.source.seed, len(SOURCE_CLASSES)), source_dir,
                                    cfg.source.epochs)
            head = _new_net(cfg.source.arch, cfg.source.seed + 1, classes)  # a fresh head for the target's classes
            model = _with_head_of(model, head)
        # test accuracy only at the checkpoints: the figures and tables read it nowhere else
        train(model, tr, ev, epochs=cfg.epochs, optimiser=cfg.optimiser, seed=cfg.source.seed, run_dir=run_dir,
              checkpoint_epochs=cfg.checkpoints, eval_epochs=cfg.checkpoints, device=runtime.device, desc=_label(cfg))

    return runtime.store.get_or_run("study_b/finetune", cfg, produce, code=TRAINING_CODE)


def _label(cfg: FinetuneBConfig) -> str:
    return f"fine-tune {cfg.source.arch} seed {cfg.source.seed} on {cfg.target}"


# relative cost of a training step, for ordering the queue (slowest first)
_ARCH_COST = {"vgg_small": 1.0, "resnet_small": 1.5, "densenet_small": 3.0}


def _source_job(cfg: SourceConfig, runtime: Runtime) -> None:
    train_source(cfg, runtime)


def _finetune_job(cfg: FinetuneBConfig, runtime: Runtime) -> None:
    finetune_b(cfg, runtime)


def train_sources(sources: list[SourceConfig], runtime: Runtime | None = None) -> None:
    """Train every small source net of ``sources`` the store lacks, side by side."""
    runtime = runtime or Runtime()
    missing = runtime.store.missing("study_b/source", (s for s in sources if not s.pretrained_elsewhere), TRAINING_CODE)
    run_jobs([Job(_source_job, dict(cfg=s, runtime=runtime),
                  label=f"source {s.arch} seed {s.seed}", cost=_ARCH_COST.get(s.arch, 1.0) * s.epochs * s.train_size)
              for s in missing], device=runtime.device, desc="Study B source nets")


def train_all(cfgs: list[FinetuneBConfig], runtime: Runtime | None = None) -> None:
    """Train every source net and fine-tuning of ``cfgs`` the store lacks, side by side: sources
    first, then fine-tunings (:func:`repchange.runs.parallel.run_jobs`)."""
    runtime = runtime or Runtime()
    missing = runtime.store.missing("study_b/finetune", cfgs, TRAINING_CODE)
    train_sources([c.source for c in missing], runtime=runtime)
    run_jobs([Job(_finetune_job, dict(cfg=c, runtime=runtime), label=_label(c),
                  cost=_ARCH_COST.get(c.source.arch, 1.0) * c.epochs * (c.train_size or 10_000)) for c in missing],
             device=runtime.device, desc="Study B fine-tunings")


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
