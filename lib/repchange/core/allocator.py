"""Keep freed memory in the process instead of handing it back to the kernel (glibc on Linux).

glibc's malloc serves a block above its mmap threshold (128 KiB at start, raised as blocks are freed)
with a fresh ``mmap`` and returns it with ``munmap`` when freed, and it trims the heap's free top back
to the kernel above its trim threshold. PyTorch's CPU tensors come from malloc, so a training step or
a metric that allocates and frees the same few-megabyte activations every step page-faults them in
again each time: conv4's training spent 17 % of its CPU time in the kernel (465,000 minor faults in
two epochs of 2,048 images), 4 % with the thresholds below. :func:`keep_freed_memory` sets a fixed
mmap threshold of 32 MiB (glibc's ceiling for it; larger blocks still come and go by ``mmap``) and a
trim threshold of 1 GiB, through ``mallopt`` at run time. The numbers computed do not change (the
allocator hands out the same bytes, only from a different place); resident memory may stay up to the
trim threshold above what is live. ``REPCHANGE_KEEP_FREED_MEMORY=0`` leaves glibc's defaults.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory"]

MMAP_THRESHOLD = 32 * 2**20  # bytes: blocks below come from the heap and are reused after free
TRIM_THRESHOLD = 2**30  # bytes of free heap top kept before any is returned to the kernel
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)
_done: list[bool] = []


def keep_freed_memory() -> bool:
    """Set the thresholds above in this process (once); True where they are in force (glibc, not switched off)."""
    if _done:
        return _done[0]
    enabled = os.environ.get("REPCHANGE_KEEP_FREED_MEMORY", "1") != "0" and sys.platform.startswith("linux")
    if enabled:
        try:
            libc = ctypes.CDLL("libc.so.6")
            enabled = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
                bool(libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
        except (OSError, AttributeError):  # not glibc (musl, macOS): its own allocator, left alone
            enabled = False
    _done.append(enabled)
    return enabled
