"""Tracking stages, one per file; ``STAGES`` maps the names used in ``pipelines/*.yaml`` to classes.

Each class has a frozen ``Params`` dataclass (the ``params:`` of its pipeline node).
"""

from posetrack.track.stages.associate import AssociateStage
from posetrack.track.stages.decode import DecodeStage
from posetrack.track.stages.detect import DetectStage
from posetrack.track.stages.detections_file import DetectionsFileStage
from posetrack.track.stages.flow import FlowStage
from posetrack.track.stages.pose import PoseAheadStage, PoseStage
from posetrack.track.stages.poses_file import PosesFileStage
from posetrack.track.stages.propagate import PropagateStage
from posetrack.track.stages.smooth import SmoothStage

STAGES = {
    "decode": DecodeStage,
    "detect": DetectStage,
    "detections_file": DetectionsFileStage,
    "flow": FlowStage,
    "propagate": PropagateStage,
    "pose_ahead": PoseAheadStage,
    "pose": PoseStage,
    "associate": AssociateStage,
    "poses_file": PosesFileStage,
    "smooth": SmoothStage,
}
