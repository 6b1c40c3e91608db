"""`repchange compare` end to end on generated ImageFolder trees and checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from PIL import Image

from repchange.book import cli
from repchange.tool.compare import compare, load_checkpoint_state, load_probe
from repchange.data import image_folders
from repchange.data.datasets import IMAGENET_STATS, normalise
from repchange.measure.metrics import linear_cka, procrustes_angle


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_folders, "CACHE_ROOT", tmp_path / "cache")


def _tree(root: Path, classes: int = 3, per_class: int = 6) -> Path:
    gen = np.random.default_rng(0)
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True)
        for k in range(per_class):
            Image.fromarray(gen.integers(0, 256, (40, 36, 3), dtype=np.uint8)).save(root / f"class{c}" / f"{k}.png")
    return root


def _checkpoints(tmp_path: Path, arch: str = "resnet18", num_classes: int = 3) -> tuple[Path, Path]:
    torch.manual_seed(0)
    a = torchvision.models.get_model(arch, weights=None, num_classes=num_classes)
    torch.manual_seed(1)
    b = torchvision.models.get_model(arch, weights=None, num_classes=num_classes)
    b.load_state_dict({k: v + 0.02 * torch.randn_like(v) if v.is_floating_point() else v
                       for k, v in a.state_dict().items()})
    torch.save(a.state_dict(), tmp_path / "a.pt")
    torch.save({"state_dict": {f"module.{k}": v for k, v in b.state_dict().items()}}, tmp_path / "b.pt")  # wrapped
    return tmp_path / "a.pt", tmp_path / "b.pt"


def test_cli_compares_two_resnet_checkpoints_on_an_image_folder(tmp_path: Path, capsys) -> None:
    a, b = _checkpoints(tmp_path)
    probe = _tree(tmp_path / "probe")
    code = cli.main(["compare", "resnet18", str(a), str(b), "--probe", str(probe), "--n-probe", "12",
                     "--image-size", "64", "--out", str(tmp_path / "report")])
    assert code == 0
    table = pd.read_csv(tmp_path / "report" / "compare.csv")
    assert table.layer.unique().tolist() == ["relu", "layer1", "layer2", "layer3", "layer4"]
    assert set(table.metric) == {"cka", "procrustes"}
    html = (tmp_path / "report" / "compare.html").read_text()
    assert "data:image/png;base64," in html and "layer4" in html and (tmp_path / "report" / "compare.png").stat().st_size
    assert "Caution.</b> n is small for the width at relu" in html  # 12 probes against 16,384 features
    # the values are the metrics computed directly on the two nets' layer4 outputs
    images, _ = load_probe(str(probe), 12, image_size=64)
    x = normalise(images.images, IMAGENET_STATS)
    outs = []
    for path in (a, b):
        net = torchvision.models.resnet18(weights=None, num_classes=3)
        state = torch.load(path, weights_only=True)
        state = {k.removeprefix("module."): v for k, v in state.get("state_dict", state).items()}
        net.load_state_dict(state)
        net.eval()
        seen = []
        net.layer4.register_forward_hook(lambda m, i, o: seen.append(o.flatten(1)))
        with torch.no_grad():
            net(x)
        outs.append(seen[0])
    row = table[table.layer == "layer4"].set_index("metric").value
    assert row["cka"] == pytest.approx(linear_cka(*outs), abs=1e-6)
    assert row["procrustes"] == pytest.approx(procrustes_angle(*outs), abs=1e-6)
    assert 0 < row["procrustes"] < 1.5 and row["cka"] < 1  # the perturbed net differs
    printed = capsys.readouterr()
    assert "report:" in printed.out and "caution: n is small" in printed.err


def test_a_module_function_architecture_and_a_book_data_set(tmp_path: Path, monkeypatch) -> None:
    module = tmp_path / "my_nets.py"
    module.write_text("import torch.nn as nn\n"
                      "def small():\n"
                      "    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3),"
                      " nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 10))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import my_nets  # noqa: F401

    torch.manual_seed(0)
    torch.save(my_nets.small().state_dict(), tmp_path / "a.pt")
    torch.save(my_nets.small().state_dict(), tmp_path / "b.pt")
    table = compare("my_nets:small", tmp_path / "a.pt", tmp_path / "b.pt", "digits", layers=["1", "4"],
                    metrics=("cka", "pwsm"), alphas=(0.0,), n_probe=200)
    assert table.layer.unique().tolist() == ["1", "4"] and len(table) == 4
    assert table.query("metric == 'pwsm'").alpha.tolist() == [0.0, 0.0]
    assert table.value.notna().all()


@pytest.mark.slow
@pytest.mark.parametrize("args,message", [
    (["resnet18", "A", "B34", "--probe", "P"], "different architectures"),
    (["resnet34", "A", "A", "--probe", "P"], "does not fit resnet34"),
    (["resnet18", "A", "A", "--probe", "P", "--layers", "layer1.0.conv"], "closest names"),
    (["resnet18", "A", "A", "--probe", "nowhere"], "neither a folder nor a book data set"),
    (["resnt18", "A", "A", "--probe", "P"], r"closest: \['resnet18'"),
    (["resnet18", "A", "missing.pt", "--probe", "P"], "does not exist"),
])
def test_bad_input_stops_with_one_clear_message(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    a, _ = _checkpoints(tmp_path)
    torch.save(torchvision.models.resnet34(weights=None, num_classes=3).state_dict(), tmp_path / "b34.pt")
    probe = _tree(tmp_path / "probe", per_class=2)
    names = {"A": str(a), "B34": str(tmp_path / "b34.pt"), "P": str(probe), "missing.pt": str(tmp_path / "missing.pt")}
    code = cli.main(["compare", *[names.get(x, x) for x in args], "--image-size", "32",
                     "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert pytest.importorskip("re").search(message, err), err


@pytest.mark.parametrize("args,message", [
    (["--n-probe", "-5"], r"n_probe \(--n-probe\) .* at least 4 .* got -5"),
    (["--n-probe", "1"], r"n_probe \(--n-probe\) .* at least 4"),
    (["--n-probe", "8", "--metrics", "mutual_knn"], r"at least 11 for mutual_knn; got 8"),
    (["--image-size", "0"], r"image_size \(--image-size\) must be a whole number of at least 8, got 0"),
    (["--num-classes", "0"], r"num_classes \(--num-classes\)"),
    (["--null", "-1"], r"null \(--null\), bootstrap \(--bootstrap\): null and bootstrap are numbers of draws"),
    (["--metrics", "pwsm", "--alpha", "3"], r"alphas \(--alpha\): alphas must lie in \[0, 1\], got \[3.0\]"),
    (["--alpha", "0.5"], r"metrics \(--metrics\), alphas \(--alpha\): .*alphas need a metric computed at them"),
    (["--out", "FILE"], r"out \(--out\) names .*which is a file"),
])
def test_flags_are_checked_before_any_checkpoint_is_read(tmp_path: Path, capsys, args: list[str],
                                                         message: str) -> None:
    """The checkpoints do not exist: an error naming the flag shows the flag was checked first."""
    (tmp_path / "report.txt").write_text("kept")
    args = [str(tmp_path / "report.txt") if a == "FILE" else a for a in args]
    code = cli.main(["compare", "resnet18", str(tmp_path / "none_a.pt"), str(tmp_path / "none_b.pt"),
                     "--probe", "digits", *args])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert pytest.importorskip("re").search(message, err), err
    assert (tmp_path / "report.txt").read_text() == "kept"


def test_an_unreadable_checkpoint_gets_our_advice_not_pytorchs(tmp_path: Path) -> None:
    (tmp_path / "junk.pt").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError) as err:
        load_checkpoint_state(tmp_path / "junk.pt")
    assert "torch.save(model.state_dict(), path)" in str(err.value)
    assert "file an issue" not in str(err.value) and "\n" not in str(err.value)


def test_nan_weights_stop_naming_the_layer(tmp_path: Path) -> None:
    a, _ = _checkpoints(tmp_path)
    state = torch.load(a, weights_only=True)
    state["layer3.0.conv1.weight"] = torch.full_like(state["layer3.0.conv1.weight"], float("nan"))
    torch.save(state, tmp_path / "nan.pt")
    with pytest.raises(ValueError, match="layer 'layer3' of model B produced NaN"):
        compare("resnet18", a, tmp_path / "nan.pt", str(_tree(tmp_path / "probe", per_class=2)), image_size=32)


def test_two_architectures_layer_by_layer_with_a_null(tmp_path: Path) -> None:
    a, _ = _checkpoints(tmp_path)
    torch.manual_seed(2)
    torch.save(torchvision.models.mobilenet_v3_small(weights=None, num_classes=3).state_dict(), tmp_path / "m.pt")
    probe = _tree(tmp_path / "probe")
    code = cli.main(["compare", "resnet18", str(a), str(tmp_path / "m.pt"), "--arch-b", "mobilenet_v3_small",
                     "--probe", str(probe), "--n-probe", "18", "--image-size", "64", "--view", "mean",
                     "--layers-b", "features.1", "features.4", "features.12", "--null", "19",
                     "--out", str(tmp_path / "report")])
    assert code == 0
    table = pd.read_csv(tmp_path / "report" / "compare.csv")
    assert set(table.layer_b) == {"features.1", "features.4", "features.12"}
    assert table.layer_a.nunique() == 5 and len(table) == 15 and set(table.metric) == {"cka_debiased"}
    assert table.p_value.between(1 / 20, 1).all() and table.null_low.le(table.null_high).all()
    html = (tmp_path / "report" / "compare.html").read_text()
    assert "Every layer against every layer" in html and "Best match of each layer" in html
    assert "mobilenet_v3_small" in html


def test_a_tracked_comparison_draws_its_null_band(tmp_path: Path) -> None:
    a, b = _checkpoints(tmp_path)
    probe = _tree(tmp_path / "probe")
    table = compare("resnet18", a, b, str(probe), n_probe=18, image_size=64, metrics=("cka",), view="mean",
                    null=19, out=tmp_path / "r")
    assert {"null_low", "null_high", "p_value", "z"} <= set(table.columns)
    from repchange.tool.track import plot_table

    fig = plot_table(table)
    assert fig.axes[0].collections  # the shaded band under the curve, named in the legend below the panels
    assert "permutation null" in fig.legends[0].get_title().get_text()
    assert (tmp_path / "r" / "compare.png").stat().st_size > 0
    with pytest.raises(ValueError, match="layers_b and view_b name B's side"):
        compare("resnet18", a, b, str(probe), layers_b=["layer1"])


@pytest.mark.parametrize("prefix", ["model.", "_orig_mod.", "model._orig_mod.", "module.model.", "net."])
def test_checkpoints_from_lightning_ddp_and_torch_compile_load_by_their_keys(prefix: str) -> None:
    """A Lightning module's ``model.``, torch.compile's ``_orig_mod.`` and their combinations come off when that
    makes the keys the model's; the loaded weights are the saved ones."""
    from repchange.tool.compare import _load_into, match_prefixes

    torch.manual_seed(0)
    saved = torchvision.models.get_model("resnet18", weights=None, num_classes=3)
    state = {f"{prefix}{k}": v for k, v in saved.state_dict().items()}
    model = torchvision.models.get_model("resnet18", weights=None, num_classes=3)
    _load_into(model, state, "A", "resnet18")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), saved.state_dict().values()))
    assert match_prefixes(state, {"something.else"}) is state  # nothing fits: left for the error to name


def test_a_checkpoint_of_another_model_is_still_refused_with_its_mismatches() -> None:
    from repchange.tool.compare import _load_into

    other = {f"model.{k}": v for k, v in torchvision.models.get_model("resnet34", weights=None).state_dict().items()}
    with pytest.raises(ValueError, match=r"checkpoint A does not fit resnet18: .* unexpected"):
        _load_into(torchvision.models.get_model("resnet18", weights=None), other, "A", "resnet18")
