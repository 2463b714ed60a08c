"""Single-threaded CPU work spread over the cores torch was given (``on_cores``).

Some of a frame's CPU work runs on one core however many torch has: OpenCV's DIS flow, kept
out of OpenCV's own thread pool (``streamdeblur.models.refine``). Independent calls of it run
here in threads at once (it releases the GIL). docs/BENCHMARKS.md ("CPU speed") has what it
saves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_size = 0  # the pool's threads; it is replaced by a bigger one when a caller needs more


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _size
    with _lock:
        if _pool is None or _size < workers:
            _pool, _size = ThreadPoolExecutor(workers, thread_name_prefix="streamdeblur-cores"), workers
        return _pool


def on_cores(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(item) for item in items]``, run in up to ``torch.get_num_threads()`` threads at
    once (in order when there is one thread or one item). The workers run under the caller's
    grad and inference modes (both are per thread in torch)."""
    workers = min(torch.get_num_threads(), len(items))
    if workers <= 1:
        return [fn(item) for item in items]
    grad, inference = torch.is_grad_enabled(), torch.is_inference_mode_enabled()

    def run(item: T) -> R:
        with torch.inference_mode(inference), torch.set_grad_enabled(grad):
            return fn(item)

    return list(_executor(workers).map(run, items))
