"""Training throughput: optimisation steps/s of the model alone, and the data pipeline alone.

The two are measured separately so it is visible which one bounds training:
``bench_train_step`` runs forward + loss + backward + Adam on synthetic tensors already
on the device; ``bench_data_loading`` runs the real augmentation pipeline
(decode, half-body, scale/rotation, flip, affine crop, targets) through a DataLoader
with the given workers and pinned memory, without the model.

``bench_train`` runs both for a model name and a COCO keypoint set, as ``posetrack bench train``.
"""

from __future__ import annotations

import time
from typing import Sequence

import torch
from torch.utils.data import DataLoader

from posetrack.bench.timing import time_forward
from posetrack.data.dataset import TopDownDataset
from posetrack.data.records import PoseRecord
from posetrack.data.transforms import train_pipeline
from posetrack.pose.codec import HeatmapCodec
from posetrack.train.loss import JointsMSELoss

__all__ = ["bench_data_loading", "bench_train", "bench_train_step"]


def bench_train_step(model: torch.nn.Module, *, input_size: Sequence[int], batch_size: int, iters: int,
                     warmup: int, device: torch.device, amp: bool = False,
                     channels_last: bool = False) -> dict[str, float]:
    """Images/s of full training steps (Adam, JointsMSELoss, AMP+GradScaler if ``amp`` on CUDA).

    ``input_size`` = (width, height). Returns {"images_per_s", "step_ms", "batch_size"}.
    """
    w, h = input_size
    model = model.to(device).train()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    amp = amp and device.type == "cuda"
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    criterion = JointsMSELoss()
    x = torch.randn(batch_size, 3, h, w, device=device).contiguous(memory_format=fmt)
    with torch.no_grad():
        k = model(x[:1]).shape[1]
    target = torch.rand(batch_size, k, h // 4, w // 4, device=device)
    weight = torch.ones(batch_size, k, 1, device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            out = model(x)
        loss = criterion(out.float(), target, weight)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    seconds = time_forward(step, device, iters, warmup)
    return {"images_per_s": batch_size / seconds, "step_ms": 1000 * seconds, "batch_size": batch_size}


def bench_data_loading(records: Sequence[PoseRecord], *, codec: HeatmapCodec, flip_pairs: Sequence[Sequence[int]],
                       upper_body: Sequence[int], batch_size: int, batches: int, workers: int,
                       pin_memory: bool) -> dict[str, float]:
    """Images/s the training pipeline delivers (the first batch, worker start-up, is excluded).

    Records are cycled (new epoch = new augmentation) until ``batches`` + 1 batches are out.
    """
    dataset = TopDownDataset(records, train_pipeline(codec=codec, flip_pairs=flip_pairs, upper_body=upper_body))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers, pin_memory=pin_memory,
                        drop_last=False, persistent_workers=workers > 0)
    seen, start, epoch = 0, None, 0
    while True:
        dataset.set_epoch(epoch)
        for batch in loader:
            if start is None:  # after the first batch: workers are up
                start = time.perf_counter()
                continue
            seen += len(batch["input"])
            if seen >= batches * batch_size:
                seconds = time.perf_counter() - start
                return {"images_per_s": seen / seconds, "workers": workers, "pin_memory": pin_memory}
        epoch += 1


def bench_train(model: str = "hrnet_w32", *, input_hw: tuple[int, int] = (256, 192), batch_size: int = 32,
                iters: int = 5, warmup: int = 2, device: torch.device | str | None = None, amp: bool = True,
                channels_last: bool = False, ann: str | None = None, images: str | None = None,
                workers: Sequence[int] = (0, 2)) -> dict:
    """Model steps of ``model`` (a ``build_model`` name) at ``input_hw`` (height, width) and, with
    ``ann`` + ``images`` (a COCO keypoint file and its image folder), the data loading per worker count.

    ``device`` None: CUDA when available; ``amp`` applies on CUDA only. Returns ``{"model", "input",
    "device", "torch_threads", "train_step": {"amp", "images_per_s", "step_ms", "batch_size"},
    "data_loading": [{"images_per_s", "workers", "pin_memory"}, ...]}`` (no ``data_loading`` without ``ann``).
    """
    from posetrack.data.datasets import load_coco
    from posetrack.errors import InputError
    from posetrack.models import build_model
    from posetrack.pose.keypoints import COCO_FLIP_PAIRS
    from posetrack.train.builder import UPPER_BODY_17

    if iters <= 0 or warmup < 0 or batch_size <= 0:
        raise InputError(f"iters and batch_size must be positive, warmup non-negative; got {iters}, {batch_size}, "
                         f"{warmup}")
    if bool(ann) != bool(images):
        raise InputError("ann and images go together (a COCO keypoint file and its image folder)")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    h, w = input_hw
    result: dict = {"model": model, "input": f"{h}x{w}", "device": str(device),
                    "torch_threads": torch.get_num_threads()}
    amp = amp and device.type == "cuda"
    result["train_step"] = {"amp": amp, **bench_train_step(
        build_model(model), input_size=(w, h), batch_size=batch_size, iters=iters,
        warmup=warmup, device=device, amp=amp, channels_last=channels_last)}
    if ann:
        records = load_coco(ann, images, aspect_ratio=w / h)
        codec = HeatmapCodec((w, h), (w // 4, h // 4), 2.0 if h <= 256 else 3.0)
        result["data_loading"] = [
            bench_data_loading(records, codec=codec, flip_pairs=COCO_FLIP_PAIRS, upper_body=UPPER_BODY_17,
                               batch_size=batch_size, batches=iters, workers=n, pin_memory=device.type == "cuda")
            for n in workers
        ]
    return result
