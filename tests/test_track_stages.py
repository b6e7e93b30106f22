"""Each tracking stage alone: decode, detect, detections file, flow, propagate, pose, associate."""

from __future__ import annotations

import itertools
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from posetrack.io.image import read_image_rgb
from posetrack.models.checkpoint import CheckpointError
from posetrack.io.video import VideoError, VideoWriter, read_frames, read_video
from posetrack.track.stages.associate import PoseTracker, greedy_match
from posetrack.track.stages.decode import DecodeStage
from posetrack.track.stages.detect import DetectorWeightsError, DetectStage, detector_weights_path
from posetrack.track.stages.detections_file import DetectionsFileStage
from posetrack.track.stages.flow import FLOWNET2_THINGS_URL, FlowStage, FlowWeightsError, choose_flow_method
from posetrack.track.stages.pose import PoseStage
from posetrack.track.stages.propagate import PropagateStage, keypoint_boxes, merge_boxes, warp_keypoints
from posetrack.track.types import FlowField, Poses


@pytest.fixture(scope="module")
def frames_dir(shared_data) -> Path:
    return shared_data / "posetrack18_sample" / "videos" / "000001_mpiinew_test"


# ---- decode --------------------------------------------------------------------------


def test_decode_video_and_frame_folder(shared_data, frames_dir):
    video = list(read_video(frames_dir / "000001_mpiinew_test.mp4"))
    assert [f.index for f in video] == list(range(5))
    assert [f.pts for f in video] == pytest.approx([i / 30 for i in range(5)])
    assert video[0].image.shape == (720, 1280, 3) and video[0].image.dtype == np.uint8
    folder = list(DecodeStage(fps=10).frames(frames_dir))
    assert [v["name"] for _, v in folder] == [f"000001_mpiinew_test/{i:06d}.jpg" for i in range(10)]
    assert [pts for pts, _ in folder] == pytest.approx([i / 10 for i in range(10)])
    # other codecs/containers: MS-MPEG4 v3 in AVI (10 fps), H.264 + audio in AVI (50 fps)
    for name, size, fps in (("vtest.avi", (576, 768, 3), 10), ("video.avi", (720, 1280, 3), 50)):
        first = list(itertools.islice(read_video(shared_data / "videos" / name), 3))
        assert [f.image.shape for f in first] == [size] * 3
        assert [f.pts for f in first] == pytest.approx([0, 1 / fps, 2 / fps])
    # same content in the mp4 and the JPEGs (re-encoded: small mean difference)
    diff = np.abs(video[0].image.astype(int) - folder[0][1]["image"].astype(int)).mean()
    assert diff < 6


def _write_video(path: Path, images, pts=None, rotation=None, fps=10):
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.height, s.width = images[0].shape[:2]
        s.pix_fmt = "yuv420p"
        s.time_base = __import__("fractions").Fraction(1, 1000)
        if rotation:
            s.set_display_rotation(rotation)
        for i, img in enumerate(images):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = pts[i] if pts is not None else i * 1000 // fps
            frame.time_base = s.time_base
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def test_decode_variable_frame_rate_and_rotation(tmp_path):
    images = [np.full((32, 64, 3), 40 * i, np.uint8) for i in range(5)]
    for img in images:
        img[:, :32] = 255  # left half white
    _write_video(tmp_path / "vfr.mp4", images, pts=[0, 100, 300, 400, 700])  # gaps 0.1, 0.2, 0.1, 0.3 s
    assert [f.pts for f in read_video(tmp_path / "vfr.mp4")] == pytest.approx([0.0, 0.1, 0.3, 0.4, 0.7])
    _write_video(tmp_path / "rot.mp4", images, rotation=90)
    frame = next(read_video(tmp_path / "rot.mp4"))
    # 90 deg counter-clockwise display rotation: the left half ends at the bottom
    assert frame.image.shape == (64, 32, 3)
    assert frame.image[40:].mean() > 240 and frame.image[:24].mean() < 100


