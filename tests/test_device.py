"""posetrack.device: pinned uploads and per-thread CUDA streams (CUDA parts run only where a GPU is)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from posetrack.device import PinnedUploader, StageStream

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


def test_stage_stream_off_cuda_makes_no_stream():
    stream = StageStream("cpu")
    with stream:
        pass
    assert stream._stream is None


@cuda
def test_cuda_uploads_reuse_the_buffer_without_corrupting_earlier_frames():
    upload = PinnedUploader("cuda")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8) for _ in range(3)]
    small = rng.random((5, 4)).astype(np.float32)
    with StageStream("cuda"):
        tensors = [upload(f) for f in frames] + [upload(small)]
        host = [t.cpu().numpy() for t in tensors]
    for want, got in zip(frames + [small], host):
        np.testing.assert_array_equal(got, want)
    assert upload._buffer.is_pinned()


@cuda
def test_a_stage_keeps_one_stream_across_threads_and_stages_differ():
    first, second = StageStream("cuda"), StageStream("cuda")
    seen = []

    def record(stage_stream):
        with stage_stream:
            seen.append(torch.cuda.current_stream())

    for stage_stream in (first, first, second):  # a new thread per video, as the graph does
        thread = threading.Thread(target=record, args=(stage_stream,))
        thread.start()
        thread.join()
    assert seen[0] == seen[1] != seen[2] and torch.cuda.default_stream() not in seen
    assert torch.cuda.current_stream() == torch.cuda.default_stream()  # restored on exit
