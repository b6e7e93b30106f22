"""Pipeline files (``pipelines/*.yaml``) -> a ready ``Graph`` of stages.

A pipeline file lists nodes in data-flow order (see ``pipelines/flowtrack.yaml``);
each node names a stage of ``posetrack.track.stages.STAGES`` and gives its params,
which are checked against that stage's ``Params`` dataclass (unknown key = error).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from posetrack.config import ConfigError, from_dict, load_config
from posetrack.track.graph import Graph, Node, PipelineConfig
from posetrack.track.stages import STAGES

DEFAULT_PIPELINE = Path(__file__).resolve().parents[2] / "pipelines" / "flowtrack.yaml"


def load_pipeline(path: str | Path | None = None, overrides: list[str] | None = None) -> PipelineConfig:
    """Read a pipeline file (default ``pipelines/flowtrack.yaml``) into a ``PipelineConfig``."""
    return load_config(PipelineConfig, path or DEFAULT_PIPELINE, overrides)


def replace_stage(cfg: PipelineConfig, stage: str, new_stage: str, params: dict[str, Any]) -> PipelineConfig:
    """Swap every ``stage`` node for ``new_stage`` with ``params`` (name and wiring kept)."""
    nodes = [dataclasses.replace(n, stage=new_stage, params=dict(params), name=n.name or n.stage)
             if n.stage == stage else n for n in cfg.nodes]
    return dataclasses.replace(cfg, nodes=nodes)


def build_graph(cfg: PipelineConfig, settings: dict[str, dict[str, Any]] | None = None) -> Graph:
    """Instantiate the stages of ``cfg`` and wire them.

    ``settings`` overrides params per stage name (``{"pose": {"weights": W}}``); the
    key ``"*"`` applies to every stage whose ``Params`` has that field (e.g. device).
    """
    settings = settings or {}
    absent = sorted(set(settings) - {"*"} - {n.stage for n in cfg.nodes})
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
        params = dict(node_cfg.params)
        params.update({k: v for k, v in settings.get("*", {}).items() if k in fields})
        params.update(settings.get(node_cfg.stage, {}))
        try:
            stage = cls(from_dict(cls.Params, params, prefix=f"{where}.params"))
        except ConfigError:
            raise
        except ValueError as exc:  # a value of the right type that Params or the stage refuses (flow scale 2)
            raise ConfigError(f"{where}.params: {exc}") from None
        nodes.append(Node(name, stage, node_cfg.max_in_flight, node_cfg.batch_size, dict(node_cfg.streams)))
    return Graph(nodes, output_in_flight=cfg.output_in_flight)