def test_decode_bad_videos_raise_naming_the_file(shared_data, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match=r"empty \(0 bytes\): .*empty.mp4"):
        list(read_video(empty))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 255, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoError, match="junk.mp4"):
        list(read_video(junk))
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes((shared_data / "videos" / "demo.mp4").read_bytes()[:60_000])
    with pytest.raises(VideoError, match="truncated.mp4"):
        list(read_video(truncated))


def test_decode_skips_unreadable_frames_with_a_warning(frames_dir, tmp_path, caplog):
    for name in ("000000.jpg", "000001.jpg", "000003.jpg"):
        shutil.copy(frames_dir / name, tmp_path / name)
    (tmp_path / "000002.jpg").write_bytes(b"not a jpeg")
    with caplog.at_level(logging.WARNING):
        frames = list(read_frames(tmp_path, fps=25))
    assert [f.name for f in frames] == ["000000.jpg", "000001.jpg", "000003.jpg"]
    assert [f.pts for f in frames] == pytest.approx([0, 0.04, 0.12])  # time slots kept
    assert "000002.jpg" in caplog.text


def test_video_writer_round_trip(tmp_path):
    images = [np.full((31, 47, 3), 20 * i, np.uint8) for i in range(6)]  # odd size gets padded
    with VideoWriter(tmp_path / "out.mp4", fps=12) as writer:
        for img in images:
            writer.write(img)
    back = list(read_video(tmp_path / "out.mp4"))
    assert len(back) == 6 and back[0].image.shape == (32, 48, 3)
    assert [f.pts for f in back] == pytest.approx([i / 12 for i in range(6)])
    assert abs(back[3].image[:31, :47].mean() - 60) < 3


# ---- detect ----------------------------------------------------------------------------


class _FakeRCNN:
    """torchvision detection output contract: per image boxes (N, 4), labels (N,), scores (N,)."""

    def __init__(self):
        self.sizes = []

    def __call__(self, images):
        self.sizes.append([tuple(im.shape) for im in images])
        return [{"boxes": torch.tensor([[1.0, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]),
                 "labels": torch.tensor([1, 3, 1]), "scores": torch.tensor([0.9, 0.95, 0.4])} for _ in images]


def test_detector_batches_frames_and_keeps_persons_above_threshold(frames_dir):
    stage = DetectStage(score_threshold=0.5)
    stage.model = _FakeRCNN()
    image = read_image_rgb(frames_dir / "000000.jpg")
    out = stage.process_batch([{"image": image}, {"image": image[::2, ::2].copy()}])
    assert stage.model.sizes == [[(3, 720, 1280), (3, 360, 640)]]  # one call, CHW float per frame
    for res in out:  # the car (label 3) and the 0.4 person are dropped
        np.testing.assert_allclose(res["detections"], [[1, 2, 3, 4, 0.9]])
        assert res["detections"].dtype == np.float32


def test_detector_precision_autocasts_the_backbone_only(tmp_path, monkeypatch):
    from posetrack.track.stages.detect import AutocastBackbone

    class Body(torch.nn.Module):
        out_channels = 4

        def forward(self, x):
            self.autocast = torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu")
            return {"0": torch.nn.functional.conv2d(x, torch.ones(4, 3, 1, 1))}

    backbone = AutocastBackbone(Body(), "cpu", "bf16")
    features = backbone(torch.full((1, 3, 2, 2), 0.5))
    assert backbone.body.autocast == torch.bfloat16 and backbone.out_channels == 4
    assert features["0"].dtype == torch.float32 and features["0"].flatten().tolist() == [1.5] * 16
    assert not torch.is_autocast_enabled("cpu")  # the heads after it run in fp32

    from torchvision.models.detection import fasterrcnn_resnet50_fpn

    state = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91).state_dict()
    monkeypatch.setattr("posetrack.models.checkpoint.read_checkpoint_object", lambda path: state)
    for precision, wrapped in (("fp32", False), ("bf16", True)):
        stage = DetectStage(precision=precision, weights=str(tmp_path / "w.pth"))
        stage._load_frcnn(tmp_path / "w.pth")
        assert isinstance(stage.model.backbone, AutocastBackbone) == wrapped
    with pytest.raises(ValueError, match="detect precision fp16 needs a CUDA device, got cpu"):
        DetectStage(precision="fp16")


