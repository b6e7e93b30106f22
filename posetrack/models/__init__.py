"""Pose models: a plain-dict registry of builders plus checkpoint loading.

>>> model = build_model("hrnet_w32", num_joints=17)           # registered name
>>> model = build_model("hrnet_w16")                           # any width: hrnet_w<C>
>>> model = build_model(HRNetSpec.from_width(18))              # or a spec (e.g. from YAML)
>>> report = load_checkpoint(model, "path/to/pose_hrnet_w32_256x192.pth")
"""

from __future__ import annotations

import re
from typing import Callable

from torch import nn

from posetrack.models.checkpoint import LoadReport, load_checkpoint
from posetrack.models.hrnet import HRNET_W32, HRNET_W48, HRNetSpec, PoseHighResolutionNet, StageSpec

__all__ = [
    "HRNetSpec", "StageSpec", "PoseHighResolutionNet", "LoadReport",
    "build_model", "register_model", "list_models", "load_checkpoint",
]

_MODELS: dict[str, Callable[..., nn.Module]] = {}
_ANY_WIDTH = re.compile(r"hrnet_w(\d+)")


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register ``fn(*, num_joints) -> nn.Module`` under ``name`` (once)."""

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        _MODELS[name] = fn
        return fn

    return wrap


def list_models() -> list[str]:
    return sorted(_MODELS)


def build_model(name_or_spec: str | HRNetSpec, num_joints: int = 17) -> nn.Module:
    """Build a pose network with fresh (official) initialisation.

    ``name_or_spec``: a registered name (``list_models()``), ``"hrnet_w<C>"`` for the
    paper's layout at any width C, or an ``HRNetSpec``. Output heatmaps have
    ``num_joints`` channels at 1/4 of the input resolution.
    """
    if isinstance(name_or_spec, HRNetSpec):
        return PoseHighResolutionNet(name_or_spec, num_joints=num_joints)
    if not isinstance(name_or_spec, str):
        raise TypeError(f"build_model expects a model name or an HRNetSpec, got {type(name_or_spec).__name__}")
    if name_or_spec in _MODELS:
        return _MODELS[name_or_spec](num_joints=num_joints)
    match = _ANY_WIDTH.fullmatch(name_or_spec)
    if match:
        return PoseHighResolutionNet(HRNetSpec.from_width(int(match.group(1))), num_joints=num_joints)
    raise ValueError(
        f"unknown model {name_or_spec!r}; known: {', '.join(list_models())} (or hrnet_w<width>)"
    )


@register_model("hrnet_w32")
def hrnet_w32(*, num_joints: int = 17) -> PoseHighResolutionNet:
    return PoseHighResolutionNet(HRNET_W32, num_joints=num_joints)


@register_model("hrnet_w48")
def hrnet_w48(*, num_joints: int = 17) -> PoseHighResolutionNet:
    return PoseHighResolutionNet(HRNET_W48, num_joints=num_joints)
