"""Pause the cyclic garbage collector around bulk allocation.

Loading, verifying and compiling a large flow allocate hundreds of thousands of long-lived, acyclic objects;
every collection the allocations trigger rescans all of them, which makes the work superlinear (measured:
compile of 10,000 agents 7.3 s with the collector, 3.5 s without). Reference counting still frees garbage.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