def test_detector_rejects_a_file_that_is_not_its_state_dict(tmp_path):
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    stage = DetectStage(weights=str(tmp_path / "other.pth"), min_size=160, max_size=256)
    with pytest.raises(DetectorWeightsError, match="other.pth is not a fasterrcnn_resnet50_fpn state_dict"):
        stage.open()
    (tmp_path / "garbage.pth").write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="garbage.pth: not a readable PyTorch checkpoint"):
        DetectStage(weights=str(tmp_path / "garbage.pth")).open()


def test_detector_weights_missing_or_offline_say_where_to_put_them(tmp_path, monkeypatch):
    with pytest.raises(DetectorWeightsError, match="detector weights not found: .*nope.pth"):
        detector_weights_path(str(tmp_path / "nope.pth"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(*a, **k):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(DetectorWeightsError) as err:
        detector_weights_path(None)
    msg = str(err.value)
    assert "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth" in msg and str(tmp_path / "hub" / "checkpoints") in msg
    assert "--detector-weights" in msg


def test_detections_file_matching_rule(tmp_path):
    dets = [
        {"image_id": 0, "bbox": [10, 20, 30, 40], "score": 0.9, "category_id": 1},
        {"image_id": 0, "bbox": [0, 0, 5, 5], "score": 0.2, "category_id": 1},
        {"image_id": 0, "bbox": [0, 0, 9, 9], "score": 0.9, "category_id": 3},  # a car: dropped
        {"image_id": "clip/000001.jpg", "bbox": [1, 2, 3, 4], "score": 0.5, "category_id": 1},
        {"image_id": "000002", "bbox": [5, 5, 10, 10], "score": 0.7},
    ]
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(dets))
    stage = DetectionsFileStage(path=str(path), score_threshold=0.3)
    stage.open()
    np.testing.assert_allclose(stage.process(0, "clip/000000.jpg")["detections"], [[10, 20, 40, 60, 0.9]])
    np.testing.assert_allclose(stage.process(1, "clip/000001.jpg")["detections"], [[1, 2, 4, 6, 0.5]])
    np.testing.assert_allclose(stage.process(2, "other/000002.jpg")["detections"], [[5, 5, 15, 15, 0.7]])
    assert stage.process(3, "clip/000003.jpg")["detections"].shape == (0, 5)
    path.write_text('{"not": "a list"}')
    with pytest.raises(ValueError, match="COCO results list"):
        DetectionsFileStage(path=str(path)).open()


def test_detections_file_posetrack_ids_stay_in_their_video(tmp_path, caplog):
    path = tmp_path / "dets.json"
    path.write_text(json.dumps([{"image_id": 10128340001, "bbox": [1, 2, 3, 4], "score": 0.5},
                                {"image_id": "000001_mpiinew_test/000000.jpg", "bbox": [0, 0, 8, 8], "score": 0.6}]))
    stage = DetectionsFileStage(path=str(path), video_keys_only=True)  # both keys name their video: accepted
    stage.open()
    np.testing.assert_allclose(stage.process(1, "012834_mpii_test/000001.jpg")["detections"], [[1, 2, 4, 6, 0.5]])
    assert stage.process(0, "012834_mpii_test/000000.jpg")["detections"].shape == (0, 5)
    with caplog.at_level(logging.WARNING, "posetrack.track.stages.detections_file"):
        stage.reset()  # next video: the one above matched, no warning
        for i in range(3):  # same frame number in another video: not its boxes
            assert stage.process(i + 1, f"015301_mpii_test/{i + 1:06d}.jpg")["detections"].shape == (0, 5)
        stage.close()
    (record,) = caplog.records
    assert "none of the 3 frames of 015301_mpii_test matched an image_id of" in record.getMessage()
    path.write_text(json.dumps([{"image_id": 3, "bbox": [1, 2, 3, 4]}, {"image_id": "000003.jpg", "bbox": [1, 2, 3, 4]}]))
    with pytest.raises(ValueError, match=r"dets.json: with several inputs every image_id must name its video.*"
                                         r"2 do not \(e.g. \[3, '000003.jpg'\]\)"):
        DetectionsFileStage(path=str(path), video_keys_only=True).open()
    path.write_text(json.dumps([{"image_id": None, "bbox": [1, 2, 3, 4]}]))
    with pytest.raises(ValueError, match="entry 0 .*image_id None is neither an integer nor a string"):
        DetectionsFileStage(path=str(path)).open()


# ---- flow + propagate ------------------------------------------------------------------


def _shifted_pair(frames_dir, dx=5, dy=3):
    image = read_image_rgb(frames_dir / "000000.jpg")[200:520, 300:780]  # textured 320x480 crop
    moved = np.zeros_like(image)
    moved[dy:, dx:] = image[:-dy, :-dx]  # content moves right by dx, down by dy
    return image, moved


def test_dis_flow_propagates_a_known_translation(frames_dir):
    first, second = _shifted_pair(frames_dir)
    stage = FlowStage(method="dis", scale=1.0)
    stage.open()
    assert stage.used == "dis"
    assert stage.process(first)["flow"] is None  # first frame of a video
    flow = stage.process(second)["flow"]
    assert flow.vectors.shape == (320, 480, 2)
    grid = np.stack(np.meshgrid(np.arange(60, 420, 40), np.arange(60, 260, 40)), -1).reshape(-1, 2)
    keypoints = np.concatenate([grid, np.ones((len(grid), 1))], 1)[None].astype(np.float32)
    moved = warp_keypoints(keypoints, flow)
    np.testing.assert_allclose(moved[0, :, :2] - grid, np.tile([5, 3], (len(grid), 1)), atol=0.5)
    stage.reset()
    assert stage.process(second)["flow"] is None


def test_dis_flow_at_half_resolution_is_in_full_resolution_pixels(frames_dir):
    first, second = _shifted_pair(frames_dir, dx=8, dy=4)
    stage = FlowStage(method="dis", scale=0.5)
    stage.open()
    out = stage.process_batch([{"image": first}, {"image": second}])
    flow = out[1]["flow"]
    assert out[0]["flow"] is None and flow.vectors.shape == (160, 240, 2) and flow.scale == 0.5
    np.testing.assert_allclose(np.median(flow.sample(np.array([[200.0, 150.0], [300, 100], [150, 200]])), 0),
                               [8, 4], atol=0.6)


class _ConstantFlowNet(torch.nn.Module):
    """Stands in for FlowNet2: checks the input ptlflow models get, returns flow (1.5, -2)."""

    def forward(self, inputs):
        images = inputs["images"]
        assert images.ndim == 5 and images.shape[1:3] == (2, 3) and images.dtype == torch.float32
        assert 0 <= images.min() and images.max() <= 1
        b, _, _, h, w = images.shape
        flow = torch.empty(b, 1, 2, h, w)
        flow[:, :, 0], flow[:, :, 1] = 1.5, -2.0
        return {"flows": flow}


def test_flownet2_adapter_batches_pairs_at_reduced_resolution(monkeypatch):
    stage = FlowStage(method="flownet2", checkpoint=None, scale=0.5)
    monkeypatch.setattr(stage, "_load_network", lambda: _ConstantFlowNet())
    stage.open()
    assert stage.used == "flownet2"
    frames = [np.random.default_rng(i).integers(0, 255, (90, 140, 3), dtype=np.uint8) for i in range(3)]
    out = stage.process_batch([{"image": f} for f in frames])
    assert out[0]["flow"] is None
    for res in out[1:]:
        assert res["flow"].vectors.shape == (45, 70, 2)  # half resolution
        np.testing.assert_allclose(res["flow"].vectors[10, 10], [3.0, -4.0])  # scaled to full-res px


def test_flownet2_real_model_builds_and_runs_on_a_tiny_pair(monkeypatch):
    import ptlflow
    from ptlflow.models.flownet.flownet2 import FlowNet2

    assert FLOWNET2_THINGS_URL == FlowNet2.pretrained_checkpoints["things"]

    stage = FlowStage(method="flownet2", scale=1.0)
    monkeypatch.setattr(stage, "_load_network", lambda: ptlflow.get_model("flownet2"))  # random weights
    stage.open()
    a = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    out = stage.process_batch([{"image": a}, {"image": a}])
    assert out[1]["flow"].vectors.shape == (64, 64, 2) and np.isfinite(out[1]["flow"].vectors).all()


def test_flow_method_choice_and_missing_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    assert choose_flow_method("auto", None) == "dis"
    assert choose_flow_method("auto", "x.ckpt") == "flownet2"
    assert choose_flow_method("dis", "x.ckpt") == "dis"
    stage = FlowStage(method="flownet2", checkpoint=str(tmp_path / "missing.ckpt"))
    with pytest.raises(FlowWeightsError, match="missing.ckpt"):
        stage.open()


def test_keypoint_boxes_enlarge_and_box_nms_exact():
    kpts = np.array([[[10, 20, 0.9], [30, 60, 0.8], [500, 500, 0.0]]], np.float32)
    np.testing.assert_allclose(keypoint_boxes(kpts, enlarge=0.15, min_joint_score=0.1),
                               [[20 - 11.5, 40 - 23, 20 + 11.5, 40 + 23]])
    dets = np.array([[0, 0, 10, 10, 0.9], [100, 100, 120, 120, 0.3]], np.float32)
    prop = np.array([[1, 1, 11, 11, 0.5], [100, 100, 120, 121, 0.6], [50, 50, 60, 60, 0.1]], np.float32)
    merged = merge_boxes(dets, prop, iou_threshold=0.5)
    np.testing.assert_allclose(merged, [[0, 0, 10, 10, 0.9], [100, 100, 120, 121, 0.6], [50, 50, 60, 60, 0.1]])
    assert merge_boxes(np.zeros((0, 5)), np.zeros((0, 5)), 0.5).shape == (0, 5)


def test_propagate_stage_moves_last_tracks_with_the_flow():
    flow = FlowField(np.tile(np.array([5.0, 3.0], np.float32), (100, 100, 1)), scale=1.0)
    kpts = np.array([[[10, 10, 0.9], [30, 50, 0.9]], [[60, 60, 0.9], [80, 90, 0.9]]], np.float32)
    tracks = Poses(kpts, np.array([0.8, 0.1], np.float32), np.zeros((2, 4), np.float32), np.array([3, 4]))
    stage = PropagateStage(enlarge=0.0, nms_threshold=0.5, min_score=0.3)
    dets = np.array([[100, 100, 150, 150, 0.95]], np.float32)
    boxes = stage.process(dets, flow, tracks)["boxes"]
    np.testing.assert_allclose(boxes, [[100, 100, 150, 150, 0.95], [15, 13, 35, 53, 0.8]])
    np.testing.assert_allclose(stage.process(dets, None, tracks)["boxes"], dets)  # no flow: detections only


# ---- pose ------------------------------------------------------------------------------


def test_pose_stage_estimates_every_box_in_image_space(frames_dir, tmp_path):
    from posetrack.models import build_model

    torch.manual_seed(0)
    torch.save(build_model("hrnet_w8").state_dict(), tmp_path / "w8.pth")
    stage = PoseStage(weights=str(tmp_path / "w8.pth"), arch="hrnet_w8", flip_test=True)
    stage.open()
    image = read_image_rgb(frames_dir / "000000.jpg")
    boxes = np.array([[500, 200, 650, 500, 0.9], [100, 100, 200, 300, 0.6]], np.float32)
    poses = stage.process(image, boxes)["poses"]
    assert poses.keypoints.shape == (2, 17, 3) and poses.scores.shape == (2,)
    np.testing.assert_array_equal(poses.boxes, boxes[:, :4])
    # keypoints fall inside each box's crop region (box padded to 3:4, x1.25)
    for (x1, y1, x2, y2, _), person in zip(boxes, poses.keypoints):
        cx, cy, h = (x1 + x2) / 2, (y1 + y2) / 2, max(y2 - y1, (x2 - x1) * 4 / 3) * 1.25
        assert np.all(np.abs(person[:, 0] - cx) <= h * 3 / 8 + 1) and np.all(np.abs(person[:, 1] - cy) <= h / 2 + 1)
    assert stage.process(image, np.zeros((0, 5), np.float32))["poses"].keypoints.shape == (0, 17, 3)
    # boxes under 1 px wide or high (a track with one usable joint) give no phantom pose
    degenerate = np.array([[300, 300, 300, 400, 0.95], [10, 10, 10.5, 90, 0.95], [10, 10, 90, 10.2, 0.95]],
                          np.float32)
    kept = stage.process(image, np.concatenate([degenerate[:1], boxes, degenerate[1:]]))["poses"]
    np.testing.assert_array_equal(kept.boxes, boxes[:, :4])
    np.testing.assert_allclose(kept.keypoints, poses.keypoints, rtol=1e-5, atol=1e-3)
    assert stage.process(image, degenerate)["poses"].keypoints.shape == (0, 17, 3)


@pytest.mark.parametrize("name, given, arch, size, said", [
    ("pose_hrnet_w48_384x288.pth", {}, "hrnet_w48", (288, 384), "arch hrnet_w48 (from the file name), input 288x384"),
    ("finetuned.pth", {}, "hrnet_w32", (192, 256), "arch hrnet_w32 (default), input 192x256 (width x height, default)"),
    ("pose_hrnet_w32_256x192.pth", {"arch": "hrnet_w8"}, "hrnet_w8", (192, 256), "input 192x256"),
    ("x.pth", {"arch": "hrnet_w8", "input_size": (96, 128)}, "hrnet_w8", (96, 128), None),
])
def test_pose_weights_path_says_what_it_assumes(tmp_path, caplog, name, given, arch, size, said):
    from posetrack.models.weights import resolve_weights

    (tmp_path / name).write_bytes(b"")
    with caplog.at_level(logging.WARNING, "posetrack.models.weights"):
        choice = resolve_weights(str(tmp_path / name), **given)
    assert (choice.arch, choice.input_size, choice.file, choice.keypoints) == (arch, size, str(tmp_path / name), "coco")
    if said is None:
        assert not caplog.records
    else:
        (record,) = caplog.records
        assert said in record.getMessage() and "--model" in record.getMessage()
        assert "--set pose.input_size=[W,H]" in record.getMessage()


def test_pose_stage_missing_weights_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"pose weights not found: .*none.pth.*hrnet_w32_coco_256x192"):
        PoseStage(weights=str(tmp_path / "none.pth")).open()


