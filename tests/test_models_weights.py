"""Pretrained registry: download with hash check into a cache, overrides, offline errors.

A local HTTP server on 127.0.0.1 serves checkpoints the tests create.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import re
import socket
import threading
from pathlib import Path

import pytest
import torch

from posetrack.models import build_model, load_checkpoint
from posetrack.models import weights as W
from posetrack.models.weights import Weights, WeightsError, get_weights, list_weights


@pytest.fixture()
def served(tmp_path: Path):
    """(server root, base URL, hit counter) for an HTTP server on 127.0.0.1."""
    root = tmp_path / "www"
    root.mkdir()
    hits: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server API)
            hits.append(self.path)
            super().do_GET()

        def log_message(self, *args):  # keep test output quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/", hits
    finally:
        server.shutdown()
        server.server_close()


def _checkpoint(root: Path, stem: str) -> tuple[Path, str]:
    torch.manual_seed(0)
    path = root / "tmp.pth"
    torch.save(build_model("hrnet_w8").state_dict(), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    final = root / f"{stem}-{digest[:8]}_20260101.pth"
    path.rename(final)
    return final, digest


def _record(url: str, sha256: str) -> Weights:
    return Weights(name="test_w8", url=url, sha256=sha256, arch="hrnet_w8", num_joints=17,
                   input_size=(192, 256), dataset="coco")


def test_download_then_cache_hit(served, tmp_path: Path) -> None:
    root, base, hits = served
    file, digest = _checkpoint(root, "w8_coco")
    rec = _record(base + file.name, digest[:8])
    cache = tmp_path / "hub" / "checkpoints"
    got = rec.fetch(cache_dir=cache, progress=False)
    assert got == cache / file.name
    assert got.read_bytes() == file.read_bytes()
    assert hits == ["/" + file.name]
    assert rec.fetch(cache_dir=cache, progress=False) == got  # cache hit: no second request
    assert hits == ["/" + file.name]
    assert [p.name for p in cache.iterdir()] == [file.name]  # no temporary files left
    model = build_model("hrnet_w8")
    assert load_checkpoint(model, got).loaded_keys == len(model.state_dict())


def test_full_sha256_is_accepted(served, tmp_path: Path) -> None:
    root, base, _ = served
    file, digest = _checkpoint(root, "w8_full")
    assert _record(base + file.name, digest).fetch(cache_dir=tmp_path / "c", progress=False).is_file()


def test_hash_mismatch_leaves_nothing_in_cache(served, tmp_path: Path) -> None:
    root, base, _ = served
    file, digest = _checkpoint(root, "w8_bad")
    wrong = "0" * 8 if not digest.startswith("0" * 8) else "f" * 8
    cache = tmp_path / "cache"
    with pytest.raises(WeightsError, match=rf"SHA-256 {digest} does not match 'test_w8' \(expected prefix {wrong}\)"):
        _record(base + file.name, wrong).fetch(cache_dir=cache, progress=False)
    assert list(cache.iterdir()) == []


def test_file_url(tmp_path: Path) -> None:
    file, digest = _checkpoint(tmp_path, "w8_file")
    got = _record(file.as_uri(), digest[:8]).fetch(cache_dir=tmp_path / "cache", progress=False)
    assert got.read_bytes() == file.read_bytes()


def test_offline_error_says_which_url_and_where_to_put_the_file(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/w8_coco-abcdef12_20260101.pth"
    cache = tmp_path / "cache"
    with pytest.raises(WeightsError) as info:
        _record(url, "abcdef12").fetch(cache_dir=cache, progress=False, timeout=5)
    msg = str(info.value)
    assert f"could not download {url}" in msg
    assert f"put it at {cache / 'w8_coco-abcdef12_20260101.pth'}" in msg
    assert "POSETRACK_WEIGHTS_DIR" in msg and "--weights PATH" in msg


def test_local_overrides_are_hash_checked(tmp_path: Path, monkeypatch) -> None:
    file, digest = _checkpoint(tmp_path, "w8_local")
    rec = _record("https://example.invalid/" + file.name, digest[:8])
    assert rec.fetch(file) == file
    monkeypatch.setenv(W.WEIGHTS_DIR_ENV, str(tmp_path))
    assert rec.fetch(cache_dir=tmp_path / "never") == file
    other = _record(rec.url, "deadbeef")
    with pytest.raises(WeightsError, match=re.escape(f"{file}: SHA-256 {digest}")):
        other.fetch(file)


def test_load_checkpoint_by_registered_name(tmp_path: Path, monkeypatch) -> None:
    file, digest = _checkpoint(tmp_path, "w8_named")
    monkeypatch.setitem(W._REGISTRY, "test_w8", _record("https://example.invalid/" + file.name, digest[:8]))
    monkeypatch.setenv(W.WEIGHTS_DIR_ENV, str(tmp_path))
    model = build_model("hrnet_w8")
    report = load_checkpoint(model, "test_w8")
    assert report.path == file and report.complete


def test_registry_records() -> None:
    names = list_weights()
    assert {"hrnet_w32_coco_256x192", "hrnet_w32_coco_384x288", "hrnet_w48_coco_256x192",
            "hrnet_w48_coco_384x288", "hrnet_w48_posetrack18_384x288"} <= set(names)
    assert [n for n in names if get_weights(n).bundled] == [W.DEMO_WEIGHTS]  # the offline fallback, no URL
    for name in (n for n in names if n != W.DEMO_WEIGHTS):
        rec = get_weights(name)
        assert rec.url.startswith("https://download.openmmlab.com/mmpose/top_down/hrnet/")
        # The published file name carries the sha256 prefix (torch.hub convention).
        assert re.fullmatch(rf"{name}-{rec.sha256}_\d{{8}}\.pth", rec.filename)
        assert rec.arch in ("hrnet_w32", "hrnet_w48") and rec.num_joints == 17
        assert rec.input_size == ((192, 256) if "256x192" in name else (288, 384))
    assert get_weights("hrnet_w32_coco_256x192").sha256 == "c78dce93"
    with pytest.raises(ValueError, match="unknown weights 'nope'"):
        get_weights("nope")


def test_records_carry_what_inference_needs() -> None:
    from posetrack.pose.keypoints import COCO_FLIP_PAIRS, POSETRACK18_FLIP_PAIRS

    for name in list_weights():
        rec = get_weights(name)
        assert (rec.mean, rec.std) == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))  # ImageNet, RGB
        wanted = "posetrack18" if "posetrack18" in name else "coco"
        assert rec.keypoints == wanted
        assert rec.flip_pairs == (POSETRACK18_FLIP_PAIRS if wanted == "posetrack18" else COCO_FLIP_PAIRS)
    with pytest.raises(ValueError, match="keypoints must be one of"):
        Weights(name="x", url="https://example.invalid/x.pth", sha256="0" * 8, arch="hrnet_w8", num_joints=17,
                input_size=(64, 64), dataset="coco", keypoints="mpii")
    with pytest.raises(ValueError, match="at most one of url, bundled and file"):
        Weights(name="x", url="https://example.invalid/x.pth", sha256="0" * 8, arch="hrnet_w8", num_joints=17,
                input_size=(64, 64), dataset="coco", file="x.pth")


def test_resolve_weights_checks_a_registered_name_against_what_is_asked() -> None:
    rec = W.resolve_weights("hrnet_w48_posetrack18_384x288", arch="hrnet_w48", input_size=(288, 384),
                            keypoints="posetrack18", num_joints=17)
    assert rec is get_weights("hrnet_w48_posetrack18_384x288")
    with pytest.raises(ValueError) as exc:
        W.resolve_weights("hrnet_w48_coco_384x288", arch="hrnet_w8", input_size=(192, 256), num_joints=17)
    assert str(exc.value) == ("weights hrnet_w48_coco_384x288 are hrnet_w48 288x384 (width x height), 17 coco joints; "
                              "asked for arch hrnet_w8, input_size 192x256")
    with pytest.raises(FileNotFoundError, match="pose weights not found: nope.pth .not a file, nor a registered name"):
        W.resolve_weights("nope.pth")


def test_a_file_record_fetches_and_loads_its_file(tmp_path: Path) -> None:
    file, _ = _checkpoint(tmp_path, "pose_hrnet_w8_64x32")
    rec = W.resolve_weights(file, arch="hrnet_w8", keypoints="posetrack18")
    assert (rec.name, rec.file, rec.arch, rec.input_size, rec.keypoints, rec.num_joints) == \
        (str(file), str(file), "hrnet_w8", (32, 64), "posetrack18", 17)  # HxW from the file name
    assert rec.fetch() == file
    torch.testing.assert_close(rec.load_model().state_dict(), torch.load(file))
    in_memory = Weights(name="run", url="", sha256="", arch="hrnet_w8", num_joints=17, input_size=(64, 64), dataset="")
    with pytest.raises(WeightsError, match="'run' describe a network in memory: there is no file to fetch"):
        in_memory.fetch()
