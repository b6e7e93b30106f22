"""Frame-stream graph: wiring checks, order, batching, feedback, clean stops, bounded memory, pipeline files."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from posetrack.config import ConfigError
from posetrack.track.graph import Graph, GraphError, Node, PipelineConfig, Source, Stage
from posetrack.track.pipeline import build_graph, load_pipeline, replace_stage

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"


class Counter(Source):
    outputs = ("value", "image")

    def __init__(self, n: int, shape=(1,)):
        self.n, self.shape = n, shape
        self.produced = 0

    def frames(self, source):
        for i in range(self.n):
            self.produced = i + 1
            yield i / 10.0, {"value": i, "image": np.full(self.shape, i % 251, np.uint8)}


class Double(Stage):
    inputs = ("value",)
    outputs = ("double",)

    def __init__(self):
        self.batches: list[int] = []

    def process_batch(self, batch):
        self.batches.append(len(batch))
        return [{"double": 2 * b["value"]} for b in batch]

    def process(self, value):
        return self.process_batch([{"value": value}])[0]


class RunningSum(Stage):
    """Recurrent: total(t) = total(t-1) + double(t), reading total(t-1) through feedback."""

    inputs = ("double", "index")
    feedback = ("total",)
    outputs = ("total",)
    recurrent = True

    def __init__(self):
        self.opened = self.closed = self.resets = 0

    def open(self):
        self.opened += 1

    def reset(self):
        self.resets += 1

    def close(self):
        self.closed += 1

    def process(self, double, index, total=None):
        return {"total": (total or 0) + double}


class Boom(Stage):
    inputs = ("value",)
    outputs = ("nothing",)

    def __init__(self, at: int):
        self.at = at

    def process(self, value):
        if value == self.at:
            raise ValueError("bad value")
        return {"nothing": None}


def graph_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("graph-")]


def nodes(*stages, batch=1, in_flight=4):
    return [Node(type(s).__name__.lower(), s, max_in_flight=in_flight,
                 batch_size=batch if isinstance(s, Double) else 1) for s in stages]


def test_order_batching_and_feedback_are_exact():
    double, total = Double(), RunningSum()
    graph = Graph(nodes(Counter(10), double, total, batch=4))
    with graph:
        packets = list(graph.run("x"))
        again = list(graph.run("x"))
    assert [p.index for p in packets] == list(range(10))
    assert [p.pts for p in packets] == [i / 10.0 for i in range(10)]
    assert [p.streams["total"] for p in packets] == [i * (i + 1) for i in range(10)]  # sum of 2i
    assert [p.streams["total"] for p in again] == [i * (i + 1) for i in range(10)]  # feedback restarts per run
    assert double.batches[:3] == [4, 4, 2]  # batches of 4, the tail flushed at end of stream
    assert (total.opened, total.resets, total.closed) == (1, 2, 1)
    assert set(graph.stage_ms()) == {"counter", "double", "runningsum"}


@pytest.mark.parametrize("build, message", [
    (lambda: [Node("d", Double())], "first node must be a source"),
    (lambda: [Node("c", Counter(1)), Node("s", RunningSum())], "needs stream 'double'"),
    (lambda: [Node("c", Counter(1)), Node("d", Double()), Node("d2", Double())], "already produced by 'd'"),
    (lambda: [Node("c", Counter(1)), Node("d", Double()), Node("s", RunningSum(), batch_size=2)], "recurrent"),
    (lambda: [Node("c", Counter(1)), Node("d", Double(), max_in_flight=2, batch_size=4)],
     "batch_size 4 > max_in_flight 2"),
    (lambda: [Node("c", Counter(1)), Node("d", Double(), streams={"nope": "x"})], "unknown port"),
    (lambda: [Node("c", Counter(1)), Node("x", Counter(1))], "source can only be the first"),
])
def test_wiring_is_checked_before_any_frame(build, message):
    with pytest.raises(GraphError, match=message):
        Graph(build())


def test_feedback_needs_a_recurrent_producer_behind_it():
    class ReadsFuture(Stage):
        inputs = ("value",)
        feedback = ("double",)
        outputs = ("y",)
        recurrent = True

    with pytest.raises(GraphError, match="feedback stream 'double'"):
        Graph([Node("c", Counter(1)), Node("d", Double()), Node("r", ReadsFuture())])


def test_stream_renames_let_a_stage_read_another_stream():
    graph = Graph([Node("c", Counter(3)), Node("d", Double(), streams={"value": "index"})])
    with graph:
        assert [p.streams["double"] for p in graph.run(None)] == [0, 2, 4]


def test_stage_error_names_stage_and_frame_and_joins_all_threads():
    graph = Graph(nodes(Counter(1000), Double(), Boom(7), batch=1))
    got = []
    with graph, pytest.raises(GraphError, match=r"stage 'boom' failed at frame 7: ValueError: bad value"):
        for packet in graph.run("x"):
            got.append(packet.index)
    assert got == list(range(len(got))) and len(got) <= 7  # frames before the error, in order
    assert not graph_threads()


def test_source_error_is_reported_as_the_source_stage():
    class Broken(Counter):
        def frames(self, source):
            yield from super().frames(source)
            raise OSError("disk gone")

    graph = Graph([Node("decode", Broken(3)), Node("d", Double())])
    with graph, pytest.raises(GraphError, match=r"stage 'decode' failed at frame 3: OSError: disk gone"):
        list(graph.run("x"))


class DropsOne(Double):
    """A batching stage with a bug: one result short for every batch."""

    def process_batch(self, batch):
        return super().process_batch(batch)[:-1]


class LosesImage(Counter):
    def frames(self, source):
        for pts, values in super().frames(source):
            if values["value"] == 2:
                del values["image"]
            yield pts, values


@pytest.mark.timeout(30)  # these used to hang run() forever
@pytest.mark.parametrize("build, message", [
    (lambda: [Node("c", Counter(20)), Node("d", DropsOne(), batch_size=4), Node("s", RunningSum())],
     r"stage 'd' failed at frames 0-3: GraphError: returned 3 result\(s\) for 4 frame\(s\)"),
    (lambda: [Node("decode", LosesImage(5)), Node("d", Double())],
     r"stage 'decode' failed at frame 2: GraphError: did not return output\(s\) \['image'\]"),
])
def test_wrong_result_count_or_missing_source_output_stops_the_graph(build, message):
    graph = Graph(build())
    with graph, pytest.raises(GraphError, match=message):
        list(graph.run("x"))
    assert not graph_threads()


def test_close_closes_every_stage_and_raises_the_first_error():
    class BadClose(RunningSum):
        def close(self):
            super().close()
            raise OSError(f"cannot release {self.label}")

    first, second, fine = BadClose(), BadClose(), RunningSum()
    first.label, second.label = "first", "second"
    graph = Graph([Node("c", Counter(1)), Node("d", Double()), Node("a", fine), Node("b", second, streams={"total": "t2"}),
                   Node("z", first, streams={"total": "t3"})])
    graph.open()
    with pytest.raises(OSError, match="cannot release first"):  # closed last-opened first
        graph.close()
    assert (first.closed, second.closed, fine.closed) == (1, 1, 1)
    with pytest.raises(KeyError, match="in the block"), graph:  # close errors do not hide the block's
        raise KeyError("in the block")
    assert (first.closed, second.closed, fine.closed) == (2, 2, 2)


def test_consumer_stopping_early_ends_the_workers():
    graph = Graph(nodes(Counter(10_000), Double()))
    with graph:
        for packet in graph.run("x"):
            if packet.index == 5:
                assert len(graph_threads()) == 2  # source + double, still running
                break
    assert not graph_threads()


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def test_long_stream_keeps_memory_and_look_ahead_bounded():
    """3000 frames of 256 KB (750 MB if anything kept them): RSS and look-ahead stay bounded."""
    source = Counter(3000, shape=(256, 340, 3))
    in_flight = 4
    graph = Graph(nodes(source, Double(), RunningSum(), batch=2, in_flight=in_flight), output_in_flight=2)
    ahead = []
    with graph:
        for packet in graph.run("x"):
            if packet.index == 200:
                rss_start = _rss_bytes()
            ahead.append(source.produced - packet.index)
    rss_growth = _rss_bytes() - rss_start
    # frames past the one being consumed: out queue 2 + sum thread 1 + queue 4 + double's batch 2
    # + queue 4 + one blocked in the source = 14, and ``produced`` counts one more
    assert max(ahead) <= 2 + 1 + in_flight + 2 + in_flight + 1 + 1
    assert rss_growth < 40 * 2**20


def test_pipeline_files_load_and_wire(tmp_path):
    cfg = load_pipeline(PIPELINES / "flowtrack.yaml")
    assert [n.stage for n in cfg.nodes] == ["decode", "detect", "flow", "propagate", "pose", "associate", "smooth"]
    graph = build_graph(cfg, {"*": {"device": "cpu"}, "pose": {"flip_test": False}})
    assert [n.name for n in graph.nodes] == ["decode", "detect", "flow", "propagate", "pose", "associate", "smooth"]
    assert graph.nodes[1].batch_size == 4 and graph.nodes[1].max_in_flight == 8
    assert graph.nodes[4].stage.params.flip_test is False
    detect_only = build_graph(load_pipeline(PIPELINES / "detect_only.yaml"))
    assert [n.name for n in detect_only.nodes] == ["decode", "detect", "pose", "associate", "smooth"]
    dets = tmp_path / "d.json"
    dets.write_text("[]")
    swapped = build_graph(replace_stage(cfg, "detect", "detections_file", {"path": str(dets)}))
    assert type(swapped.nodes[1].stage).__name__ == "DetectionsFileStage" and swapped.nodes[1].name == "detect"


def test_pipeline_typos_are_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes:\n  - stage: decode\n    max_inflight: 3\n")
    with pytest.raises(ConfigError, match="unknown key.*max_inflight"):
        load_pipeline(bad)
    cfg = PipelineConfig(nodes=load_pipeline(PIPELINES / "flowtrack.yaml").nodes)
    with pytest.raises(ConfigError, match=r"nodes\[5\] \(associate\)\.params.*oks_treshold"):
        build_graph(cfg, {"associate": {"oks_treshold": 0.5}})
    with pytest.raises(ConfigError, match=r"stage\(s\) \['flow'\] that the pipeline does not have"):
        build_graph(load_pipeline(PIPELINES / "detect_only.yaml"), {"flow": {"method": "dis"}})
    bad.write_text("nodes:\n  - stage: decode\n  - stage: detector\n")
    with pytest.raises(ConfigError, match="unknown stage 'detector'"):
        build_graph(load_pipeline(bad))


def test_bench_reports_fps_and_stage_times_and_stops_at_max_frames():
    from posetrack.bench.track import bench_track

    result = bench_track("x", Graph(nodes(Counter(100), Double())), max_frames=30)
    assert result["frames"] == 30 and result["fps"] > 0 and result["seconds"] > 0
    assert set(result["stage_ms"]) == {"counter", "double"}
    assert not graph_threads()


def test_bench_warmup_frames_run_untimed_in_the_same_opened_graph():
    from posetrack.bench.track import bench_track

    class CountsOpens(Double):
        opens = 0

        def open(self):
            CountsOpens.opens += 1

    double = CountsOpens()
    graph = Graph(nodes(Counter(5), double))
    result = bench_track("x", graph, warmup_frames=5)  # a whole 5-frame video untimed, then timed
    assert result["frames"] == 5 and CountsOpens.opens == 1  # one load for warm-up and timed run
    assert sum(double.batches) == 5 + 5  # the timed run restarts at frame 0 after the warm-up
    assert graph._timers["countsopens"].frames == 5  # timers reset after the warm-up
    with pytest.raises(ValueError, match="warmup_frames must be >= 0"):
        bench_track("x", graph, warmup_frames=-1)
    assert not graph_threads()
