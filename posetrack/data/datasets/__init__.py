"""Annotation readers: each turns one dataset format into ``PoseRecord`` s."""

from posetrack.data.datasets.coco import load_coco
from posetrack.data.datasets.mpii import load_mpii
from posetrack.data.datasets.posetrack import load_posetrack

__all__ = ["load_coco", "load_mpii", "load_posetrack"]