# ---- associate -------------------------------------------------------------------------


def test_greedy_match_takes_highest_similarity_first():
    sim = np.array([[0.9, 0.8, 0.0], [0.85, 0.1, 0.0], [0.0, 0.0, 0.2]])
    # greedy, not optimal: (0, 0) = 0.9 goes first although (0, 1) + (1, 0) would sum higher
    assert greedy_match(sim, 0.05) == [(0, 0), (2, 2), (1, 1)]
    assert greedy_match(sim, 0.3) == [(0, 0)]  # (2, 2) = 0.2 and (1, 1) = 0.1 are below the threshold
    assert greedy_match(np.zeros((0, 3)), 0.3) == []


def _person(x, y, k=17):
    rng = np.random.default_rng(int(x * 7 + y))
    pts = np.stack([x + rng.uniform(0, 40, k), y + rng.uniform(0, 120, k), np.full(k, 0.9)], 1)
    return pts.astype(np.float32)


def _poses(people):
    kpts = np.stack(people) if people else np.zeros((0, 17, 3), np.float32)
    boxes = np.array([[p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()] for p in kpts], np.float32)
    return Poses(kpts, np.full(len(kpts), 0.9, np.float32), boxes.reshape(-1, 4))


def test_tracker_follows_people_across_order_changes_gaps_and_new_arrivals():
    a, b = _person(100, 100), _person(400, 120)
    tracker = PoseTracker(oks_threshold=0.3, max_lost=2)
    assert tracker.update(_poses([a, b])).track_ids.tolist() == [0, 1]
    shift = np.array([6, 2, 0], np.float32)
    assert tracker.update(_poses([b + shift, a + shift])).track_ids.tolist() == [1, 0]  # order swapped
    c = _person(700, 300)
    assert tracker.update(_poses([c, a + 2 * shift])).track_ids.tolist() == [2, 0]  # b lost (1 frame)
    assert tracker.update(_poses([b + 2 * shift, a + 2 * shift])).track_ids.tolist() == [1, 0]  # b back
    for _ in range(3):  # b gone longer than max_lost
        tracker.update(_poses([a]))
    assert tracker.update(_poses([b, a])).track_ids.tolist() == [3, 0]
    tracker.reset()
    assert tracker.update(_poses([b])).track_ids.tolist() == [0]
    other = PoseTracker()
    assert other.update(_poses([a])).track_ids.tolist() == [0]  # no shared id counter


