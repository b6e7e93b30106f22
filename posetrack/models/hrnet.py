"""HRNet for top-down pose estimation, with the architecture written as data.

``HRNetSpec`` describes the network (stem width, one ``StageSpec`` per stage);
``PoseHighResolutionNet(spec, num_joints)`` builds it with exactly the module
names of the official ``lib/models/pose_hrnet.py`` (leoxiaobin/deep-high-
resolution-net.pytorch), so the official checkpoints load unchanged:
``conv1, bn1, conv2, bn2, layer1, transition1, stage2, transition2, stage3,
transition3, stage4, final_layer``.

Shapes: input images (N, 3, H, W); output heatmaps (N, K, H/4, W/4).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

BN_MOMENTUM = 0.1  # official pose_hrnet.py
INIT_STD = 0.001  # official init_weights(): conv weights ~ N(0, 0.001)

__all__ = ["StageSpec", "HRNetSpec", "HRNET_W32", "HRNET_W48", "PoseHighResolutionNet"]


@dataclass(frozen=True)
class StageSpec:
    """One stage: ``num_modules`` multi-resolution modules of parallel branches.

    ``num_blocks[i]`` residual blocks of type ``block`` run on branch ``i`` whose
    output width is ``widths[i]`` (before the block expansion for bottlenecks).
    """

    num_modules: int
    block: str  # "basic" | "bottleneck"
    num_blocks: tuple[int, ...]
    widths: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.block not in BLOCKS:
            raise ValueError(f"StageSpec.block must be one of {sorted(BLOCKS)}, got {self.block!r}")
        if len(self.num_blocks) != len(self.widths):
            raise ValueError(
                f"StageSpec: num_blocks {self.num_blocks} and widths {self.widths} differ in length"
            )

    @property
    def num_branches(self) -> int:
        return len(self.widths)

    @property
    def out_widths(self) -> tuple[int, ...]:
        return tuple(w * BLOCKS[self.block].expansion for w in self.widths)


@dataclass(frozen=True)
class HRNetSpec:
    """The whole network: a two-conv stem, stage 1 (``layer1``), then stages 2..n.

    Stage 1 has a single branch; each later stage adds one branch at half the
    resolution of the previous lowest one.
    """

    stem_width: int
    stages: tuple[StageSpec, ...]
    final_conv_kernel: int = 1

    def __post_init__(self) -> None:
        if len(self.stages) < 2 or self.stages[0].num_branches != 1:
            raise ValueError("HRNetSpec needs a single-branch stage 1 followed by at least one stage")
        for prev, cur in zip(self.stages, self.stages[1:]):
            if cur.num_branches != prev.num_branches + 1:
                raise ValueError("HRNetSpec: each stage after the first must add exactly one branch")

    @classmethod
    def from_width(cls, width: int) -> "HRNetSpec":
        """The paper's HRNet-W``width``: branch widths C, 2C, 4C, 8C; 1/4/3 modules."""
        c = int(width)
        if c <= 0:
            raise ValueError(f"HRNet width must be positive, got {width}")
        return cls(
            stem_width=64,
            stages=(
                StageSpec(1, "bottleneck", (4,), (64,)),
                StageSpec(1, "basic", (4, 4), (c, 2 * c)),
                StageSpec(4, "basic", (4, 4, 4), (c, 2 * c, 4 * c)),
                StageSpec(3, "basic", (4, 4, 4, 4), (c, 2 * c, 4 * c, 8 * c)),
            ),
        )


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=BN_MOMENTUM)


