"""tools/bench_scaling.py: box layout, the grid, and one real tiny run (speed itself is not tested)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posetrack.track.stages.detections_file import load_coco_detections
from tools import bench_scaling


def _iou_matrix(boxes: np.ndarray) -> np.ndarray:
    x1 = np.maximum(boxes[:, None, 0], boxes[None, :, 0])
    y1 = np.maximum(boxes[:, None, 1], boxes[None, :, 1])
    x2 = np.minimum(boxes[:, None, 2], boxes[None, :, 2])
    y2 = np.minimum(boxes[:, None, 3], boxes[None, :, 3])
    return np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)


@pytest.mark.parametrize("n", [1, 2, 4, 8, 16, 40])
def test_person_boxes_inside_frame_apart_and_person_shaped(n: int) -> None:
    boxes = bench_scaling.person_boxes(n, 1280, 720, box_height=0.45)
    assert boxes.shape == (n, 4)
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 1280).all() and (boxes[:, 3] <= 720).all()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    np.testing.assert_allclose(w / h, 0.4, rtol=1e-5)
    overlap = _iou_matrix(boxes)
    np.fill_diagonal(overlap, 0)
    assert overlap.max() == 0
    if n <= 8:  # one row of 8 boxes 0.45 x 0.18 of the frame, 20 % apart, fits a 16:9 frame
        np.testing.assert_allclose(h, 0.45 * 720, rtol=1e-5)
    else:
        assert h.max() < 0.45 * 720


def test_detections_json_round_trips_through_the_detections_file_reader(tmp_path: Path) -> None:
    boxes = bench_scaling.person_boxes(3, 640, 360)
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(bench_scaling.detections_json(boxes, frames=2)))
    table = load_coco_detections(str(path))
    assert sorted(table) == [0, 1]
    for frame in (0, 1):
        np.testing.assert_allclose(table[frame][:, :4], boxes, atol=1e-3)
        np.testing.assert_allclose(table[frame][:, 4], 0.9)


def test_grid_shares_the_centre_point_or_spans_the_product() -> None:
    parser = bench_scaling.build_parser()
    args = parser.parse_args(["--people", "1,4", "--resolutions", "480p,720p", "--at-resolution", "720p",
                              "--at-people", "4"])
    assert bench_scaling.grid(args) == [((None, 480), 4), ((None, 720), 1), ((None, 720), 4)]
    args = parser.parse_args(["--people", "1,4", "--resolutions", "480p,640x360", "--full-grid"])
    assert bench_scaling.grid(args) == [((640, 360), 1), ((640, 360), 4), ((None, 480), 1), ((None, 480), 4)]
    args = parser.parse_args(["--resolutions", "720p,1280x720"])
    assert bench_scaling.grid(args) == [((None, 720), 1), ((None, 720), 2), ((None, 720), 4), ((None, 720), 8),
                                        ((1280, 720), 4)]
    assert bench_scaling.frame_size((None, 480), (1280, 720)) == (854, 480)


def test_main_runs_two_configs_with_exact_people_per_frame(capsys, shared_data: Path) -> None:
    common = ["--video", str(shared_data / "videos" / "video.avi"), "--arch", "hrnet_w8", "--input", "64x64",
              "--people", "1,2", "--resolutions", "96p", "--at-resolution", "96p", "--at-people", "2",
              "--frames", "3", "--warmup", "0", "--threads", "1"]
    assert bench_scaling.main([*common, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["device"] == "cpu" and report["arch"] == "hrnet_w8" and report["flip_test"] is True
    assert report["command"].startswith("python tools/bench_scaling.py --video ")
    rows = report["rows"]
    assert [(r["width"], r["height"], r["people"]) for r in rows] == [(170, 96, 1), (170, 96, 2)]
    for r in rows:
        assert r["frames"] == 3 and r["people_per_frame"] == r["people"]
        assert set(bench_scaling.STAGES) <= set(r["stage_ms"])
        recurrent = ("propagate", "pose", "associate", "smooth")
        assert r["thread_ms"]["+".join(recurrent)] == pytest.approx(sum(r["stage_ms"][s] for s in recurrent))
        assert r["bottleneck"] == max(r["thread_ms"], key=r["thread_ms"].get)
        assert r["pose_ms_per_person"] == pytest.approx(r["stage_ms"]["pose"] / r["people"])

    assert bench_scaling.main(common) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Command: `python tools/bench_scaling.py " + " ".join(common) + "`"
    assert lines[1].startswith("Device: cpu (") and "1 torch thread(s); load average [" in lines[1]
    table = [line for line in lines if line.startswith("| ")]
    assert table[0].startswith("| resolution | people/frame | FPS | decode ms | detect ms | flow ms |")
    assert [row.split(" | ")[:2] for row in table[1:]] == [["| 170x96", "1.0"], ["| 170x96", "2.0"]]


@pytest.mark.parametrize("argv, message", [
    (["--people", "0,2"], "expected positive integers separated by commas, got '0,2'"),
    (["--resolutions", "hd"], "resolution must look like 720p or 1280x720, got 'hd'"),
    (["--flow", "flownet2"], "--flow flownet2 needs --flow-checkpoint"),
    (["--frames", "2", "--warmup", "3"], "--warmup in [0, --frames]"),
    (["--video", "/nonexistent/clip.mp4"], "video not found: /nonexistent/clip.mp4"),
])
def test_bad_arguments_name_the_flag(capsys, argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exc:
        bench_scaling.main(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_tools_import_the_library_never_the_cli() -> None:
    import ast

    tools = Path(__file__).resolve().parents[1] / "tools"
    for path in sorted(tools.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not [n for n in names if n == "posetrack.cli" or n.startswith("posetrack.cli.")], path