def test_tracker_uses_flow_to_match_fast_motion():
    a, b = _person(100, 100), _person(150, 100)
    jump = np.array([45, 0, 0], np.float32)
    flow = FlowField(np.tile(np.array([45.0, 0.0], np.float32), (600, 900, 1)))
    with_flow, without = PoseTracker(), PoseTracker()
    for tracker in (with_flow, without):
        tracker.update(_poses([a, b]))
    assert with_flow.update(_poses([a + jump, b + jump]), flow).track_ids.tolist() == [0, 1]
    assert without.update(_poses([a + jump, b + jump])).track_ids.tolist() != [0, 1]


# ---- render ----------------------------------------------------------------------------


def test_render_draws_each_track_in_its_own_colour():
    from posetrack.io.render import draw_poses, track_color

    image = np.zeros((400, 800, 3), np.uint8)  # lines 2 px thick at this size
    kpts = np.zeros((2, 17, 3), np.float32)
    kpts[0, 5], kpts[0, 6] = (20, 50, 0.9), (60, 50, 0.9)  # shoulders of track 7: one limb
    kpts[1, 5], kpts[1, 6] = (120, 50, 0.9), (160, 50, 0.1)  # track 8: second joint below min_score
    out = draw_poses(image, kpts, np.array([7, 8]), min_score=0.2)
    assert image.sum() == 0  # the input is not modified
    assert tuple(out[50, 40]) == track_color(7)  # on the 5-6 limb
    assert tuple(out[50, 120]) == track_color(8) and out[50, 140].sum() == 0  # no limb to a weak joint
    assert track_color(7) != track_color(8)


