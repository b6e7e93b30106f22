"""Frame-stream graph: stages joined by bounded queues of timestamped frame packets.

The idea is MediaPipe's calculator graph, kept small::

    source(decode) ->[q]-> detect ->[q]-> flow ->[q]-> {propagate -> pose -> associate} ->[q]-> sink

* A ``Stage`` declares the stream names it reads (``inputs``, ``optional_inputs``,
  ``feedback``) and writes (``outputs``); ``Graph`` checks the wiring before the
  first frame. Heavy models load in ``open()``; ``reset()`` starts a new video.
* Feed-forward stages (detect, flow) each run on their own thread, ahead of the
  recurrent ones, and may take ``batch_size`` frames per call.
* Consecutive recurrent stages (propagate, pose, associate) share one thread and see
  frames strictly in order; ``feedback`` streams carry the previous frame's value of a
  stream produced later in that group (tracks(t-1) -> propagate(t)).
* Every queue is bounded (``max_in_flight`` of the consumer) and blocks when full: file
  input never drops a frame, and memory stays flat however long the video.
* A stage error stops every thread, the graph joins them and raises ``GraphError``
  naming the stage and the frame index.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Iterator

from posetrack.errors import PosetrackError
from posetrack.track.outputs import OutputParams

logger = logging.getLogger(__name__)

BUILTIN_STREAMS = ("index", "pts")  # every packet carries these (frame index, seconds)
BUILTIN_TYPES = {"index": int, "pts": float}
_POLL_S = 0.05  # how often a blocked put/get looks at the stop flag


class GraphError(PosetrackError, RuntimeError):
    """A stage failed (message names stage and frame) or the wiring is wrong."""


@dataclass(frozen=True)
class NoParams:
    """``Params`` of a stage without parameters."""


def with_overrides(params_cls: type, params: Any, overrides: dict[str, Any]) -> Any:
    """``params`` (the defaults of ``params_cls`` when None) with ``overrides`` replacing fields."""
    params = params_cls() if params is None else params
    return dataclasses.replace(params, **overrides) if overrides else params


def accepted_types(stage: "Stage") -> dict[str, tuple[type, ...]]:
    """Input port -> the classes ``stage.process`` is annotated to take (None left out; an int is a
    float, as in typing); ports without a class annotation are left out."""
    try:
        hints = typing.get_type_hints(type(stage).process)
    except (NameError, TypeError):  # an annotation that does not resolve: nothing to check
        return {}
    out = {}
    for port in (*stage.inputs, *stage.optional_inputs, *stage.feedback):
        tp = hints.get(port)
        args = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
        classes = tuple(a for a in args if isinstance(a, type) and a not in (type(None), Any))
        if classes:
            out[port] = classes + (int,) if float in classes else classes
    return out


class Stage:
    """One processing step. Subclasses set the class attributes and ``process``.

    ``Params`` is the stage's frozen dataclass, the only place its defaults live; a stage is
    built from one (``Stage(params)``, as ``build_graph`` does) or from keyword overrides of
    the defaults (``DetectStage(backend="hog")``), and reads ``self.params``.
    ``process(**inputs)`` receives one keyword per input port (optional ports and
    feedback ports may be ``None``) and returns a dict with exactly ``outputs``.
    ``output_types`` gives the class of each output's value (None aside); the graph checks
    it against the annotations of the consuming ``process`` when it is built.
    """

    Params: type = NoParams
    params: Any = NoParams()  # set per instance by __init__

    inputs: tuple[str, ...] = ()
    optional_inputs: tuple[str, ...] = ()  # None when no node produces the stream
    feedback: tuple[str, ...] = ()  # previous frame's value (None on the first frame)
    outputs: tuple[str, ...] = ()
    output_types: dict[str, type] = {}
    recurrent: bool = False  # needs the previous frame's result: in order, no batching

    def __init__(self, params: Any = None, **overrides: Any):
        self.params = with_overrides(self.Params, params, overrides)

    def open(self) -> None:
        """Load models / allocate once, before the first video."""

    def reset(self) -> None:
        """Forget per-video state (called before each video)."""

    def process(self, **inputs: Any) -> dict[str, Any]:
        raise NotImplementedError

    def process_batch(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Several frames at once, in order (override to batch on the device)."""
        return [self.process(**item) for item in batch]

    def close(self) -> None:
        """Release what ``open`` acquired."""


