"""The light install: ``pip install .`` into a clean virtual environment that already sees the user's own torch
gives the tool (Tracker, ``repchange compare``, ``repchange validate``) without the book's stack, and leaves that
torch as it was; then, with Hugging Face's transformers added, ``validate`` runs on a small BERT encoder.

The user's torch is this interpreter's, seen through a path file (as a ``--system-site-packages`` environment sees
the system's): installing it again would write 5.5 GB (the CUDA build of x86_64) into every test run's temporary
folder. pip treats it as installed, as it would a torch the user installed into the environment itself."""

from __future__ import annotations

import importlib.metadata as metadata
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torchvision

ROOT = Path(__file__).resolve().parents[1]
BOOK_STACK = ("papermill", "jupytext", "myst_nb", "ipywidgets", "pydantic", "statsmodels", "yaml", "nbformat",
              "sklearn", "jupyter_book")

END_TO_END = textwrap.dedent('''
    import importlib.util, sys
    from pathlib import Path
    import torch, torchvision
    from PIL import Image

    present = [m for m in sys.argv[2].split(",") if importlib.util.find_spec(m) is not None]
    assert not present, f"the light install brought the book's stack: {present}"
    work = Path(sys.argv[1])
    for c in range(3):  # an ImageFolder probe: 3 classes x 5 images
        (work / "probe" / f"class{c}").mkdir(parents=True)
        for i in range(5):
            g = torch.Generator().manual_seed(10 * c + i)
            pixels = (torch.rand(32, 32, 3, generator=g) * 255).to(torch.uint8).numpy()
            Image.fromarray(pixels).save(work / "probe" / f"class{c}" / f"{i}.png")
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(num_classes=3).state_dict(), work / "a.pt")
    torch.save(torchvision.models.resnet18(num_classes=3).state_dict(), work / "b.pt")

    from repchange.tool.track import Tracker
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4))
    x = torch.randn(64, 8)
    tracker = Tracker(model, x, layers=["1", "2"], metrics=("cka", "procrustes"))
    first = tracker.update(0)
    with torch.no_grad():
        model[0].weight.add_(torch.randn_like(model[0].weight))
    second = tracker.update(1)
    assert first.query("metric == 'cka'").value.round(12).tolist() == [1.0, 1.0], first
    assert (second.query("metric == 'cka'").value < 1 - 1e-6).all(), second
    print("tracker ok")
    from repchange.book.cli import main  # the command line of both products, as `repchange compare` runs it
    assert main(["compare", "resnet18", str(work / "a.pt"), str(work / "b.pt"), "--probe", str(work / "probe"),
                 "--image-size", "32", "--n-probe", "12", "--out", str(work / "in_process")]) == 0
    assert main(["validate", "resnet18", str(work / "a.pt"), "--probe", str(work / "probe"), "--image-size", "32",
                 "--n-probe", "15", "--layers", "layer4", "--resamples", "2", "--out", str(work / "trust")]) == 0
    outside = sorted(m for m in sys.modules if m.startswith("repchange.") and m.split(".")[1] not in
                     ("base", "data", "measure", "tool") and m != "repchange.book.cli" and m != "repchange.book")
    stack = [m for m in sys.argv[2].split(",") if m in sys.modules]
    assert not outside and not stack, f"compare and validate imported {outside + stack}"
    print("compare imports the tool alone")
''')

HUGGING_FACE = textwrap.dedent('''
    import torch, transformers
    from repchange.tool.validate import advice, validate
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=48, max_position_embeddings=32)
    encoder = transformers.BertModel(config).eval()
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 60, (30, 16), generator=g)
    mask = (torch.arange(16)[None, :] < torch.randint(4, 17, (30,), generator=g)[:, None]).long()
    report = validate(encoder, {"input_ids": ids * mask, "attention_mask": mask}, layers="hidden_states",
                      view="mean", resamples=2)
    print(report.to_string())
    print(advice(report))
''')


def _distributions_of(*names: str) -> set[str]:
    """``names`` and every installed distribution they require, transitively (extras left out)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a platform-conditional requirement not installed here
        seen.add(name)
        todo += [re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0] for r in dist.requires or () if "extra ==" not in r]
    return seen


def _users_site(folder: Path, *names: str) -> Path:
    """A site folder holding links to the installed files of ``names`` and their requirements: the user's torch."""
    folder.mkdir()
    for name in _distributions_of(*names):
        dist = metadata.distribution(name)
        for top in {Path(f).parts[0] for f in dist.files or ()} - {"..", "bin", "__pycache__"}:
            source = Path(dist.locate_file(top))
            if source.exists() and not (folder / top).exists():
                (folder / top).symlink_to(source)
    return folder


@pytest.mark.slow
def test_the_tool_installs_beside_a_users_torch_and_runs_without_the_book(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    own = [f"torch=={torch.__version__.split('+')[0]}", f"torchvision=={torchvision.__version__.split('+')[0]}"]

    def pip(*args: str) -> None:
        done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]

    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    users = _users_site(tmp_path / "users_site", "torch", "torchvision")  # the user's own torch, there first
    (Path(site) / "users_torch.pth").write_text(f"{users}\n")
    source = tmp_path / "source"  # a copy: building in the checkout would leave build/ there
    shutil.copytree(ROOT / "lib", source / "lib", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    pip(str(source))  # the light install: no extra
    versions = subprocess.run([str(python), "-c", "import torch, torchvision; print(torch.__version__.split('+')[0], "
                               "torchvision.__version__.split('+')[0])"], capture_output=True, text=True, check=True)
    assert versions.stdout.split() == [v.split("==")[1] for v in own], "the light install replaced the user's torch"
    assert not (Path(site) / "torch").exists(), "the light install wrote a torch of its own beside the user's"
    run = subprocess.run([str(python), "-c", END_TO_END, str(tmp_path), ",".join(BOOK_STACK)], capture_output=True,
                         text=True, cwd=tmp_path)
    assert run.returncode == 0 and "compare imports the tool alone" in run.stdout, run.stderr[-3000:]
    report = tmp_path / "report"
    cmd = subprocess.run([str(venv / "bin" / "repchange"), "compare", "resnet18", "a.pt", "b.pt", "--probe", "probe",
                          "--image-size", "32", "--n-probe", "12", "--out", str(report)], capture_output=True,
                         text=True, cwd=tmp_path)
    assert cmd.returncode == 0, cmd.stderr[-3000:]
    table = (report / "compare.csv").read_text().splitlines()
    assert table[0].startswith("layer,metric") and len(table) == 1 + 5 * 2  # stem + 4 stages x (cka, procrustes)
    assert (report / "compare.html").stat().st_size > 1000
    book = subprocess.run([str(venv / "bin" / "repchange"), "book"], capture_output=True, text=True, cwd=tmp_path)
    assert book.returncode == 2 and book.stderr.startswith("error: repchange book needs the book's stack")
    assert "pip install 'repchange[book]'" in book.stderr
    transformers = metadata.version("transformers")  # the test extra's; pip's cache holds it
    pip(f"transformers=={transformers}")
    hugging_face = subprocess.run([str(python), "-c", HUGGING_FACE], capture_output=True, text=True, cwd=tmp_path)
    assert hugging_face.returncode == 0, hugging_face.stderr[-3000:]
    printed = hugging_face.stdout
    assert all(f"hidden_states.{i}" in printed for i in range(3)) and "ignored the isometries" in printed, printed[-3000:]
    assert not (Path(site) / "torch").exists(), "installing transformers replaced the user's torch"
