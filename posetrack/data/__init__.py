"""Training data: annotation readers -> ``PoseRecord`` -> transform pipeline -> tensors."""

from posetrack.data.dataset import TopDownDataset
from posetrack.data.datasets import load_coco, load_mpii, load_posetrack
from posetrack.data.records import DatasetError, PoseRecord
from posetrack.data.transforms import Compose, eval_pipeline, train_pipeline

__all__ = [
    "Compose", "DatasetError", "PoseRecord", "TopDownDataset",
    "eval_pipeline", "load_coco", "load_mpii", "load_posetrack", "train_pipeline",
]
