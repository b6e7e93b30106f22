"""The typed YAML loader: values land in dataclasses, typos and wrong types are errors."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from posetrack.config import ConfigError, apply_overrides, load_config, to_dict


@dataclass(frozen=True)
class Inner:
    sigma: float = 2.0
    size: tuple[int, int] = (192, 256)


@dataclass(frozen=True)
class Outer:
    name: str = "hrnet_w32"
    flip: bool = True
    steps: list[int] = field(default_factory=lambda: [170, 200])
    inner: Inner = field(default_factory=Inner)
    weights: str | None = None


def test_yaml_and_overrides_fill_nested_dataclasses(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("name: hrnet_w48\ninner:\n  sigma: 3\n  size: [288, 384]\n")
    cfg = load_config(Outer, path, ["flip=false", "inner.sigma=2.5", "steps=[10, 15]"])
    assert cfg == Outer(name="hrnet_w48", flip=False, steps=[10, 15], inner=Inner(2.5, (288, 384)))
    assert isinstance(cfg.inner.sigma, float)
    assert to_dict(cfg)["inner"]["size"] == [288, 384]


def test_unknown_key_names_the_section_and_the_file(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("inner:\n  sigam: 3\n")
    with pytest.raises(ConfigError, match=r"typo\.yaml: unknown key\(s\) in 'inner': sigam"):
        load_config(Outer, path)


@pytest.mark.parametrize(
    "override, message",
    [
        ("flip=3", "flip: expected true/false"),
        ("inner.size=[1, 2, 3]", r"inner.size: expected 2 values"),
        ("steps=[1, x]", r"steps\[1\]: expected an integer"),
        ("novalue", "must look like key.sub=value"),
    ],
)
def test_bad_values_are_reported_with_their_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(Outer, None, [override])


def test_exponent_without_dot_is_a_float():
    assert load_config(Inner, None, ["sigma=1e-4"]).sigma == 1e-4
    with pytest.raises(ConfigError, match="sigma: expected a number, got 'abc'"):
        load_config(Inner, None, ["sigma=abc"])


def test_optional_accepts_null_and_value():
    assert load_config(Outer, None, ["weights=null"]).weights is None
    assert load_config(Outer, None, ["weights=a.pth"]).weights == "a.pth"


def test_missing_or_invalid_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Outer, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Outer, bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(Outer, listing)


def test_apply_overrides_creates_sections_and_refuses_to_descend_into_values():
    assert apply_overrides({}, ["a.b.c=1.5"]) == {"a": {"b": {"c": 1.5}}}
    with pytest.raises(ConfigError, match="'name' is not a section"):
        apply_overrides({"name": "x"}, ["name.sub=1"])
