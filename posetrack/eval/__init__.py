"""Evaluation: COCO keypoint AP (coco.py), PoseTrack mAP/MOTA (posetrack.py), PoseTrack21 keypoint HOTA (hota.py)."""
