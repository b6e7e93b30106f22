"""Pipeline files (``pipelines/*.yaml``) -> a ready ``Graph`` of stages.

A pipeline file lists nodes in data-flow order (see ``pipelines/flowtrack.yaml``);
each node names a stage of ``posetrack.track.stages.STAGES`` and gives its params,
which are checked against that stage's ``Params`` dataclass (unknown key = error).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from posetrack.config import ConfigError, from_dict, load_config, load_yaml, short_repr
from posetrack.errors import InputNotFoundError
from posetrack.resources import pipeline_file
from posetrack.track.graph import Graph, Node, PipelineConfig
from posetrack.track.outputs import OutputParams
from posetrack.track.stages import STAGES

OUTPUTS = "outputs"  # settings key of the pipeline's ``outputs:`` section (not a stage)

DEFAULT_PIPELINE = pipeline_file("flowtrack.yaml")  # in the wheel: posetrack/pipelines/ (setup.py)


def load_pipeline(path: str | Path | None = None, overrides: list[str] | None = None) -> PipelineConfig:
    """Read a pipeline file (default ``pipelines/flowtrack.yaml``) into a ``PipelineConfig``."""
    return load_config(PipelineConfig, path or DEFAULT_PIPELINE, overrides)


def replace_stage(cfg: PipelineConfig, stage: str, new_stage: str, params: dict[str, Any]) -> PipelineConfig:
    """Swap every ``stage`` node for ``new_stage`` with ``params`` (name and wiring kept)."""
    nodes = [dataclasses.replace(n, stage=new_stage, params=dict(params), name=n.name or n.stage)
             if n.stage == stage else n for n in cfg.nodes]
    return dataclasses.replace(cfg, nodes=nodes)


def with_poses_file(cfg: PipelineConfig, path: str, video_keys_only: bool = False) -> PipelineConfig:
    """``cfg`` tracking the poses of a COCO keypoint results file (``--poses``): the detector node
    becomes ``poses_file``, the nodes that estimate poses from boxes go (decode -> poses_file ->
    flow -> associate -> smooth)."""
    params = {"path": path, "video_keys_only": video_keys_only}
    nodes = [dataclasses.replace(n, stage="poses_file", name="poses_file", params=params)
             if n.stage in ("detect", "detections_file") else n
             for n in cfg.nodes if n.stage not in ("propagate", "pose_ahead", "pose")]
    return dataclasses.replace(cfg, nodes=nodes)


def build_graph(cfg: PipelineConfig, settings: dict[str, dict[str, Any]] | None = None) -> Graph:
    """Instantiate the stages of ``cfg`` and wire them.

    ``settings`` overrides params per stage name (``{"pose": {"weights": W}}``); the
    key ``"*"`` applies to every stage whose ``Params`` has that field (e.g. device).
    """
    settings = settings or {}
    output_params(cfg, settings)  # a bad threshold fails here, before any stage is built
    absent = sorted(set(settings) - {"*", OUTPUTS} - {n.stage for n in cfg.nodes})
    if absent:
        raise ConfigError(f"settings given for stage(s) {absent} that the pipeline does not have "
                          f"(its stages: {', '.join(n.stage for n in cfg.nodes)})")
    nodes = []
    for i, node_cfg in enumerate(cfg.nodes):
        name = node_cfg.name or node_cfg.stage
        where = f"nodes[{i}] ({name})"
        if node_cfg.stage not in STAGES:
            raise ConfigError(f"{where}: unknown stage '{node_cfg.stage}' (known: {', '.join(sorted(STAGES))})")
        cls = STAGES[node_cfg.stage]
        fields = {f.name for f in dataclasses.fields(cls.Params)}
        key, params = node_cfg.stage, dict(node_cfg.params)
        shared = getattr(cls, "params_from", None)
        if shared is not None:  # one half of another stage (pose_ahead): that node's params, so they never differ
            if node_cfg.params or settings.get(node_cfg.stage):
                raise ConfigError(f"{where}: takes the params of the '{shared}' node; set them there")
            owner = next((j for j, n in enumerate(cfg.nodes) if n.stage == shared), None)
            if owner is None:
                raise ConfigError(f"{where}: needs a '{shared}' node to take its params from")
            key, params = shared, dict(cfg.nodes[owner].params)
            where = f"nodes[{owner}] ({cfg.nodes[owner].name or shared})"  # a bad value is reported where it is set
        params.update({k: v for k, v in settings.get("*", {}).items() if k in fields})
        params.update(settings.get(key, {}))
        try:
            stage = cls(from_dict(cls.Params, params, prefix=f"{where}.params"))
        except ConfigError:
            raise
        except ValueError as exc:  # a value of the right type that Params or the stage refuses (flow scale 2)
            raise ConfigError(f"{where}.params: {exc}") from None
        nodes.append(Node(name, stage, node_cfg.max_in_flight, node_cfg.batch_size, dict(node_cfg.streams)))
    return Graph(nodes, output_in_flight=cfg.output_in_flight)



def output_params(cfg: PipelineConfig, settings: dict[str, dict[str, Any]] | None = None) -> OutputParams:
    """The pipeline's ``outputs:`` section with ``settings["outputs"]`` (``--kpt-thr``, ``--person-thr``) applied."""
    values = {**dataclasses.asdict(cfg.outputs), **(settings or {}).get(OUTPUTS, {})}
    try:
        return from_dict(OutputParams, values, prefix=OUTPUTS)
    except ConfigError:
        raise
    except ValueError as exc:  # a range Params refuses
        raise ConfigError(f"{OUTPUTS}: {exc}") from None


