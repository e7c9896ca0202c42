"""The built model's state dict is torchvision's ResNet/ResNeXt state dict: same keys, order and shapes.

The expected layouts are written out here from the rules of torchvision's ``models/resnet.py`` (conv1 7x7/2 of
64, bn1, maxpool, ``layerI.J`` bottlenecks with ``width = int(planes * base_width / 64) * groups``,
``downsample.0/.1`` on each layer's first block, fc), independently of ``nas_resnext``. Models are built on
the meta device: shapes without the cost of initialising a hundred million weights.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from nas_resnext import build_model, get_preset

Shape = tuple[int, ...]

# preset: (blocks per layer, groups, width_per_group) as torchvision's builders pass them
TORCHVISION = {
    "resnet50": ((3, 4, 6, 3), 1, 64),
    "resnet101": ((3, 4, 23, 3), 1, 64),
    "wide_resnet50_2": ((3, 4, 6, 3), 1, 128),
    "resnext50_32x4d": ((3, 4, 6, 3), 32, 4),
    "resnext101_32x8d": ((3, 4, 23, 3), 32, 8),
    "resnext101_64x4d": ((3, 4, 23, 3), 64, 4),
}


def _batch_norm(prefix: str, channels: int) -> Iterator[tuple[str, Shape]]:
    for name in ("weight", "bias", "running_mean", "running_var"):
        yield f"{prefix}.{name}", (channels,)
    yield f"{prefix}.num_batches_tracked", ()


def torchvision_layout(
    layers: tuple[int, ...],
    groups: int,
    width_per_group: int,
    stem_kernel: int = 7,
    num_classes: int = 1000,
    in_channels: int = 3,
) -> dict[str, Shape]:
    """``ResNet(Bottleneck, layers, groups=..., width_per_group=...).state_dict()`` as key -> shape."""
    expansion, inplanes = 4, 64
    layout: dict[str, Shape] = {"conv1.weight": (64, in_channels, stem_kernel, stem_kernel)}
    layout.update(_batch_norm("bn1", 64))
    for i, blocks in enumerate(layers):
        planes, stride = 64 * 2**i, 1 if i == 0 else 2
        width = int(planes * (width_per_group / 64.0)) * groups
        for j in range(blocks):
            block = f"layer{i + 1}.{j}"
            layout[f"{block}.conv1.weight"] = (width, inplanes, 1, 1)
            layout.update(_batch_norm(f"{block}.bn1", width))
            layout[f"{block}.conv2.weight"] = (width, width // groups, 3, 3)
            layout.update(_batch_norm(f"{block}.bn2", width))
            layout[f"{block}.conv3.weight"] = (planes * expansion, width, 1, 1)
            layout.update(_batch_norm(f"{block}.bn3", planes * expansion))
            if j == 0 and (stride != 1 or inplanes != planes * expansion):
                layout[f"{block}.downsample.0.weight"] = (planes * expansion, inplanes, 1, 1)
                layout.update(_batch_norm(f"{block}.downsample.1", planes * expansion))
            inplanes = planes * expansion
    layout["fc.weight"] = (num_classes, inplanes)
    layout["fc.bias"] = (num_classes,)
    return layout


def _meta_model(preset: str, **overrides: object) -> torch.nn.Module:
    with torch.device("meta"):
        return build_model(get_preset(preset).architecture(**overrides))


def _state_of(layout: dict[str, Shape], device: str = "cpu") -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)

    def tensor(key: str, shape: Shape) -> torch.Tensor:
        if key.endswith("num_batches_tracked"):
            return torch.tensor(7, device=device)
        if device == "meta":
            return torch.empty(shape, device="meta")
        return torch.randn(shape, generator=generator)

    return {key: tensor(key, shape) for key, shape in layout.items()}


def test_the_layout_holds_torchvisions_published_parameter_counts() -> None:
    # torchvision's documented num_params: a check that the layout above is torchvision's.
    published = {"resnet50": 25_557_032, "wide_resnet50_2": 68_883_240, "resnext101_64x4d": 83_455_272}
    for preset, params in published.items():
        layout = torchvision_layout(*TORCHVISION[preset])
        trainable = [s for k, s in layout.items() if not k.split(".")[-1].startswith(("running", "num_"))]
        assert sum(torch.Size(s).numel() for s in trainable) == params, preset


@pytest.mark.parametrize("preset", list(TORCHVISION))
def test_state_dict_keys_order_and_shapes_are_torchvisions(preset: str) -> None:
    expected = torchvision_layout(*TORCHVISION[preset])
    model = _meta_model(preset)
    actual = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    assert list(actual) == list(expected)
    assert actual == expected


@pytest.mark.parametrize("preset", list(TORCHVISION))
def test_a_torchvision_state_dict_loads_strictly(preset: str) -> None:
    model = _meta_model(preset)
    state = _state_of(torchvision_layout(*TORCHVISION[preset]), device="meta")
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_a_torchvision_state_dict_loads_its_values() -> None:
    torch.manual_seed(0)
    model = build_model(get_preset("resnet50").architecture())
    state = _state_of(torchvision_layout(*TORCHVISION["resnet50"]))
    model.load_state_dict(state, strict=True)
    loaded = model.state_dict()
    assert all(torch.equal(loaded[key], value) for key, value in state.items())


def test_cifar_template_names_have_no_maxpool_and_three_layers() -> None:
    model = _meta_model("resnext29_8x64d")
    keys = list(model.state_dict())
    assert sorted({key.split(".")[0] for key in keys}) == ["bn1", "conv1", "fc", "layer1", "layer2", "layer3"]
    # ResNeXt-29 8x64d is torchvision's layout with a 3x3 stem, three layers of three blocks, ten classes.
    expected = torchvision_layout((3, 3, 3), 8, 64, stem_kernel=3, num_classes=10)
    assert {key: tuple(v.shape) for key, v in model.state_dict().items()} == expected
    assert keys == list(expected)
    assert isinstance(model.maxpool, torch.nn.Identity)
    assert [name for name, _ in model.named_children()] == [
        *("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "avgpool", "fc")
    ]
    assert model.stages == (model.layer1, model.layer2, model.layer3)


def test_imagenet_template_modules_are_named_as_torchvisions() -> None:
    model = _meta_model("resnext50_32x4d")
    assert [name for name, _ in model.named_children()] == [
        *("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc")
    ]
    assert isinstance(model.maxpool, torch.nn.MaxPool2d)
    assert len(model.stages) == 4 and model.stages[3] is model.layer4
