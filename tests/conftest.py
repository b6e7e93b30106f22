"""Shared fixtures: the real sample data that sits beside the checkout in ``../shared/data``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The suite's networks are tiny: one intra-op thread avoids OpenMP thrashing when the
    2-core CI box is busy (two threads ran ~30x slower than one under load)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real sample data not found at {SHARED_DATA} (expected ../shared/data beside the checkout)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def coco_sample(shared_data: Path) -> Path:
    return shared_data / "coco_sample"


@pytest.fixture(scope="session")
def posetrack18_sample(shared_data: Path) -> Path:
    return shared_data / "posetrack18_sample"
