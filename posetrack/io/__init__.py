"""Reading and writing files: atomic outputs, videos, PoseTrack/COCO formats."""
