"""posetrack: video in, tracked skeletons out (HRNet + FlowTrack)."""

__version__ = "0.1.0"
