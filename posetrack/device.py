"""Moving frames to the accelerator without stalling the pipeline.

Two helpers the GPU stages share (detect, flow, pose):

* :class:`PinnedUploader` copies host arrays into a reused page-locked (pinned) buffer and
  from there to the device asynchronously. Pinned memory is what lets a host->device copy
  run without blocking the CPU; allocating it per frame would cost more than the copy, so
  the buffer is kept and only regrown when a larger array comes.
* :class:`StageStream` runs a block on a CUDA stream owned by one stage. Detect, flow and
  pose each hold one, so their kernels can overlap on the GPU. The stream is made once per
  stage, not per thread: the graph starts new threads for every video, and the caching
  allocator keeps freed blocks per stream, so per-thread streams would grow reserved memory
  video after video. Results leave the block as host arrays (``.cpu()`` waits on that
  stream), so no tensor crosses streams.

On CPU both are no-ops: the upload is ``torch.from_numpy`` (no copy) and no stream exists.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch


class StageStream:
    """``with stream:`` runs the block on this object's own CUDA stream of ``device``
    (created at first use); off CUDA it does nothing. One per stage; used from one thread at a time."""

    def __init__(self, device: torch.device | str):
        self.device = torch.device(device)
        self._stream: torch.cuda.Stream | None = None
        self._context: contextlib.AbstractContextManager | None = None

    def __enter__(self) -> "StageStream":
        if self.device.type == "cuda":
            if self._stream is None:
                self._stream = torch.cuda.Stream(self.device)
            self._context = torch.cuda.stream(self._stream)
            self._context.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._context is not None:
            context, self._context = self._context, None
            context.__exit__(*exc)


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
        self._copied.record(torch.cuda.current_stream(self.device))  # the stream the copy went to
        return out
