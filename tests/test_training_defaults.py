"""Training defaults that follow the data set. Precedence, highest first: command-line flags, a design-space
file's ``training:``, the data set's recommendations (``DatasetInfo.recommended_training``), TrainSettings."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from nas_resnext.cli import build_parser, main
from nas_resnext.cli.common import dataset_training_settings, training_settings
from nas_resnext.data.catalog import DATASETS
from nas_resnext.errors import ConfigError
from nas_resnext.settings import TrainSettings, layered_settings
from nas_resnext.space import DesignSpace

FIELDS = [f.name for f in dataclasses.fields(TrainSettings)]
DIGITS = dict(DATASETS["digits"].recommended_training)
SPACE = {
    "template": "cifar",
    "resolution": 16,
    "num_classes": 10,
    "in_channels": 1,
    "stem_width": 8,
    "dataset": "digits",
    "axes": {"depth": 1, "width": [4, 8], "cardinality": 1, "bottleneck_width": 2},
}


def _sources(**chosen: str) -> dict[str, str]:
    return {name: chosen.get(name, "default") for name in FIELDS}


@pytest.mark.parametrize("name", list(DATASETS))
def test_every_recommendation_is_a_valid_training_setting(name: str) -> None:
    recommended = DATASETS[name].recommended_training
    assert set(recommended) <= set(FIELDS)
    settings = TrainSettings.from_dict(recommended)
    assert {key: getattr(settings, key) for key in recommended} == dict(recommended)


def test_the_catalogue_recommends_for_digits_and_cifar_only() -> None:
    # Digits: the schedule measured on this data (README, "Data sets"); it must differ from the trainer's
    # defaults where those serve the 1,293 digits badly (batch 128 gives ten steps an epoch).
    assert DIGITS["batch_size"] < TrainSettings().batch_size and DIGITS["lr"] > 0
    for name in ("cifar10", "cifar100"):
        assert DATASETS[name].recommended_training == {
            "epochs": 10,
            "batch_size": 128,
            "lr": 0.1,
            "momentum": 0.9,
            "nesterov": True,
            "weight_decay": 5e-4,
            "schedule": "cosine",
        }
    assert DATASETS["imagefolder"].recommended_training == {}
    assert DATASETS["synthetic"].recommended_training == {}


def test_layered_settings_take_each_field_from_the_highest_layer_that_sets_it() -> None:
    settings, sources = layered_settings(
        [
            ("flag", {"lr": 0.01}),
            ("file", {"lr": 0.5, "epochs": 3, "weight_decay": "1e-3"}),  # YAML's "1e-3" is a number
            ("dataset", {"lr": 0.2, "epochs": 8, "batch_size": 32}),
        ]
    )
    assert settings == TrainSettings(lr=0.01, epochs=3, weight_decay=1e-3, batch_size=32)
    assert sources == _sources(lr="flag", epochs="file", weight_decay="file", batch_size="dataset")
    assert layered_settings([]) == (TrainSettings(), _sources())
    with pytest.raises(ConfigError) as error:  # the layer holding the bad value is named by its field
        layered_settings([("file", {"lr": -1.0}), ("dataset", {"lr": 0.2})])
    assert error.value.field == "lr"


def _train_args(*argv: str):
    return build_parser().parse_args(["train", *argv])


def test_train_takes_the_data_sets_recommendations_where_no_flag_is_given() -> None:
    settings, sources = dataset_training_settings(_train_args())  # --dataset digits by default
    assert settings == TrainSettings(**DIGITS)
    assert sources == _sources(**dict.fromkeys(DIGITS, "dataset"))
    # synthetic recommends nothing: the trainer's defaults
    assert dataset_training_settings(_train_args("--dataset", "synthetic")) == (TrainSettings(), _sources())
    cifar = DATASETS["cifar100"].recommended_training
    settings, sources = dataset_training_settings(_train_args("--dataset", "cifar100"))
    assert settings == TrainSettings(**cifar) and sources == _sources(**dict.fromkeys(cifar, "dataset"))


def test_a_flag_beats_the_data_sets_recommendation() -> None:
    assert "lr" in DIGITS and "epochs" in DIGITS
    args = _train_args("--lr", "0.01", "--seed", "4")
    settings, sources = dataset_training_settings(args)
    assert settings == TrainSettings(**{**DIGITS, "lr": 0.01, "seed": 4})
    assert sources == _sources(**{**dict.fromkeys(DIGITS, "dataset"), "lr": "flag", "seed": "flag"})
    assert training_settings(args) == settings  # what a command without a space file gets
    with pytest.raises(ConfigError, match=r"^--epochs: got 0"):
        dataset_training_settings(_train_args("--epochs", "0"))


def test_a_space_files_training_keys_beat_the_data_set_and_the_rest_take_its_recommendations() -> None:
    given = {"lr": 0.5, "epochs": 2, "seed": 3}
    space = DesignSpace.from_dict({**SPACE, "training": given})
    assert space.training == TrainSettings(**{**DIGITS, **given})
    assert space.training_from_dataset == tuple(
        name for name in FIELDS if name in DIGITS and name not in given
    )
    # The resolved space a run directory stores holds every value, so a resumed run trains the same way.
    again = DesignSpace.from_dict(space.to_dict())
    assert again.training == space.training and again.training_from_dataset == ()
    # No training: at all: the data set's recommendations, else TrainSettings' defaults.
    assert DesignSpace.from_dict(SPACE).training == TrainSettings(**DIGITS)
    synthetic = DesignSpace.from_dict({**SPACE, "dataset": "synthetic"})
    assert synthetic.training == TrainSettings() and synthetic.training_from_dataset == ()
    cifar = DesignSpace.from_dict({**SPACE, "in_channels": 3, "dataset": "cifar10", "training": given})
    assert cifar.training == TrainSettings(**{**DATASETS["cifar10"].recommended_training, **given})
    with pytest.raises(ConfigError, match=r"^training\.lr: got -1"):
        DesignSpace.from_dict({**SPACE, "training": {"lr": -1}})


def test_a_flag_beats_a_space_files_training_key(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({**SPACE, "training": {"lr": 0.5, "epochs": 2}}))
    space = DesignSpace.from_file(path)
    args = build_parser().parse_args(["tradeoff", str(path), "--lr", "0.3", "--batch-size", "8"])
    settings = training_settings(args, space.training)
    assert (settings.lr, settings.batch_size, settings.epochs) == (0.3, 8, 2)
    assert settings.weight_decay == space.training.weight_decay


def test_space_command_says_which_settings_came_from_the_data_set(tmp_path: Path, capsys) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({**SPACE, "training": {"epochs": 2, "lr": 0.5}}))
    assert main(["space", str(path)]) == 0
    out = capsys.readouterr().out
    assert "  training          2 epochs, " in out and "lr 0.5," in out
    from_dataset = [name for name in DIGITS if name not in ("epochs", "lr")]
    line = next(line for line in out.splitlines() if "recommendations" in line)
    prefix = "(from the digits data set's recommendations: "
    assert line.strip().startswith(prefix) and line.endswith(")")
    shown = [
        f"{n} {DIGITS[n]:g}" if isinstance(DIGITS[n], float) else f"{n} {DIGITS[n]}" for n in from_dataset
    ]
    assert line.strip()[len(prefix) : -1].split(", ") == shown

    assert main(["space", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["training_from_dataset"] == from_dataset

    # A file that sets every recommended key takes nothing from the data set, and says nothing of it.
    path.write_text(yaml.safe_dump({**SPACE, "training": {**DIGITS, "lr": 0.5}}))
    assert main(["space", str(path)]) == 0
    assert "recommendations" not in capsys.readouterr().out


def test_autotune_is_off_by_default_and_a_bare_yaml_on_or_off_is_understood() -> None:
    assert TrainSettings().autotune == "off"
    # YAML 1.1 reads a bare on / off as a boolean: the space file's intent still comes through.
    assert TrainSettings.from_dict(yaml.safe_load("autotune: on")).autotune == "on"
    assert TrainSettings.from_dict(yaml.safe_load("autotune: off")).autotune == "off"
    with pytest.raises(ConfigError, match=r"^autotune: got 'auto'; allowed: off \| on$"):
        TrainSettings(autotune="auto")


def test_another_data_set_on_a_space_file_brings_its_own_recommendations(tmp_path: Path) -> None:
    from nas_resnext.cli.search import _apply_overrides
    from nas_resnext.cli.tradeoff import _reference_and_data

    # The file sets lr alone: on another data set the rest follows that set's recommendations, not digits'.
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({**SPACE, "training": {"lr": 0.5}}))
    space = DesignSpace.from_file(path)
    assert space.training == TrainSettings(**{**DIGITS, "lr": 0.5})
    cifar = TrainSettings(**{**DATASETS["cifar10"].recommended_training, "lr": 0.5})
    assert space.training_for("cifar10") == cifar and space.training_for("digits") == space.training
    synthetic = TrainSettings(lr=0.5)  # synthetic recommends nothing: TrainSettings' defaults
    args = build_parser().parse_args(["search", str(path), "--dataset", "synthetic"])
    assert _apply_overrides(space, args).training == synthetic
    args = build_parser().parse_args(["tradeoff", str(path), "--dataset", "synthetic", "--epochs", "2"])
    assert _reference_and_data(args)[1] == synthetic.replace(epochs=2)
