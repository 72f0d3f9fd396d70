"""glibc heap settings for worker processes.

Other C libraries are left as they are: nothing here runs where glibc is
not loaded.
"""

from __future__ import annotations

import ctypes

# glibc serves allocations below this size from its heaps and larger ones
# with mmap. Blob reads allocate 4 MiB chunks and Granian hands request
# bodies over in chunks of about 384 KiB, so both stay below it.
HEAP_ALLOCATION_LIMIT_BYTES = 8 * 1024 * 1024
# Free memory at the top of a heap beyond this size goes back to the system.
# NOTE: a worker still keeps 15 to 30 MB more after its first large pulls,
# which malloc_trim does not return, and the cause is not known yet.
HEAP_TRIM_THRESHOLD_BYTES = 8 * 1024 * 1024


def limit_heap_growth() -> None:
    """Keep blob buffers on glibc's heaps and bound what the heaps keep.

    A buffer taken with mmap costs a page fault per 4 KiB when it is first
    written, and a munmap when freed. At one buffer per chunk, that made
    blob pulls and pushes about a third slower. With glibc's dynamic
    threshold, though, the heaps keep every freed buffer of a thread's
    busiest moment, so a worker's resident size grows with its peak load.
    Fixed mmap and trim thresholds keep chunk buffers on the heaps and hand
    back free space beyond 8 MiB at a heap's top. Two arenas stop each
    worker thread from growing a heap of its own.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8
    libc.mallopt(m_mmap_threshold, HEAP_ALLOCATION_LIMIT_BYTES)
    libc.mallopt(m_trim_threshold, HEAP_TRIM_THRESHOLD_BYTES)
    libc.mallopt(m_arena_max, 2)