class Source(Stage):
    """The first node: turns one input (a video path) into frames."""

    def frames(self, source: Any) -> Iterator[tuple[float, dict[str, Any]]]:
        """Yield ``(pts_seconds, {output: value})`` per frame, in presentation order."""
        raise NotImplementedError


@dataclass
class Packet:
    """One frame travelling through the graph: its index, time and named streams."""

    index: int
    pts: float
    streams: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Node:
    """A stage placed in a graph. ``streams`` renames ports: ``{port: stream}``."""

    name: str
    stage: Stage
    max_in_flight: int = 4  # bound of the queue feeding this node (frames)
    batch_size: int = 1
    streams: dict[str, str] = field(default_factory=dict)

    def stream(self, port: str) -> str:
        return self.streams.get(port, port)


_END = object()  # end of stream marker
_STOPPED = object()  # returned by _get when the graph is stopping


@dataclass
class _Timer:
    seconds: float = 0.0
    frames: int = 0


class Graph:
    """Runs ``nodes`` (first one a ``Source``) over one input at a time.

    Usage::

        with Graph(nodes) as graph:          # checks wiring, opens stages
            for packet in graph.run(path):   # resets stages, streams packets
                ...
        graph.stage_ms()                     # mean ms per frame of each stage
    """

    def __init__(self, nodes: list[Node], output_in_flight: int = 4):
        self.nodes = list(nodes)
        self.output_in_flight = output_in_flight
        self._groups = self._check()
        self._feedback_streams = {n.stream(p) for n in self.nodes for p in n.stage.feedback}
        self._timers = {n.name: _Timer() for n in self.nodes}
        self._opened: list[Stage] = []

    # ---- wiring -----------------------------------------------------------------
    def _check(self) -> list[list[Node]]:
        """Validate the graph before any data flows; return the thread groups."""
        if not self.nodes or not isinstance(self.nodes[0].stage, Source):
            raise GraphError("the first node must be a source stage (e.g. decode)")
        names = [n.name for n in self.nodes]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise GraphError(f"duplicate node name(s): {', '.join(dup)}")
        producer: dict[str, str] = {s: "<graph>" for s in BUILTIN_STREAMS}
        for i, node in enumerate(self.nodes):
            stage = node.stage
            if i and isinstance(stage, Source):
                raise GraphError(f"node '{node.name}': a source can only be the first node")
            if node.max_in_flight < 1 or node.batch_size < 1:
                raise GraphError(f"node '{node.name}': max_in_flight and batch_size must be >= 1")
            if stage.recurrent and node.batch_size != 1:
                raise GraphError(f"node '{node.name}' is recurrent: it cannot batch frames (batch_size 1)")
            if node.batch_size > node.max_in_flight:
                raise GraphError(
                    f"node '{node.name}': batch_size {node.batch_size} > max_in_flight {node.max_in_flight}"
                )
            ports = set(stage.inputs) | set(stage.optional_inputs) | set(stage.feedback) | set(stage.outputs)
            unknown = sorted(set(node.streams) - ports)
            if unknown:
                raise GraphError(f"node '{node.name}': streams renames unknown port(s) {unknown}")
            for port in stage.inputs:
                if node.stream(port) not in producer:
                    raise GraphError(
                        f"node '{node.name}' needs stream '{node.stream(port)}' but no earlier node produces it"
                        f" (produced so far: {', '.join(sorted(producer))})"
                    )
            for port in stage.outputs:
                stream = node.stream(port)
                if stream in producer:
                    raise GraphError(
                        f"stream '{stream}' of node '{node.name}' is already produced by '{producer[stream]}'"
                    )
                producer[stream] = node.name
        groups: list[list[Node]] = []
        for node in self.nodes:
            if groups and node.stage.recurrent and groups[-1][-1].stage.recurrent:
                groups[-1].append(node)
            else:
                groups.append([node])
        for group in groups:
            made_here = {n.stream(p) for n in group for p in n.stage.outputs}
            for node in group:
                if node.stage.feedback and not node.stage.recurrent:
                    raise GraphError(f"node '{node.name}' reads feedback but is not recurrent")
                for port in node.stage.feedback:
                    if node.stream(port) not in made_here:
                        raise GraphError(
                            f"node '{node.name}': feedback stream '{node.stream(port)}' must be produced by a"
                            " recurrent node right after it"
                        )
        self._check_types()
        return groups

    def _check_types(self) -> None:
        """Every port's annotated class against the ``output_types`` of the stream it reads: a
        port wired to a stream of another type (a feedback port above all) would otherwise fail
        at frame 1, e.g. with an AttributeError."""
        made: dict[str, tuple[type, str]] = {s: (t, "<graph>") for s, t in BUILTIN_TYPES.items()}
        for node in self.nodes:
            made.update({node.stream(p): (t, node.name) for p, t in node.stage.output_types.items()
                         if p in node.stage.outputs})  # a subclass may output other ports
        for node in self.nodes:
            for port, accepted in accepted_types(node.stage).items():
                stream = node.stream(port)
                if stream in made and not issubclass(made[stream][0], accepted):
                    tp, source = made[stream]
                    raise GraphError(
                        f"node '{node.name}': port '{port}' takes {' | '.join(a.__name__ for a in accepted)} but "
                        f"stream '{stream}' (from '{source}') carries {tp.__name__}")

    # ---- lifecycle --------------------------------------------------------------
    def open(self) -> "Graph":
        for node in self.nodes:
            try:
                node.stage.open()
            except Exception:
                self._close_all(raise_first=False)  # the open error is the one to report
                raise
            self._opened.append(node.stage)
        return self

    def close(self) -> None:
        """Close every opened stage (last first), even when one fails; re-raise the first error."""
        self._close_all(raise_first=True)

    def _close_all(self, raise_first: bool) -> None:
        errors = []
        while self._opened:
            stage = self._opened.pop()
            try:
                stage.close()
            except Exception as exc:  # noqa: BLE001 - the other stages must still release theirs
                errors.append(exc)
                if errors[0] is not exc or not raise_first:
                    logger.error("closing stage %s failed: %s: %s", type(stage).__name__, type(exc).__name__, exc)
        if errors and raise_first:
            raise errors[0]

    def __enter__(self) -> "Graph":
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> None:
        self._close_all(raise_first=exc is None)  # never hide the error that ended the block

    def stage_ms(self) -> dict[str, float]:
        """Mean wall-clock milliseconds per frame spent in each stage (all runs since the last reset)."""
        return {k: 1000.0 * t.seconds / t.frames if t.frames else 0.0 for k, t in self._timers.items()}

    def stage_totals(self) -> dict[str, tuple[float, int]]:
        """(seconds, frames) of each stage since the last reset: ``stage_ms`` of one input is the
        difference of two of these."""
        return {k: (t.seconds, t.frames) for k, t in self._timers.items()}

    @property
    def thread_groups(self) -> list[list[str]]:
        """Node names per worker thread, in graph order (consecutive recurrent nodes share one)."""
        return [[node.name for node in group] for group in self._groups]

    def reset_timers(self) -> None:
        """Start ``stage_ms`` afresh (e.g. after warm-up frames)."""
        self._timers = {n.name: _Timer() for n in self.nodes}

    # ---- running ----------------------------------------------------------------
    def run(self, source: Any) -> Iterator[Packet]:
        """Stream the packets of ``source`` out of the last node, in frame order."""
        for node in self.nodes:
            node.stage.reset()
        stop = threading.Event()
        errors: list[GraphError] = []
        queues = [queue.Queue(maxsize=g[0].max_in_flight) for g in self._groups[1:]]
        queues.append(queue.Queue(maxsize=self.output_in_flight))

        def fail(node: Node, where: str, exc: BaseException) -> None:
            if not errors:
                err = GraphError(f"stage '{node.name}' failed at {where}: {type(exc).__name__}: {exc}")
                err.__cause__ = exc
                errors.append(err)
            stop.set()

        def put(q: queue.Queue, item: Any) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=_POLL_S)
                    return True
                except queue.Full:
                    continue
            return False

        def get(q: queue.Queue) -> Any:
            while not stop.is_set():
                try:
                    return q.get(timeout=_POLL_S)
                except queue.Empty:
                    continue
            return _STOPPED

        threads = [threading.Thread(target=self._source_loop, args=(source, queues[0], put, fail), daemon=True,
                                    name=f"graph-{self.nodes[0].name}")]
        for gi, group in enumerate(self._groups[1:]):
            threads.append(threading.Thread(
                target=self._group_loop, args=(group, queues[gi], queues[gi + 1], put, get, fail), daemon=True,
                name=f"graph-{group[0].name}",
            ))
        for t in threads:
            t.start()
        try:
            while True:
                item = get(queues[-1])
                if item is _END or item is _STOPPED:
                    break
                yield item
        finally:
            # normal end, an error, or the consumer stopped early: unblock and end every worker
            stop.set()
            for t in threads:
                t.join()
        if errors:
            raise errors[0]

    def _source_loop(self, source: Any, out: queue.Queue, put, fail) -> None:
        node = self.nodes[0]
        timer = self._timers[node.name]
        index = 0
        try:
            start = time.perf_counter()
            for pts, values in node.stage.frames(source):
                timer.seconds += time.perf_counter() - start
                timer.frames += 1
                _check_outputs(node.stage, values)
                streams = {"index": index, "pts": float(pts), **{node.stream(k): v for k, v in values.items()}}
                if not put(out, Packet(index, float(pts), streams)):
                    return
                index += 1
                start = time.perf_counter()
            put(out, _END)
        except Exception as exc:  # noqa: BLE001 - reported with stage and frame
            fail(node, f"frame {index}", exc)

    def _group_loop(self, group: list[Node], inq: queue.Queue, out: queue.Queue, put, get, fail) -> None:
        batch_size = group[0].batch_size
        previous: dict[str, Any] = {}  # feedback streams of the previous frame
        where = "the first frame"
        try:
            while True:
                batch: list[Packet] = []
                ended = False
                while len(batch) < batch_size:
                    item = get(inq)
                    if item is _STOPPED:
                        return
                    if item is _END:
                        ended = True
                        break
                    batch.append(item)
                if batch:
                    where = f"frame {batch[0].index}"
                    for node in group:
                        if not self._run_node(node, batch, previous, fail):
                            return
                    for packet in batch:
                        if not put(out, packet):
                            return
                if ended:
                    put(out, _END)
                    return
        except Exception as exc:  # noqa: BLE001 - a dead thread without fail() would leave run() waiting
            fail(group[0], where, exc)

    def _run_node(self, node: Node, batch: list[Packet], previous: dict[str, Any], fail) -> bool:
        stage = node.stage
        where = f"frame {batch[0].index}" if len(batch) == 1 else f"frames {batch[0].index}-{batch[-1].index}"
        start = time.perf_counter()
        try:
            args = []
            for packet in batch:
                kw = {p: packet.streams[node.stream(p)] for p in stage.inputs}
                kw.update({p: packet.streams.get(node.stream(p)) for p in stage.optional_inputs})
                kw.update({p: previous.get(node.stream(p)) for p in stage.feedback})
                args.append(kw)
            results = stage.process_batch(args) if len(batch) > 1 else [stage.process(**args[0])]
            if len(results) != len(batch):
                raise GraphError(f"returned {len(results)} result(s) for {len(batch)} frame(s)")
            for result in results:
                _check_outputs(stage, result)
        except Exception as exc:  # noqa: BLE001 - reported with stage and frame
            fail(node, where, exc)
            return False
        timer = self._timers[node.name]
        timer.seconds += time.perf_counter() - start
        timer.frames += len(batch)
        for packet, result in zip(batch, results):
            packet.streams.update({node.stream(k): result[k] for k in stage.outputs})
        if stage.recurrent:
            last = batch[-1].streams
            for port in stage.outputs:
                if node.stream(port) in self._feedback_streams:
                    previous[node.stream(port)] = last[node.stream(port)]
        return True


