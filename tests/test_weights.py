"""State-dict files: saving, reading the common layouts, refusing what is not one, starting a model from one,
and ``training.init`` / ``--init`` where training settings are given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from conftest import TINY_FLAGS, TINY_SPACE
from torch import nn

from nas_resnext import Architecture, ConfigError, DesignSpace, TrainSettings, build_model
from nas_resnext.cli import main
from nas_resnext.weights import (
    InitReport,
    check_initialization,
    initialize_from,
    initialize_model,
    load_state_dict_file,
    save_state_dict,
)

# The tests' tiny digits architecture (conftest.TINY_FLAGS): 1 channel, 8 px, 10 classes.
TINY = Architecture(
    template="cifar",
    depths=(1, 1, 1),
    width=4,
    stem_width=4,
    cardinality=1,
    bottleneck_width=4,
    resolution=8,
    in_channels=1,
    num_classes=10,
)


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def trained_digits() -> dict[str, torch.Tensor]:
    """The state dict of the tiny architecture after three epochs on the digits (10 classes; about 68%
    validation accuracy, against the 10% of chance)."""
    from nas_resnext.data.registry import load_dataset
    from nas_resnext.training import train_candidate

    settings = TrainSettings(epochs=3, batch_size=64, lr=0.1, device="cpu")
    data = load_dataset("digits", resolution=8, settings=settings, in_channels=1, num_classes=10)
    result = train_candidate(TINY, data, settings, measure=False, keep_model=True)
    assert result.ok and result.model is not None
    return {key: value.detach().clone() for key, value in result.model.state_dict().items()}


# -- files -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin", ".safetensors"])
def test_save_and_load_round_trip(tmp_path: Path, suffix: str) -> None:
    state = build_model(TINY).state_dict()
    path = tmp_path / f"tiny{suffix}"
    save_state_dict(state, path)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
    loaded = load_state_dict_file(path)
    assert _equal(loaded, dict(state))
    if suffix != ".safetensors":  # safetensors files keep no order
        assert list(loaded) == list(state)
    assert all(v.device.type == "cpu" for v in loaded.values())


def test_safetensors_files_are_safetensors(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    path = tmp_path / "tiny.safetensors"
    save_state_dict(build_model(TINY).state_dict(), path)
    assert "fc.weight" in load_file(path)


def test_saving_replaces_a_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    save_state_dict({"a": torch.zeros(2)}, path)
    save_state_dict({"b": torch.ones(3)}, path)
    assert _equal(load_state_dict_file(path), {"b": torch.ones(3)})


@pytest.mark.parametrize(
    "layout",
    [
        lambda s: s,
        lambda s: {"state_dict": s, "epoch": 3},
        lambda s: {"model": s, "optimizer": {"lr": 0.1}},
        lambda s: {"model": {"state_dict": s}},
        lambda s: {f"module.{k}": v for k, v in s.items()},
        lambda s: {"state_dict": {f"_orig_mod.{k}": v for k, v in s.items()}},
        lambda s: {f"_orig_mod.module.{k}": v for k, v in s.items()},
    ],
    ids=["bare", "state_dict", "model", "nested", "module.", "_orig_mod.", "both prefixes"],
)
def test_common_checkpoint_layouts_load_as_the_bare_state_dict(tmp_path: Path, layout) -> None:
    state = build_model(TINY).state_dict()
    path = tmp_path / "checkpoint.pth"
    torch.save(layout(dict(state)), path)
    assert _equal(load_state_dict_file(path), dict(state))


def _one_line_error(path: Path, field: str = "--init") -> str:
    with pytest.raises(ConfigError) as caught:
        load_state_dict_file(path, field)
    message = str(caught.value)
    assert caught.value.field == field and "\n" not in message
    assert message.startswith(f"{field}: got {str(path)!r}; allowed: ")
    return message


def test_a_pickled_module_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "whole_model.pt"
    torch.save(nn.Linear(2, 2), path)  # a pickle of code, not of tensors: weights_only refuses it
    assert "a file of tensors only" in _one_line_error(path)


@pytest.mark.parametrize(
    ("name", "content", "allowed"),
    [
        ("settings.pt", {"epoch": 3, "lr": 0.1}, "a state dict (a mapping of names to tensors)"),
        ("list.pt", [torch.zeros(1)], "a state dict (a mapping of names to tensors)"),
        ("empty.pt", {}, "a state dict (a mapping of names to tensors)"),
        ("garbage.pt", b"not a checkpoint", "a file of tensors only"),
        ("garbage.safetensors", b"not a checkpoint", "a valid .safetensors file"),
        ("weights.npz", {"a": torch.zeros(1)}, ".pt, .pth, .bin, .safetensors"),
    ],
)
def test_what_is_not_a_state_dict_is_a_config_error(
    tmp_path: Path, name: str, content: object, allowed: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    assert allowed in _one_line_error(path, "training.init")


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    assert "an existing state-dict file" in _one_line_error(tmp_path / "missing.pt")


# -- starting a model from a state dict ----------------------------------------------------------------


def test_fine_tuning_to_fewer_classes_keeps_a_fresh_classifier(
    tmp_path: Path, trained_digits: dict[str, torch.Tensor]
) -> None:
    path = tmp_path / "digits.pt"
    save_state_dict(trained_digits, path)
    torch.manual_seed(1)
    model = build_model(TINY.replace(num_classes=5))
    fresh_fc = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("fc.")}

    report = initialize_model(model, path)

    state = model.state_dict()
    assert report.reinitialized == ("fc.weight", "fc.bias")
    assert report.loaded == len(trained_digits) - 2 and report.source == str(path)
    assert all(torch.equal(state[k], v) for k, v in fresh_fc.items())
    assert all(torch.equal(state[k], v) for k, v in trained_digits.items() if not k.startswith("fc."))
    assert report.describe() == (
        f"initialized from {path}: {report.loaded} tensors loaded; fc.weight, fc.bias re-initialized "
        "(the classifier's shape differs)"
    )
    model.eval()
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 5)


def test_the_same_architecture_loads_everything(trained_digits: dict[str, torch.Tensor]) -> None:
    model = build_model(TINY)
    report = initialize_from(model, trained_digits, "digits.pt")
    assert report == InitReport("digits.pt", len(trained_digits), ())
    assert report.describe() == f"initialized from digits.pt: {len(trained_digits)} tensors loaded"
    assert _equal(model.state_dict(), trained_digits)


def test_a_file_without_batch_counters_or_classifier_still_loads(
    trained_digits: dict[str, torch.Tensor],
) -> None:
    # torchvision's first ResNet files lack num_batches_tracked; a backbone-only file lacks fc.
    state = {
        k: v for k, v in trained_digits.items() if not k.endswith("num_batches_tracked") and k[:3] != "fc."
    }
    model = build_model(TINY)
    report = initialize_from(model, state, "backbone.pt")
    assert report.reinitialized == ("fc.weight", "fc.bias") and report.loaded == len(state)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())


@pytest.mark.parametrize(
    ("arch", "message"),
    [
        (
            TINY.replace(cardinality=2, bottleneck_width=2),
            "layer1.0.conv2.weight has shape (4, 4, 3, 3) in digits.pt; "
            "the architecture expects (4, 2, 3, 3)",
        ),
        (
            TINY.replace(depths=(2, 1, 1)),
            "layer1.1.conv1.weight is missing from digits.pt; the architecture expects (4, 16, 1, 1)",
        ),
        (
            TINY.replace(in_channels=3),
            "conv1.weight has shape (4, 1, 3, 3) in digits.pt; the architecture expects (4, 3, 3, 3)",
        ),
    ],
    ids=["cardinality", "depth", "channels"],
)
def test_another_architecture_is_refused_naming_the_key_and_both_shapes(
    trained_digits: dict[str, torch.Tensor], arch: Architecture, message: str
) -> None:
    model = build_model(arch)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ConfigError) as caught:
        initialize_from(model, trained_digits, "digits.pt")
    assert str(caught.value) == (
        f"--init: {message}; allowed: a state dict of this architecture (same keys and shapes; "
        "only fc may differ)"
    )
    assert _equal(model.state_dict(), before)  # refused before anything was loaded


def test_a_key_the_architecture_lacks_is_refused(trained_digits: dict[str, torch.Tensor]) -> None:
    deeper = build_model(TINY.replace(depths=(1, 1, 2))).state_dict()
    with pytest.raises(
        ConfigError,
        match=r"^--init: layer3\.1\.conv1\.weight \(shape \(16, 64, 1, 1\)\) in deeper\.pt is not in ",
    ):
        initialize_from(build_model(TINY), deeper, "deeper.pt")


def test_check_initialization_needs_no_weights(
    tmp_path: Path, trained_digits: dict[str, torch.Tensor]
) -> None:
    path = tmp_path / "digits.safetensors"
    save_state_dict(trained_digits, path)
    report = check_initialization(TINY.replace(num_classes=5), path, "training.init")
    assert report.reinitialized == ("fc.weight", "fc.bias")
    with pytest.raises(ConfigError, match=r"^training\.init: layer1\.0\.conv2\.weight has shape"):
        check_initialization(TINY.replace(cardinality=2, bottleneck_width=2), path, "training.init")


# -- training settings, space files and the command line -----------------------------------------------


def test_train_settings_carry_init() -> None:
    settings = TrainSettings(init="/weights/x.pt")
    assert TrainSettings.from_dict(settings.to_dict()) == settings
    assert TrainSettings().to_dict()["init"] is None
    for bad in ("", "  ", 3):
        with pytest.raises(ConfigError, match=r"^init: .*allowed: a path to a state-dict file"):
            TrainSettings(init=bad)


def _space_with_init(folder: Path, init: str) -> Path:
    data = {**TINY_SPACE, "training": {**TINY_SPACE["training"], "init": init}}
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_space_file_init_is_read_from_the_files_folder(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "weights").mkdir()
    weights = tmp_path / "weights" / "digits.pt"
    save_state_dict(build_model(TINY).state_dict(), weights)
    space_file = _space_with_init(tmp_path, "weights/digits.pt")
    monkeypatch.chdir(tmp_path / "weights")  # the working directory plays no part

    space = DesignSpace.from_file(space_file)

    assert space.training.init == str(weights.resolve())
    stored = space.to_dict()["training"]["init"]
    assert Path(stored).is_absolute()
    # What a run directory stores loads back from anywhere to the same file.
    copy = tmp_path / "run" / "space.yaml"
    copy.parent.mkdir()
    copy.write_text(yaml.safe_dump(space.to_dict()))
    assert DesignSpace.from_file(copy).training.init == str(weights.resolve())


def test_space_file_init_that_does_not_exist_is_bad_input(tmp_path: Path) -> None:
    space_file = _space_with_init(tmp_path, "missing.pt")
    with pytest.raises(ConfigError) as caught:
        DesignSpace.from_file(space_file)
    assert str(caught.value).startswith(
        f"{space_file}: training.init: got 'missing.pt'; allowed: an existing state-dict file"
    )
    # A finished run is still readable once its weights file has gone.
    space = DesignSpace.from_file(space_file, check_init=False)
    assert space.training.init == str((tmp_path / "missing.pt").resolve())


def test_space_file_init_must_be_a_path(tmp_path: Path) -> None:
    data = {**TINY_SPACE, "training": {"init": 3}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"training\.init: got 3; allowed: a path to a state-dict file"):
        DesignSpace.from_file(path)


def test_train_with_a_missing_init_file_exits_2_and_writes_nothing(in_tmp_path: Path, capsys) -> None:
    assert main(["train", *TINY_FLAGS, "--epochs", "1", "--init", "missing.pt"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("nas-resnext train: error: --init: got 'missing.pt'; allowed: an existing")
    assert list(in_tmp_path.iterdir()) == []


def test_init_is_a_training_flag_of_every_training_command(capsys) -> None:
    for command in ("train", "tradeoff"):
        assert main([command, "--help"]) == 0
        assert "--init PATH" in capsys.readouterr().out


def test_train_starts_from_a_state_dict_file(
    in_tmp_path: Path, capsys, trained_digits: dict[str, torch.Tensor]
) -> None:
    save_state_dict(trained_digits, in_tmp_path / "digits.pt")
    argv = [
        *("train", *TINY_FLAGS, "--epochs", "1", "--lr", "1e-6"),
        *("--init", "digits.pt", "--latency-batch", "2", "--json"),
    ]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["state"] == "complete"
    assert result["settings"]["init"] == str((in_tmp_path / "digits.pt").resolve())
    # At this rate one epoch barely moves the weights: a fresh model stays near chance (10%), so an
    # accuracy like the file's shows training started from it.
    assert result["val_accuracy"] > 0.5