def test_pose_mode_reaches_the_network_runner_and_a_bad_label_is_a_config_error(tmp_path):
    from posetrack.config import ConfigError
    from posetrack.models import build_model
    from posetrack.track.pipeline import build_graph, load_pipeline

    torch.save(build_model("hrnet_w8").state_dict(), tmp_path / "w8.pth")
    stage = PoseStage(weights=str(tmp_path / "w8.pth"), arch="hrnet_w8", mode="fp32+cl")
    stage.open()
    assert stage.estimator.runner.mode.channels_last and stage.estimator.runner.mode.precision == "fp32"
    assert not stage.estimator.crops_on_device  # auto on CPU: cv2
    stage = PoseStage(weights=str(tmp_path / "w8.pth"), arch="hrnet_w8", crops_on="device")
    stage.open()
    assert stage.estimator.crops_on_device
    with pytest.raises(ConfigError, match=r"nodes\[4\] \(pose\)\.params: bad inference mode 'fp33'"):
        build_graph(load_pipeline(), {"pose": {"mode": "fp33"}})
    with pytest.raises(ConfigError, match=r"nodes\[4\] \(pose\)\.params: inference precision fp16 needs a CUDA"):
        build_graph(load_pipeline(), {"pose": {"mode": "fp16+cl"}})  # refused before any model loads
    with pytest.raises(ConfigError, match=r"nodes\[2\] \(flow\)\.params: flow scale must be in \(0, 1\], got 2"):
        build_graph(load_pipeline(), {"flow": {"scale": 2.0}})
