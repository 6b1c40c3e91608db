"""Keep freed memory in the process instead of handing it back to the kernel (glibc on Linux).

glibc's malloc serves a block above its mmap threshold (128 KiB at start, raised as blocks are freed, at
most 32 MiB) with a fresh ``mmap`` and returns it with ``munmap`` when freed, and it trims the heap's free
top back to the kernel above its trim threshold. PyTorch's CPU tensors come from malloc, so code that
allocates and frees the same activations again and again page-faults them in (and the kernel zeroes each
page) every time: conv4's training spent 17-22 % of its CPU time in the kernel, and the conv4 tables' feature
extraction (500 probe images at once: activations of 50-100 MB, above any mmap threshold) kept 00_metrics
at 20 % (4.8 million minor faults in 48 s).

:func:`keep_freed_memory` sets, through ``mallopt`` at run time, one of (``REPCHANGE_KEEP_FREED_MEMORY``):

- ``all`` (default): no block from ``mmap`` (``M_MMAP_MAX`` 0): every block comes from the heap, and a freed
  block is reused by later ones; a trim threshold of 1 GiB. 00_metrics: 0.10x the page faults,
  system time 20 % -> 8 % of its CPU, 0.84x the wall time, 1.17x the peak resident memory.
- ``small``: a fixed mmap threshold of 32 MiB (glibc's ceiling for it) and the same trim threshold: blocks
  below 32 MiB are reused, larger ones still come and go by ``mmap``.
- ``0``: glibc's defaults.

The numbers computed do not change (the allocator hands out the same bytes, only from another place).
What may change is resident memory: freed blocks stay in the process for reuse instead of going back to
the kernel (up to the trim threshold at the heap's top, and any free block inside the heap). Never trimming
(``M_TRIM_THRESHOLD`` -1; ``mallopt`` takes a C ``int``, so no threshold above 2 GiB can be set) was measured
and left out: the 224-pixel nets of the rehearsal free more than 1 GiB at the heap's top every step, which a
1 GiB threshold returns and faults in again (b1_feature_dynamics 182.5 s wall and 84.6 s system time; never
trimmed 159.4 s and 52.8 s), but then every worker holds its peak while idle, and a fresh-clone ``make test``
on a 23 GiB machine was killed for memory (one worker at 15.1 GB beside the other).
The price is resident memory, measured: PyTorch asks for 64-byte-aligned blocks (``posix_memalign``), which glibc
serves from a slightly larger free block, so a freed block cannot serve a request of its own size again and a
loop that makes and frees one large block keeps several freed copies before they merge (one 95 MiB block made
30 times: 0.78 GB kept; 1.1 GiB: 7.0 GB; glibc's defaults keep none, each is mapped afresh). Real workloads mix
sizes and reuse far more: the default book's peak 2.03 -> 2.29 GB, the rehearsal's b1 (three 224-pixel nets)
9.8 -> 14.8 GB. A user's own models are measured in their process (:mod:`repchange.tool`), which this module
leaves alone. ``REPCHANGE_KEEP_FREED_MEMORY=0`` gives the memory back at the cost of the page faults.
Threads' own arenas still fall back to ``mmap`` for blocks their heaps cannot hold (glibc does so whatever
``M_MMAP_MAX`` says), so ``all`` never makes an allocation fail that glibc's defaults would serve.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["MMAP_THRESHOLD", "MODES", "TRIM_THRESHOLD", "keep_freed_memory", "mode"]

MMAP_THRESHOLD = 32 * 2**20  # bytes: in mode "small", blocks below come from the heap and are reused after free
TRIM_THRESHOLD = 2**30  # bytes of free heap top kept before any is returned to the kernel (see above: not -1)
MODES = ("all", "small", "0")
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4  # mallopt's parameter numbers (malloc.h)
_done: list[bool] = []


def mode() -> str:
    """``REPCHANGE_KEEP_FREED_MEMORY`` (default ``all``; ``1`` means ``all``); ValueError naming the variable
    and its values for anything else."""
    value = os.environ.get("REPCHANGE_KEEP_FREED_MEMORY", "all").strip().lower()
    value = "all" if value == "1" else value
    if value not in MODES:
        raise ValueError(f"REPCHANGE_KEEP_FREED_MEMORY={value!r}: use 'all' (every freed block kept for reuse, the "
                         "default), 'small' (blocks below 32 MiB kept) or '0' (glibc's defaults)")
    return value


def keep_freed_memory() -> bool:
    """Set the thresholds of :func:`mode` in this process (once); True where they are in force (glibc, not
    switched off)."""
    if _done:
        return _done[0]
    chosen = mode()
    enabled = chosen != "0" and sys.platform.startswith("linux")
    if enabled:
        try:
            libc = ctypes.CDLL("libc.so.6")
            enabled = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
                bool(libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
            if enabled and chosen == "all":
                enabled = bool(libc.mallopt(_M_MMAP_MAX, 0))
        except (OSError, AttributeError):  # not glibc (musl, macOS): its own allocator, left alone
            enabled = False
    _done.append(enabled)
    return enabled
