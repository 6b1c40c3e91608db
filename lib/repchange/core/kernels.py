"""Kernels: the functions whose values stored results depend on, each with a version.

A stored table's key names the code that computed it (:func:`repchange.core.store.code_version`). For most modules
that is a fingerprint of their definitions, so any edit re-keys. A module of *kernels* (``core.metrics``) is keyed by
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

__all__ = ["GOLDEN_RTOL", "KEY_SCHEME", "kernel", "kernels_of"]

F = TypeVar("F", bound=Callable)

GOLDEN_RTOL = 1e-9  # another CPU's float order moves these kernels' float64 values by far less (make bench [11])
KEY_SCHEME = "kernels-1"  # how a kernel module enters a key; a change of scheme is migrated, never silent
_VERSIONS: dict[str, dict[str, int]] = {}


def _module_name(module: str) -> str:
    """``core.metrics`` for ``repchange.core.metrics``."""
    return module.removeprefix("repchange.")


def kernel(version: int) -> Callable[[F], F]:
    """Register the decorated function or class as a kernel of its module at ``version`` (a positive integer; raise
    it whenever the kernel's values change). Returns the object unchanged."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"a kernel's version must be a positive integer, got {version!r}")

    def register(obj: F) -> F:
        versions = _VERSIONS.setdefault(_module_name(obj.__module__), {})
        if obj.__qualname__ in versions and versions[obj.__qualname__] != version:
            raise ValueError(f"kernel {obj.__module__}.{obj.__qualname__} registered twice with versions "
                             f"{versions[obj.__qualname__]} and {version}")
        versions[obj.__qualname__] = version
        return obj

    return register


def kernels_of(module: str) -> dict[str, int]:
    """``{qualified name: version}`` of the kernels registered by ``module`` (``core.metrics``; import it first)."""
    return dict(_VERSIONS.get(_module_name(module), {}))