def pipeline_graph(pipeline: str | Path | None = None, settings: dict[str, dict[str, Any]] | None = None, *,
                   detections: str | Path | None = None, n_inputs: int = 1, pose_ahead: bool = True,
                   poses: str | Path | None = None) -> Graph:
    """A pipeline file (default ``pipelines/flowtrack.yaml``) + ``settings`` -> a ``Graph``.

    ``detections`` (a COCO-results file) swaps the detector for the ``detections_file`` stage;
    ``n_inputs`` > 1 makes it refuse image ids that do not name their video. ``pose_ahead=False``
    drops the ``pose_ahead`` nodes: every box is then estimated by the recurrent pose node (the
    same tracks, the graph before it existed). ``poses`` (COCO keypoint results) tracks those
    poses instead of estimating any (``with_poses_file``). Bad files and settings raise
    ``InputNotFoundError`` / ``ConfigError`` naming them, before any model loads.
    """
    for what, path in (("detections", detections), ("poses", poses)):
        if path is not None and not Path(path).is_file():
            raise InputNotFoundError(f"{what} file not found: {path}")
    if detections is not None and poses is not None:
        raise ConfigError("give detections (boxes to estimate poses in) or poses (poses to track), not both")
    cfg = load_pipeline(pipeline)
    if not pose_ahead:
        cfg = dataclasses.replace(cfg, nodes=[n for n in cfg.nodes if n.stage != "pose_ahead"])
    if detections is not None:
        cfg = replace_stage(cfg, "detect", "detections_file", {"path": str(detections), "video_keys_only": n_inputs > 1})
    if poses is not None:
        cfg = with_poses_file(cfg, str(poses), n_inputs > 1)
    return build_graph(cfg, settings)


def parse_overrides(items: list[str], flag: str = "--set") -> dict[str, dict[str, Any]]:
    """``["pose.flip_test=false", "flow.scale=0.25"]`` -> ``{"pose": {"flip_test": False}, "flow": {"scale": 0.25}}``.

    Values are YAML; a later item wins. A malformed item is a ``ConfigError`` naming ``flag`` and the item.
    """
    settings: dict[str, dict[str, Any]] = {}
    for item in items:
        dotted, sep, raw = item.partition("=")
        stage, dot, key = dotted.strip().partition(".")
        if not sep or not dot or not key:
            raise ConfigError(f"{flag} {short_repr(item)} must look like STAGE.PARAM=VALUE")
        settings.setdefault(stage, {})[key] = load_yaml(raw, f"{flag} {short_repr(dotted.strip())}")
    return settings


def merge_settings(*layers: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """``build_graph`` settings of several sources in one; a later layer wins per stage parameter."""
    merged: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for stage, values in (layer or {}).items():
            merged.setdefault(stage, {}).update(values)
    return merged
