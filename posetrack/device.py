"""Moving frames to the accelerator without stalling the pipeline.

Two helpers the GPU stages share (detect, flow, pose):

* :class:`PinnedUploader` copies host arrays into a reused page-locked (pinned) buffer and
  from there to the device asynchronously. Pinned memory is what lets a host->device copy
  run without blocking the CPU; allocating it per frame would cost more than the copy, so
  the buffer is kept and only regrown when a larger array comes.
* :func:`own_stream` runs a block on a CUDA stream owned by the calling thread. The graph
  runs each feed-forward stage (and the recurrent group) on its own thread, so every stage
  gets its own stream and their kernels can overlap on the GPU. Results leave the block as
  host arrays (``.cpu()`` waits on the thread's stream), so no tensor crosses streams.

On CPU both are no-ops: the upload is ``torch.from_numpy`` (no copy) and no stream exists.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

import numpy as np
import torch

_streams = threading.local()  # per thread: {device: torch.cuda.Stream}


@contextlib.contextmanager
def own_stream(device: torch.device | str) -> Iterator[None]:
    """Run the block on the calling thread's CUDA stream for ``device`` (no-op off CUDA)."""
    device = torch.device(device)
    if device.type != "cuda":
        yield
        return
    streams = getattr(_streams, "by_device", None)
    if streams is None:
        streams = _streams.by_device = {}
    if device not in streams:
        streams[device] = torch.cuda.Stream(device)
    with torch.cuda.stream(streams[device]):
        yield


class PinnedUploader:
    """Host arrays -> tensors on ``device``, through one reused pinned staging buffer on CUDA.

    ``uploader(array)`` returns a tensor of the array's shape and dtype on the device. On
    CUDA the copy is queued on the current stream and returns at once; the staging buffer is
    reused only after that copy has finished (an event guards it), so a caller may upload the
    next frame while kernels still read the previous one. Not thread-safe: one per stage.
    """

    def __init__(self, device: torch.device | str):
        self.device = torch.device(device)
        self._buffer: torch.Tensor | None = None  # flat uint8, pinned
        self._copied: torch.cuda.Event | None = None  # recorded after the last copy out of the buffer

    def __call__(self, array: np.ndarray) -> torch.Tensor:
        array = np.ascontiguousarray(array)
        host = torch.from_numpy(array)
        if self.device.type != "cuda":
            return host if self.device.type == "cpu" else host.to(self.device)
        if self._copied is not None:
            self._copied.synchronize()  # the previous copy may still be reading the buffer
        if self._buffer is None or self._buffer.numel() < array.nbytes:
            self._buffer = torch.empty(array.nbytes, dtype=torch.uint8, pin_memory=True)
        staged = self._buffer[: array.nbytes].view(host.dtype).view(host.shape)
        staged.copy_(host)
        out = staged.to(self.device, non_blocking=True)
        self._copied = torch.cuda.Event()
        self._copied.record()
        return out
