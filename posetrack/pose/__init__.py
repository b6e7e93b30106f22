"""Top-down pose estimation: box layouts, crop regions, heatmap codec, flip test, OKS-NMS, estimator.

Public API (independently checked; see README):
    decode_heatmaps(heatmaps, centers, box_sizes, refine=True) -> (coords, scores)
    oks_nms(keypoints, scores, areas, threshold=0.9, soft=False) -> list[int]
    flip_heatmaps(heatmaps, flip_pairs, shift=True)
"""

from posetrack.pose.boxes import xywh_to_xyxy, xyxy_to_xywh
from posetrack.pose.codec import HeatmapCodec, decode_heatmaps
from posetrack.pose.crop import box_to_center_size, crop, get_affine_transform
from posetrack.pose.flip import flip_heatmaps, flip_keypoints
from posetrack.pose.keypoints import COCO_FLIP_PAIRS, COCO_KEYPOINTS, COCO_SIGMAS
from posetrack.pose.oks import oks_matrix, oks_nms, rescore_poses

__all__ = [
    "COCO_FLIP_PAIRS",
    "COCO_KEYPOINTS",
    "COCO_SIGMAS",
    "HeatmapCodec",
    "box_to_center_size",
    "crop",
    "decode_heatmaps",
    "flip_heatmaps",
    "flip_keypoints",
    "get_affine_transform",
    "oks_matrix",
    "oks_nms",
    "rescore_poses",
    "xywh_to_xyxy",
    "xyxy_to_xywh",
]
