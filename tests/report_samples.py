"""Small PoseTrack 2018 videos with hand-computable values, for the report tests."""

from __future__ import annotations

import json
from pathlib import Path

from posetrack.io.posetrack_json import PT17_TO_PT18, PT18_CATEGORY

VIDEO = "000001_mpiinew_test"


def person(track_id: int, x0: float, y0: float, joint_score: float | None = 0.5, score: float = 0.9,
           bbox: list[float] | None = None, head: bool = False) -> dict:
    """A PoseTrack-2018 annotation: the 15 evaluated slots at (x0 + 10 j, y0 + 5 j), ears absent."""
    kps, scores = [0.0] * 51, [0.0] * 17
    for j in PT17_TO_PT18.tolist():
        kps[3 * j:3 * j + 3] = [x0 + 10 * j, y0 + 5 * j, 1]
        scores[j] = joint_score if joint_score is not None else 0.0
    ann = {"track_id": track_id, "keypoints": kps, "score": score,
           "bbox": bbox if bbox is not None else [x0, y0, 160, 80], "category_id": 1}
    if joint_score is not None:
        ann["scores"] = scores
    if head:
        ann["bbox_head"] = [x0, y0, 30, 30]
    return ann


def video_file(path: Path, frames: list[list[dict]]) -> Path:
    images, anns = [], []
    for t, people in enumerate(frames):
        image_id = 10000010000 + t
        images.append({"file_name": f"images/val/{VIDEO}/{t:06d}.jpg", "id": image_id, "frame_id": image_id,
                       "vid_id": "000001", "nframes": len(frames), "is_labeled": bool(people)})
        for a in people:
            anns.append({**a, "image_id": image_id, "id": len(anns)})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [PT18_CATEGORY]}))
    return path


def gt_and_prediction(root: Path) -> tuple[Path, Path]:
    """A: track 0, B: track 1, C: a GT-only person. Frame 1: C missed; frame 2: B not in GT (false
    positive, lowest score); frame 3: predicted ids swapped; frame 4: no GT people (not scored)."""
    a, b, c = (100, 100), (400, 100), (800, 400)
    gt = [[person(0, *a, head=True), person(1, *b, head=True)],
          [person(0, *a, head=True), person(1, *b, head=True), person(2, *c, head=True)],
          [person(0, *a, head=True)],
          [person(0, *a, head=True), person(1, *b, head=True)],
          []]
    pred = [[person(0, *a, 0.9), person(1, *b, 0.8)],
            [person(0, *a, 0.9), person(1, *b, 0.8)],
            [person(0, *a, 0.9), person(1, *b, 0.1)],
            [person(1, *a, 0.9), person(0, *b, 0.8)],
            [person(0, *a, 0.9)]]
    return (video_file(root / "gt" / f"{VIDEO}.json", gt),
            video_file(root / "out" / "posetrack" / f"{VIDEO}.json", pred))
