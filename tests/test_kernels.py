"""Stored results are keyed by the versions of the kernels that computed them (repchange.measure.kernels), and the
versions are held to the kernels' values: a kernel whose values move without a new version fails here.

When a kernel's values change on purpose, raise its ``@kernel(version)`` and record the new goldens in the same
commit: ``python tests/test_kernels.py`` (every stored table that kernel's module computed is then made again).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from repchange.measure import kernels
from repchange.measure import metrics
from repchange.runs import store
from repchange.measure.kernels import GOLDEN_RTOL, kernels_of

sys.path.insert(0, str(Path(__file__).parent))
from kernel_goldens import CASES, compute  # noqa: E402

GOLDENS = Path(__file__).with_name("kernel_goldens.json")


def _record() -> dict:
    versions = kernels.all_kernels()
    return {name: {"version": versions[name], "values": values} for name, values in compute().items()}


def test_every_kernel_has_golden_cases_and_goldens_at_its_version() -> None:
    versions = kernels.all_kernels()
    assert set(CASES) == set(versions), ("every kernel needs a golden case in tests/kernel_goldens.py, and every case "
                                         f"a kernel: {sorted(set(CASES) ^ set(versions))}")
    goldens = json.loads(GOLDENS.read_text())
    stale = {k: (goldens.get(k, {}).get("version"), v) for k, v in versions.items() if goldens.get(k, {}).get("version") != v}
    assert not stale, (f"goldens recorded for other versions {stale} (recorded, now): record them with "
                       f"python {__file__} in the commit that raised the version")


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_kernel_computes_its_golden_values(name: str) -> None:
    golden = json.loads(GOLDENS.read_text())[name]
    now = np.asarray(compute_one(name), dtype=float)
    expected = np.asarray(golden["values"], dtype=float)
    scale = np.nanmax(np.abs(expected)) if np.isfinite(expected).any() else 1.0
    assert now.shape == expected.shape and np.allclose(now, expected, rtol=GOLDEN_RTOL, atol=GOLDEN_RTOL * scale,
                                                        equal_nan=True), (
        f"{name}'s values moved without a new version (now {now.tolist()}, golden {expected.tolist()}): if that is "
        f"meant, raise its @kernel version in its measure module and record the goldens (python {__file__})")


def compute_one(name: str) -> list[float]:
    from kernel_goldens import _inputs

    return [float(v) for v in CASES[name](_inputs())]


def test_a_kernel_module_is_keyed_by_versions_not_by_its_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key of the measure families ignores their files (a refactor with the same values keeps it), follows a
    kernel's version (new values re-key), and a definitions-keyed module still follows its text."""
    code = (*metrics.METRIC_CODE, "studies.a.tables")
    before = store.code_version(code)

    def edited(which: str):
        return lambda name, *stamp: frozenset({f"edited {name}"}) if name == which else _real(name, *stamp)

    monkeypatch.setattr(store, "_module_fingerprints", edited("measure.cka"))  # any text of a kernel module
    assert store.code_version(code) == before
    monkeypatch.setattr(store, "_module_fingerprints", edited("studies.a.tables"))  # its text counts
    assert store.code_version(code) != before
    monkeypatch.undo()
    assert store.code_version(code) == before
    monkeypatch.setitem(kernels._VERSIONS["measure.cka"], "linear_cka", kernels_of("measure.cka")["linear_cka"] + 1)
    assert store.code_version(code) != before


def test_a_kernel_keeps_its_key_when_it_moves_to_another_family(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kernels enter keys under one namespace (kernels.KEY_NAMESPACE), not their module's name: moving linear_cka
    from the CKA family to the shape family keeps every key, and two kernels of one name are refused."""
    before = store.code_version(metrics.METRIC_CODE)
    moved = {m: dict(v) for m, v in kernels._VERSIONS.items()}
    moved["measure.shape"]["linear_cka"] = moved["measure.cka"].pop("linear_cka")
    monkeypatch.setattr(kernels, "_VERSIONS", moved)
    assert store.code_version(metrics.METRIC_CODE) == before
    with pytest.raises(ValueError, match="already registered"):
        def linear_cka() -> None: ...
        linear_cka.__module__, linear_cka.__qualname__ = "repchange.measure.cka", "linear_cka"
        kernels.kernel(1)(linear_cka)


_real = store._module_fingerprints


def test_a_kernel_version_must_be_a_positive_integer_and_registered_once() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            kernels.kernel(bad)
    with pytest.raises(ValueError, match="registered twice"):
        kernels.kernel(2)(metrics.linear_cka)


if __name__ == "__main__":
    GOLDENS.write_text(json.dumps(_record(), indent=1, sort_keys=True) + "\n")
    print(f"recorded the goldens of {len(CASES)} kernels in {GOLDENS}")


NOT_KERNELS = {"ALPHAS": "a constant of the chapters' parameters", "CENTRINGS": "the names of the two centrings",
               "UndefinedSimilarity": "an error", "pwsm_key": "a column name",
               "whitening_from_eigh": "a helper held through Factors' and pwsm's goldens"}


NOT_KERNELS["METRIC_CODE"] = "the names of the kernel modules"
NOT_KERNELS["MomentShape"] = "the record moment_procrustes returns"


def test_every_public_similarity_of_the_measure_families_is_a_kernel() -> None:
    """A public function that computes values but is no kernel would change stored results without re-keying them;
    every family module is keyed by its kernels, and the façade (measure.metrics) re-exports each of them."""
    import importlib

    # measure.held_out and measure.moment_shape are kernel modules the studies' tables do not call: outside
    # METRIC_CODE, so adding them re-keyed no stored table
    families = {name: importlib.import_module(f"repchange.{name}") for name in (*metrics.METRIC_CODE,
                                                                                 "measure.held_out",
                                                                                 "measure.moment_shape")}
    assert all(getattr(m, "KEYED_BY_KERNELS", False) for m in families.values())
    public = {n for m in families.values() for n in m.__all__} - set(NOT_KERNELS)
    assert public == set(kernels.all_kernels()), sorted(public ^ set(kernels.all_kernels()))
    assert {n for name in metrics.METRIC_CODE for n in families[name].__all__} <= set(metrics.__all__)
