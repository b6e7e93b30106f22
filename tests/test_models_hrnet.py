"""HRNet architecture: official state_dict layout, exchange units, registry."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from posetrack.models import HRNetSpec, StageSpec, build_model, list_models, register_model
from posetrack.models.hrnet import HRNET_W32

SPECS = Path(__file__).resolve().parents[2] / "shared" / "specs"


def _spec_keys(name: str) -> list[tuple[str, tuple[int, ...]]]:
    rows = []
    for line in (SPECS / f"{name}_state_dict.txt").read_text().splitlines():
        key, shape = line.split("\t")
        dims = shape.strip("()").replace(" ", "")
        rows.append((key, tuple(int(d) for d in dims.split(",") if d)))
    return rows


@pytest.mark.parametrize("name, params", [("hrnet_w32", 28_536_113), ("hrnet_w48", 63_595_745)])
def test_state_dict_equals_official_keys_shapes_and_order(name: str, params: int) -> None:
    model = build_model(name, num_joints=17)
    got = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    expected = _spec_keys(name)
    assert len(expected) == 1754
    assert got == expected
    assert sum(p.numel() for p in model.parameters()) == params


def test_exchange_units_follow_official_layout() -> None:
    model = build_model(HRNetSpec.from_width(8))
    # Branch 0 -> branch 3: three stride-2 convs, ReLU after the first two only.
    down = model.stage4[0].fuse_layers[3][0]
    assert [type(m) for m in down[0]] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
    assert [type(m) for m in down[1]] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
    assert [type(m) for m in down[2]] == [nn.Conv2d, nn.BatchNorm2d]
    assert [c.stride for c in (down[0][0], down[1][0], down[2][0])] == [(2, 2)] * 3
    assert (down[0][0].out_channels, down[2][0].out_channels) == (8, 64)
    # Branch 3 -> branch 0: 1x1 conv + BN, then nearest upsampling by 8.
    up = model.stage4[0].fuse_layers[0][3]
    assert [type(m) for m in up] == [nn.Conv2d, nn.BatchNorm2d, nn.Upsample]
    assert up[0].kernel_size == (1, 1) and up[2].mode == "nearest" and up[2].scale_factor == 8.0
    assert model.stage4[0].fuse_layers[0][0] is None
    # Only the last module of the last stage drops the low-resolution outputs.
    assert len(model.stage4[1].fuse_layers) == 4 and len(model.stage4[2].fuse_layers) == 1


def test_forward_shapes_and_features() -> None:
    model = build_model("hrnet_w8", num_joints=15).eval()
    x = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        heat = model(x)
        feats = model.forward_features(x)
    assert heat.shape == (2, 15, 16, 8)
    assert feats.shape == (2, 8, 16, 8)
    with pytest.raises(ValueError, match=r"multiples of 32, got \(1, 3, 64, 48\)"):
        model(torch.randn(1, 3, 64, 48))
    torch.testing.assert_close(model.final_layer(feats), heat)


def test_official_initialisation() -> None:
    torch.manual_seed(0)
    model = build_model("hrnet_w16")
    assert abs(model.stage3[0].branches[2][0].conv1.weight.std().item() - 0.001) < 1e-4
    assert torch.all(model.final_layer.bias == 0)
    assert torch.all(model.bn1.weight == 1) and torch.all(model.bn1.bias == 0)


def test_registry_and_specs() -> None:
    assert {"hrnet_w32", "hrnet_w48"} <= set(list_models())
    assert build_model("hrnet_w32").spec == HRNET_W32
    assert HRNET_W32.stages[3].widths == (32, 64, 128, 256)
    assert [s.num_modules for s in HRNET_W32.stages] == [1, 1, 4, 3]
    with pytest.raises(ValueError, match="already registered"):
        register_model("hrnet_w32")(lambda **kw: nn.Identity())
    with pytest.raises(ValueError, match="unknown model 'resnet50'.*hrnet_w32"):
        build_model("resnet50")
    with pytest.raises(ValueError, match="block"):
        StageSpec(1, "mystery", (4,), (64,))
    with pytest.raises(ValueError, match="add exactly one branch"):
        HRNetSpec(64, (StageSpec(1, "bottleneck", (4,), (64,)), StageSpec(1, "basic", (4, 4, 4), (8, 16, 32))))


def test_any_architecture_from_a_yaml_config(tmp_path: Path) -> None:
    from posetrack.config import load_config

    path = tmp_path / "hrnet_small.yaml"
    path.write_text(
        "stem_width: 64\n"
        "stages:\n"
        "  - {num_modules: 1, block: bottleneck, num_blocks: [4], widths: [64]}\n"
        "  - {num_modules: 1, block: basic, num_blocks: [2, 2], widths: [18, 36]}\n"
        "  - {num_modules: 2, block: basic, num_blocks: [2, 2, 2], widths: [18, 36, 72]}\n"
    )
    spec = load_config(HRNetSpec, path)
    assert spec.stages[2] == StageSpec(2, "basic", (2, 2, 2), (18, 36, 72))
    model = build_model(spec, num_joints=3).eval()
    assert model.stride == 16  # three stages: lowest branch at 1/16
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 48)).shape == (1, 3, 16, 12)
    assert len(model.stage3[1].fuse_layers) == 1 and not hasattr(model, "stage4")


def test_forward_equals_timm_hrnet_with_the_same_weights() -> None:
    """timm's HRNet is an independent implementation of the same graph (and key names):
    with identical weights its stride-4 branch must equal our features."""
    import copy

    from timm.models.hrnet import HighResolutionNetFeatures, cfg_cls

    torch.manual_seed(3)
    ours = build_model("hrnet_w8").eval()
    with torch.no_grad():  # O(1) activations, non-trivial BN statistics
        for mod in ours.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
            elif isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.3, 0.6)
                mod.bias.uniform_(-0.1, 0.1)
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
    cfg = copy.deepcopy(cfg_cls["hrnet_w32"])
    for n in (2, 3, 4):
        cfg[f"stage{n}"]["num_channels"] = tuple(8 * 2**k for k in range(n))
    ref = HighResolutionNetFeatures(cfg, feature_location="", out_indices=(1,)).eval()
    state = {k: v for k, v in ours.state_dict().items() if not k.startswith("final_layer.")}
    result = ref.load_state_dict(state, strict=False)
    assert result.unexpected_keys == []
    # timm's last module also fuses the lower branches, which pose HRNet drops.
    assert {k.split(".")[3] for k in result.missing_keys} == {"1", "2", "3"}
    assert all(k.startswith("stage4.2.fuse_layers.") for k in result.missing_keys)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        (expected,) = ref(x)
        got = ours.forward_features(x)
    assert expected.abs().max() > 0.1
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
