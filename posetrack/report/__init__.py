"""HTML reports of tracking runs: per-track statistics (numpy) and one offline page per video.

``write_report(out_dir, video)`` writes ``OUT_DIR/report/<video>.html``; ``write_run_facts``
records what a ``posetrack track`` run used (``OUT_DIR/run/<video>.json``) for the report.
"""

from posetrack.report.build import report_data, tracked_videos, write_report
from posetrack.report.data import TrackedVideo, TrackStats, load_tracked_video, track_stats
from posetrack.report.facts import NoticeRecorder, RunRecorder, graph_facts, read_run_facts, write_run_facts

__all__ = ["NoticeRecorder", "RunRecorder", "TrackStats", "TrackedVideo", "graph_facts", "load_tracked_video", "read_run_facts",
           "report_data", "track_stats", "tracked_videos", "write_report", "write_run_facts"]