def _check_outputs(stage: Stage, result: Any) -> None:
    """Raise when a stage's per-frame result lacks one of its declared outputs."""
    missing = set(stage.outputs) - set(result)
    if missing:
        raise GraphError(f"did not return output(s) {sorted(missing)}")


# ---- pipeline definitions (pipelines/*.yaml) --------------------------------------


@dataclass(frozen=True)
class NodeConfig:
    """One ``nodes:`` entry of a pipeline file.

    ``params`` are checked against the stage's own ``Params`` dataclass when the
    graph is built (unknown keys are errors there too).
    """

    stage: str  # key of posetrack.track.stages.STAGES
    name: str = ""  # defaults to ``stage``
    params: dict[str, Any] = field(default_factory=dict)
    max_in_flight: int = 4  # frames waiting in front of this node (back-pressure bound)
    batch_size: int = 1  # frames per call (feed-forward stages only)
    streams: dict[str, str] = field(default_factory=dict)  # port -> stream renames


@dataclass(frozen=True)
class PipelineConfig:
    """A pipeline file: the ordered node list, the bound of the output queue and what the
    PoseTrack files keep (``outputs:``, see ``OutputParams``)."""

    nodes: list[NodeConfig]
    output_in_flight: int = 4
    outputs: OutputParams = field(default_factory=OutputParams)
