"""posetrack.device: pinned uploads and per-thread CUDA streams (CUDA parts run only where a GPU is)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from posetrack.device import PinnedUploader, own_stream

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_cpu_upload_is_zero_copy_with_shape_and_dtype():
    upload = PinnedUploader("cpu")
    frame = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    tensor = upload(frame)
    assert tensor.dtype == torch.uint8 and tuple(tensor.shape) == (2, 3, 3)
    frame[0, 0, 0] = 200  # shares memory: no copy on CPU
    assert tensor[0, 0, 0].item() == 200


def test_cpu_upload_makes_non_contiguous_input_contiguous():
    frame = np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2]
    assert torch.equal(PinnedUploader("cpu")(frame), torch.from_numpy(np.ascontiguousarray(frame)))


def test_own_stream_is_a_no_op_off_cuda():
    with own_stream("cpu"):
        assert torch.ones(2).sum().item() == 2.0


@cuda
def test_cuda_uploads_reuse_the_buffer_without_corrupting_earlier_frames():
    upload = PinnedUploader("cuda")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8) for _ in range(3)]
    small = rng.random((5, 4)).astype(np.float32)
    with own_stream("cuda"):
        tensors = [upload(f) for f in frames] + [upload(small)]
        host = [t.cpu().numpy() for t in tensors]
    for want, got in zip(frames + [small], host):
        np.testing.assert_array_equal(got, want)
    assert upload._buffer.is_pinned()


@cuda
def test_each_thread_gets_its_own_stream():
    seen = []

    def record():
        with own_stream("cuda"):
            seen.append(torch.cuda.current_stream())

    threads = [threading.Thread(target=record) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen[0] != seen[1] and torch.cuda.default_stream() not in seen