def _conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = _bn(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = _bn(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = _bn(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = _bn(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = _bn(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


def _make_blocks(block: type[nn.Module], inplanes: int, planes: int, num_blocks: int) -> nn.Sequential:
    """``num_blocks`` residual blocks; the first gets a 1x1 projection when widths differ."""
    downsample = None
    if inplanes != planes * block.expansion:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, planes * block.expansion, kernel_size=1, bias=False),
            _bn(planes * block.expansion),
        )
    layers = [block(inplanes, planes, 1, downsample)]
    layers += [block(planes * block.expansion, planes) for _ in range(1, num_blocks)]
    return nn.Sequential(*layers)


def _downsample_unit(in_ch: int, out_ch: int, steps: int) -> nn.Sequential:
    """Exchange unit to a ``steps``-times lower resolution: a chain of stride-2 3x3
    conv+BN; the first ``steps-1`` keep ``in_ch`` and end with ReLU, the last maps to
    ``out_ch`` without ReLU (the ReLU comes after the sum)."""
    layers = []
    for k in range(steps):
        last = k == steps - 1
        convs = [_conv3x3(in_ch, out_ch if last else in_ch, stride=2), _bn(out_ch if last else in_ch)]
        if not last:
            convs.append(nn.ReLU(inplace=True))
        layers.append(nn.Sequential(*convs))
    return nn.Sequential(*layers)


def _upsample_unit(in_ch: int, out_ch: int, factor: int) -> nn.Sequential:
    """Exchange unit to a higher resolution: 1x1 conv+BN, then nearest upsampling."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel_size=1, bias=False),
        _bn(out_ch),
        nn.Upsample(scale_factor=float(factor), mode="nearest"),
    )


class HighResolutionModule(nn.Module):
    """Parallel branches followed by the exchange unit (fuse layers).

    Input and output: a list of tensors, branch ``i`` at 1/2^i of branch 0's
    resolution. With ``multi_scale_output=False`` only branch 0 is fused and returned.
    """

    def __init__(self, block: type[nn.Module], num_blocks: tuple[int, ...], in_widths: list[int],
                 widths: tuple[int, ...], multi_scale_output: bool = True):
        super().__init__()
        self.num_branches = len(widths)
        self.branches = nn.ModuleList(
            _make_blocks(block, in_widths[i], widths[i], num_blocks[i]) for i in range(self.num_branches)
        )
        out_widths = [w * block.expansion for w in widths]
        self.fuse_layers = self._make_fuse_layers(out_widths, multi_scale_output)
        self.relu = nn.ReLU(inplace=True)
        self.out_widths = out_widths

    def _make_fuse_layers(self, widths: list[int], multi_scale_output: bool) -> nn.ModuleList | None:
        n = self.num_branches
        if n == 1:
            return None
        fuse = nn.ModuleList()
        for i in range(n if multi_scale_output else 1):
            row = nn.ModuleList()
            for j in range(n):
                if j > i:
                    row.append(_upsample_unit(widths[j], widths[i], 2 ** (j - i)))
                elif j == i:
                    row.append(None)  # identity; keeps the official index layout
                else:
                    row.append(_downsample_unit(widths[j], widths[i], i - j))
            fuse.append(row)
        return fuse

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        if self.fuse_layers is None:
            return xs
        out = []
        for i, row in enumerate(self.fuse_layers):
            y = xs[0] if i == 0 else row[0](xs[0])
            for j in range(1, self.num_branches):
                y = y + (xs[j] if i == j else row[j](xs[j]))
            out.append(self.relu(y))
        return out


def _make_transition(pre: list[int], cur: tuple[int, ...]) -> nn.ModuleList:
    """Between stages: adapt existing branches whose width changes (3x3 conv+BN+ReLU),
    and create each new branch from the lowest-resolution one by stride-2 3x3 convs."""
    layers = nn.ModuleList()
    for i, width in enumerate(cur):
        if i < len(pre):
            layers.append(
                None if width == pre[i]
                else nn.Sequential(_conv3x3(pre[i], width), _bn(width), nn.ReLU(inplace=True))
            )
        else:
            steps = i + 1 - len(pre)
            chain = []
            for k in range(steps):
                out_ch = width if k == steps - 1 else pre[-1]
                chain.append(nn.Sequential(_conv3x3(pre[-1], out_ch, stride=2), _bn(out_ch), nn.ReLU(inplace=True)))
            layers.append(nn.Sequential(*chain))
    return layers


class PoseHighResolutionNet(nn.Module):
    """HRNet with a 1x1 heatmap head on the highest-resolution branch.

    ``forward(images)``: images (N, 3, H, W), normalised RGB -> heatmaps (N, K, H/4, W/4)
    in heatmap pixels. ``forward_features(images)`` returns the branch-0 features
    (N, C, H/4, W/4) before the head.
    """

    def __init__(self, spec: HRNetSpec, num_joints: int = 17):
        super().__init__()
        if num_joints <= 0:
            raise ValueError(f"num_joints must be positive, got {num_joints}")
        self.spec = spec
        self.num_joints = num_joints
        stem = spec.stem_width
        self.conv1 = nn.Conv2d(3, stem, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = _bn(stem)
        self.conv2 = nn.Conv2d(stem, stem, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn2 = _bn(stem)
        self.relu = nn.ReLU(inplace=True)

        s1 = spec.stages[0]
        self.layer1 = _make_blocks(BLOCKS[s1.block], stem, s1.widths[0], s1.num_blocks[0])
        widths = list(s1.out_widths)
        last = len(spec.stages) - 1
        # Registered as transition1, stage2, transition2, ... so state_dict order is official.
        for n, stage in enumerate(spec.stages[1:], start=1):
            # Branches enter a stage at its blocks' output width (official: num_channels * expansion).
            setattr(self, f"transition{n}", _make_transition(widths, stage.out_widths))
            modules, widths = self._make_stage(stage, list(stage.out_widths), multi_scale_output=n < last)
            setattr(self, f"stage{n + 1}", modules)
        self.final_layer = nn.Conv2d(
            widths[0], num_joints, kernel_size=spec.final_conv_kernel, stride=1,
            padding=1 if spec.final_conv_kernel == 3 else 0,
        )
        self.init_weights()

    @staticmethod
    def _make_stage(stage: StageSpec, in_widths: list[int], multi_scale_output: bool
                    ) -> tuple[nn.Sequential, list[int]]:
        modules = []
        for m in range(stage.num_modules):
            # Only the very last module of the last stage drops the lower-resolution outputs.
            module = HighResolutionModule(
                BLOCKS[stage.block], stage.num_blocks, in_widths, stage.widths,
                multi_scale_output=multi_scale_output or m < stage.num_modules - 1,
            )
            modules.append(module)
            in_widths = module.out_widths
        return nn.Sequential(*modules), in_widths

    def init_weights(self) -> None:
        """Official initialisation: conv ~ N(0, 0.001) with zero bias, BN weight 1 bias 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=INIT_STD)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    @property
    def stride(self) -> int:
        """Input height and width must be multiples of this (the lowest branch's stride)."""
        return 4 * 2 ** (len(self.spec.stages) - 1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if not (torch.jit.is_tracing() or torch.compiler.is_compiling()) and (
            x.ndim != 4 or x.shape[1] != 3 or x.shape[-2] % self.stride or x.shape[-1] % self.stride
        ):
            # Otherwise the branches' upsampled sizes disagree deep inside a fuse layer.
            raise ValueError(
                f"HRNet input must be (N, 3, H, W) with H and W multiples of {self.stride}, got {tuple(x.shape)}"
            )
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        xs = [self.layer1(x)]
        for n in range(1, len(self.spec.stages)):
            transition = getattr(self, f"transition{n}")
            # New branches grow from the lowest-resolution output (official behaviour).
            xs = [
                xs[i] if t is None else t(xs[i] if i < len(xs) else xs[-1])
                for i, t in enumerate(transition)
            ]
            xs = getattr(self, f"stage{n + 1}")(xs)
        return xs[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.forward_features(x))


HRNET_W32 = HRNetSpec.from_width(32)
HRNET_W48 = HRNetSpec.from_width(48)
