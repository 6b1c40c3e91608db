"""Kernels: the functions whose values stored results depend on, each with a version.

A stored table's key names the code that computed it (:func:`repchange.runs.store.code_version`). For most modules
that is a fingerprint of their definitions, so any edit re-keys. A module of *kernels* (``measure.metrics``) is keyed by
its kernels' versions instead: moving a function, rewording a docstring, sharing a helper between two kernels or
making one faster with the same values keeps every key, and a change of values must come with a new version, which
re-keys every result that module's kernels computed.

The versions are enforced by values, not by trust: ``tests/test_kernels.py`` computes every kernel on fixed inputs
(the cases of ``tests/kernel_goldens.py``) and compares them with the golden values stored for its version
(``tests/kernel_goldens.json``, at a relative tolerance of :data:`GOLDEN_RTOL`): a kernel whose values moved without
a new version fails there, and so does a kernel without goldens.

Usage: ``@kernel(1)`` on a public function or class of a module that sets ``KEYED_BY_KERNELS = True``.
"""

from __future__ import annotations

from typing import Callable, TypeVar

__all__ = ["GOLDEN_RTOL", "KEY_NAMESPACE", "KEY_SCHEME", "all_kernels", "kernel", "kernels_of", "key_print"]

F = TypeVar("F", bound=Callable)

GOLDEN_RTOL = 1e-9  # another CPU's float order moves these kernels' float64 values by far less (make bench [11])
KEY_SCHEME = "kernels-1"  # how a kernel module enters a key; a change of scheme is migrated, never silent
# The name every kernel enters a key under, whichever module holds it: where scheme kernels-1 first recorded them
# (repchange.core.metrics). A kernel may move between modules, or a module split in two, without re-keying; so a
# kernel's name is unique across all kernel modules (registering it twice is an error).
KEY_NAMESPACE = "core.metrics"
_VERSIONS: dict[str, dict[str, int]] = {}


def _module_name(module: str) -> str:
    """``measure.metrics`` for ``repchange.measure.metrics``."""
    return module.removeprefix("repchange.")


def kernel(version: int) -> Callable[[F], F]:
    """Register the decorated function or class as a kernel of its module at ``version`` (a positive integer; raise
    it whenever the kernel's values change). Returns the object unchanged."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"a kernel's version must be a positive integer, got {version!r}")

    def register(obj: F) -> F:
        module = _module_name(obj.__module__)
        elsewhere = [m for m, kernels in _VERSIONS.items() if obj.__qualname__ in kernels and m != module]
        if elsewhere:
            raise ValueError(f"kernel {obj.__qualname__} of {module} is already registered by {elsewhere[0]}: a "
                             f"kernel's name enters keys without its module ({KEY_NAMESPACE}.{obj.__qualname__})")
        versions = _VERSIONS.setdefault(module, {})
        if obj.__qualname__ in versions and versions[obj.__qualname__] != version:
            raise ValueError(f"kernel {obj.__module__}.{obj.__qualname__} registered twice with versions "
                             f"{versions[obj.__qualname__]} and {version}")
        versions[obj.__qualname__] = version
        return obj

    return register


def kernels_of(module: str) -> dict[str, int]:
    """``{qualified name: version}`` of the kernels registered by ``module`` (``measure.metrics``; import it first)."""
    return dict(_VERSIONS.get(_module_name(module), {}))


def all_kernels() -> dict[str, int]:
    """``{name: version}`` of every kernel registered so far, whichever module holds it (import them first)."""
    return {name: version for kernels in _VERSIONS.values() for name, version in kernels.items()}


def key_print(name: str, version: int) -> str:
    """What kernel ``name`` at ``version`` contributes to a key: independent of the module that holds it."""
    return f"{KEY_SCHEME}|{KEY_NAMESPACE}.{name}|v{version}"
