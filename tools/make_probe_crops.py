"""Writes ``posetrack/models/assets/probe_people.png``: the real person crops `mode: auto` probes with.

Four people of OpenCV's sample clip ``vtest.avi`` (Apache-2.0 AND BSD-3-Clause, see
../shared/data/SOURCES.md), found by the HOG detector in frames 300 and 500 (its two best boxes
in each, leaving out a static false hit), cut as the official test crops them (aspect 3:4,
x1.25) at 128x96 and laid side by side: one 128x384 RGB PNG. The people are ~100 px tall in
the clip, so 128 px keeps all their detail; the probe resizes them to the model input.

    python tools/make_probe_crops.py [--video ../shared/data/videos/vtest.avi]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

FRAMES = (300, 500)
PER_FRAME = 2
CROP_WH = (96, 128)
OUT = Path(__file__).resolve().parents[1] / "posetrack" / "models" / "assets" / "probe_people.png"


def main() -> None:
    import av
    import cv2
    from torch import nn

    from posetrack.io.atomic import atomic_path
    from posetrack.pose.estimator import TopDownEstimator
    from posetrack.track.stages.hog_detector import HOGPersonDetector

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default=str(Path(__file__).resolve().parents[2] / "shared/data/videos/vtest.avi"))
    args = parser.parse_args()
    hog = HOGPersonDetector(score_threshold=1.0, min_height=864)
    cutter = TopDownEstimator(nn.Identity(), input_size=CROP_WH)  # only its official crop is used
    crops = []
    with av.open(args.video) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in FRAMES:
                image = frame.to_ndarray(format="rgb24")
                xywh, scores = hog(image)
                static = (xywh[:, 0] > 680) & (xywh[:, 1] < 60)  # a pole HOG fires on in every frame
                best = np.argsort(-np.where(static, -np.inf, scores), kind="stable")[:PER_FRAME]
                crops.extend(cutter.prepare(image, xywh[best]).crops)
            if index >= max(FRAMES):
                break
    with atomic_path(OUT, ".png") as tmp:
        cv2.imwrite(str(tmp), cv2.cvtColor(np.concatenate(crops, axis=1), cv2.COLOR_RGB2BGR))
    print(f"{len(crops)} crops -> {OUT}")


if __name__ == "__main__":
    main()
