"""flow.method: ptlflow's fast networks beside FlowNet2 (registry URLs, cache, offline error, real models)."""

from __future__ import annotations

import typing
import urllib.error

import numpy as np
import pytest
import torch

from posetrack.track.stages.flow import FLOW_NETWORKS, FlowParams, FlowStage, FlowWeightsError, checkpoint_cache_path

ptlflow = pytest.importorskip("ptlflow")


def test_methods_and_urls_are_ptlflows():
    assert set(typing.get_args(typing.get_type_hints(FlowParams)["method"])) == {"auto", "dis", *FLOW_NETWORKS}
    for method, url in FLOW_NETWORKS.items():
        assert ptlflow.get_model_reference(method).pretrained_checkpoints["things"] == url


def _pair() -> list[dict]:
    rng = np.random.default_rng(0)
    first = rng.integers(0, 255, (128, 160, 3), dtype=np.uint8)  # fastflownet's pyramid needs >= ~128 px
    return [{"image": first}, {"image": np.roll(first, 2, axis=1)}]


@pytest.mark.parametrize("method", sorted(set(FLOW_NETWORKS) - {"flownet2"}))  # flownet2: test_track_stages
def test_network_builds_and_runs_on_a_tiny_pair(monkeypatch, method):
    stage = FlowStage(method=method, scale=1.0)
    monkeypatch.setattr(stage, "_load_network", lambda: ptlflow.get_model(method))  # random weights
    stage.open()
    out = stage.process_batch(_pair())
    assert stage.used == method and out[0]["flow"] is None
    assert out[1]["flow"].vectors.shape == (128, 160, 2) and np.isfinite(out[1]["flow"].vectors).all()


def test_non_finite_flow_is_an_error(monkeypatch):
    torch.manual_seed(0)
    stage = FlowStage(method="fastflownet", scale=1.0)
    monkeypatch.setattr(stage, "_load_network", lambda: ptlflow.get_model("fastflownet"))
    stage.open()
    small = [{"image": item["image"][:64, :96]} for item in _pair()]
    with pytest.raises(ValueError, match=r"fastflownet gave non-finite flow for \(64, 96\) px frames"):
        stage.process_batch(small)


def test_cached_checkpoint_is_loaded_without_download(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    reference = ptlflow.get_model("rapidflow_it1")
    path = checkpoint_cache_path("rapidflow_it1")
    assert path == tmp_path / "hub" / "checkpoints" / "rapidflow-things-0377c8fa.ckpt"
    path.parent.mkdir(parents=True)
    torch.save({"state_dict": reference.state_dict()}, path)

    def no_download(*args, **kwargs):
        raise AssertionError("downloaded although the checkpoint is cached")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    stage = FlowStage(method="rapidflow_it1", scale=1.0)
    stage.open()
    for name, value in stage._net.state_dict().items():
        torch.testing.assert_close(value, reference.state_dict()[name])
    assert np.isfinite(stage.process_batch(_pair())[1]["flow"].vectors).all()


@pytest.mark.parametrize("method", ["rapidflow", "neuflow2"])
def test_offline_error_names_the_url_and_the_cache_path(tmp_path, monkeypatch, method):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(url, dst, *args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(FlowWeightsError) as err:
        FlowStage(method=method).open()
    message = str(err.value)
    assert f"{method} weights unavailable (URLError" in message
    assert f"Download {FLOW_NETWORKS[method]} and put it at {checkpoint_cache_path(method)}" in message
    assert "--flow-checkpoint PATH" in message and "--flow dis" in message
    assert not any((tmp_path / "hub").rglob("*.ckpt"))  # nothing half-downloaded left behind
