"""Evaluation: COCO keypoint AP (coco.py) and PoseTrack mAP/MOTA (posetrack.py)."""
