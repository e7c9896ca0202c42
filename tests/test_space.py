"""Design-space files: the shipped spaces load; bad input names the file, the key and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nas_resnext import ConfigError, count_analytic
from nas_resnext.space import DesignSpace

SPACES = sorted(Path(__file__).resolve().parents[1].joinpath("search_spaces").glob("*.yaml"))

MINIMAL = {
    "template": "cifar",
    "resolution": 16,
    "in_channels": 1,
    "stem_width": 8,
    "axes": {
        "depth": [1, 2],
        "width": [4, 8],
        "cardinality": [1, 2],
        "bottleneck_width": {"low": 1, "high": 4},
    },
    "budget": {"max_gflops": 0.002},
}


def _write(tmp_path: Path, data: object, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_ships_the_three_spaces() -> None:
    assert {p.name for p in SPACES} == {"digits_demo.yaml", "resnext_cifar.yaml", "resnext_imagenet.yaml"}


@pytest.mark.parametrize("path", SPACES, ids=[p.stem for p in SPACES])
def test_shipped_spaces_load_and_have_architectures_in_budget(path: Path) -> None:
    space = DesignSpace.from_file(path)
    summary = space.summary()
    assert summary.size > 1
    assert 0 < summary.within_budget < 1  # the budget actually cuts the space
    assert space.name == path.stem


def test_digits_demo_is_small_and_single_channel() -> None:
    space = DesignSpace.from_file(next(p for p in SPACES if p.stem == "digits_demo"))
    assert (space.dataset, space.in_channels, space.training.epochs, space.search.trials) == (
        "digits",
        1,
        3,
        20,
    )
    assert count_analytic(space.largest()).gflops < 0.1


def test_imagenet_space_contains_the_paper_models() -> None:
    space = DesignSpace.from_file(next(p for p in SPACES if p.stem == "resnext_imagenet"))
    names = {a.name for a in space.architectures()}
    assert {"X-50-32x4d", "X-101-32x8d", "X-101-64x4d", "X-50-1x64d", "X-50-8x14d"} <= names
    assert not space.shared_depth


def test_size_and_enumeration_agree(tmp_path: Path) -> None:
    space = DesignSpace.from_file(_write(tmp_path, MINIMAL))
    archs = list(space.architectures())
    assert space.size == len(archs) == 2 * 2 * 2 * 4
    assert len({a.name for a in archs}) == len(archs)
    assert space.smallest() == min(archs, key=count_analytic)
    assert space.largest() == max(archs, key=count_analytic)


def test_summary_fraction_is_exact_for_small_spaces(tmp_path: Path) -> None:
    space = DesignSpace.from_file(_write(tmp_path, MINIMAL))
    summary = space.summary()
    inside = sum(space.budget.admits(count_analytic(a)) for a in space.architectures())
    assert summary.exact and summary.within_budget == inside / space.size


def test_summary_samples_large_spaces(tmp_path: Path) -> None:
    data = {**MINIMAL, "axes": {**MINIMAL["axes"], "width": {"low": 1, "high": 4000}}}
    summary = DesignSpace.from_file(_write(tmp_path, data)).summary()
    assert not summary.exact and summary.evaluated == 20_000 and summary.size == 2 * 4000 * 2 * 4


def test_resolved_space_round_trips(tmp_path: Path) -> None:
    space = DesignSpace.from_file(SPACES[0])
    again = DesignSpace.from_dict(space.to_dict())
    assert list(again.architectures()) == list(space.architectures())
    assert again.budget == space.budget and again.training == space.training and again.search == space.search


def test_activations_are_an_objective_and_a_budget(tmp_path: Path) -> None:
    data = {
        **MINIMAL,
        "budget": {"max_mactivations": 0.035, "min_mactivations": 0.02},
        "objectives": ["val_accuracy", "activations"],
    }
    space = DesignSpace.from_file(_write(tmp_path, data))
    assert space.objectives == ("val_accuracy", "activations")
    assert (space.budget.min_mactivations, space.budget.max_mactivations) == (0.02, 0.035)
    assert space.budget.describe() == "Mactivations >= 0.02, Mactivations <= 0.035"
    admitted = {a.name for a in space.architectures() if space.budget.admits(count_analytic(a))}
    expected = {a.name for a in space.architectures() if 20_000 <= count_analytic(a).activations <= 35_000}
    assert admitted == expected and 0 < len(admitted) < space.size
    # The resolved space (what a run directory stores) keeps both.
    again = DesignSpace.from_dict(space.to_dict())
    assert (again.budget, again.objectives) == (space.budget, space.objectives)
    three = DesignSpace.from_dict({**MINIMAL, "objectives": ["val_accuracy", "flops", "activations"]})
    assert three.objectives == ("val_accuracy", "flops", "activations")


def test_yaml_exponent_without_dot_is_a_number(tmp_path: Path) -> None:
    text = yaml.safe_dump(MINIMAL) + "training:\n  weight_decay: 5e-4\n"
    assert DesignSpace.from_file(_write(tmp_path, text)).training.weight_decay == 5e-4


def _with(path: str, value: object) -> dict:
    """MINIMAL with the dotted ``path`` set to ``value`` (``...`` deletes it)."""
    import copy

    data = copy.deepcopy(MINIMAL)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_with("colour", "red"), "colour: got 'red'; allowed: one of the keys name, description, template"),
        (_with("template", "vgg"), "template: got 'vgg'; allowed: imagenet | cifar"),
        (_with("axes.groups", [1]), "axes.groups: got [1]; allowed: one of depth, depths, width"),
        (_with("axes.width", ...), "axes.width: got None; allowed: a required range or list of choices"),
        (
            _with("axes.cardinality", {"low": 4, "high": 2}),
            "axes.cardinality.high: got 2; allowed: an integer >= low (4)",
        ),
        (
            _with("axes.cardinality", {"low": 0, "high": 2}),
            "axes.cardinality.low: got 0; allowed: an integer >= 1",
        ),
        (
            _with("axes.cardinality", {"low": 1, "high": 8, "step": 2}),
            "axes.cardinality.high: got 8; allowed: low + a multiple of step",
        ),
        (
            _with("axes.cardinality", {"low": 1, "high": 8, "log": True, "step": 7}),
            "axes.cardinality.step: got 7; allowed: 1 when log is true",
        ),
        (
            _with("axes.cardinality", {"low": 1, "hi": 8}),
            "axes.cardinality.hi: got 8; allowed: choices, or low, high",
        ),
        (_with("axes.cardinality", []), "axes.cardinality.choices: got []; allowed: a non-empty list"),
        (
            _with("axes.cardinality", [1, "two"]),
            "axes.cardinality.choices[1]: got 'two'; allowed: an integer >= 1",
        ),
        (_with("axes.cardinality", [2, 2]), "axes.cardinality.choices: got [2, 2]; allowed: distinct values"),
        (
            _with("axes.cardinality", "4"),
            "axes.cardinality: got '4'; allowed: an integer >= 1, a list of them",
        ),
        (_with("axes.depths", [[1], [1], [1]]), "axes.depth: got [1, 2]; allowed: exactly one of depth"),
        (_with("axes.depth", ...), "axes.depth: got None; allowed: exactly one of depth"),
        (
            {**MINIMAL, "axes": {**MINIMAL["axes"], "depth": ..., "depths": [[1], [2]]}},
            "axes.depths: got [[1], [2]]; allowed: a list of 3 ranges, one per stage of cifar",
        ),
        (_with("budget.max_gflops", -1), "budget.max_gflops: got -1; allowed: a number > 0"),
        (
            _with("budget.min_gflops", 0.5),
            "budget.min_gflops: got 0.5; allowed: a number <= max_gflops (0.002)",
        ),
        (
            _with("budget.max_flops", 1),
            "budget.max_flops: got 1; allowed: max_gflops, min_gflops, max_mparams, max_mactivations, "
            "min_mactivations",
        ),
        (_with("budget.max_mactivations", 0), "budget.max_mactivations: got 0; allowed: a number > 0"),
        (
            _with("budget.min_mactivations", "many"),
            "budget.min_mactivations: got 'many'; allowed: a number >= 0",
        ),
        (
            {**MINIMAL, "budget": {"min_mactivations": 2.0, "max_mactivations": 1.5}},
            "budget.min_mactivations: got 2.0; allowed: a number <= max_mactivations (1.5)",
        ),
        (
            _with("objectives", ["flops", "val_accuracy"]),
            "objectives: got ['flops', 'val_accuracy']; allowed: [val_accuracy, then",
        ),
        (
            _with("objectives", ["val_accuracy", "energy"]),
            "objectives[1]: got 'energy'; allowed: flops | params | activations | latency_ms",
        ),
        (_with("training.epochs", 0), "training.epochs: got 0; allowed: an integer >= 1"),
        (_with("training.lr", "fast"), "training.lr: got 'fast'; allowed: a number"),
        (_with("training.optimizer", "adam"), "training.optimizer: got 'adam'; allowed: one of epochs"),
        (_with("training.schedule", "linear"), "training.schedule: got 'linear'; allowed: cosine | step"),
        (
            _with("search.sampler", "cmaes"),
            "search.sampler: got 'cmaes'; allowed: tpe | rung-tpe | nsga2 | random | qmc | grid",
        ),
        (_with("search.scheduler", "pbt"), "search.scheduler: got 'pbt'; allowed: fifo | asha | moasha"),
        (_with("search.trials", 0), "search.trials: got 0; allowed: an integer >= 1"),
        (_with("dataset", "imagenet"), "dataset: got 'imagenet'; allowed: digits | cifar10 | cifar100"),
        (_with("resolution", 0), "resolution: got 0; allowed: an integer >= 1"),
        (_with("in_channels", "rgb"), "in_channels: got 'rgb'; allowed: an integer >= 1"),
        (_with("name", "a/b"), "name: got 'a/b'; allowed: a non-empty string without '/'"),
    ],
)
def test_bad_spaces_name_file_key_and_allowed(tmp_path: Path, data: dict, message: str) -> None:
    data = {k: v for k, v in data.items()}
    if isinstance(data.get("axes"), dict):
        data["axes"] = {k: v for k, v in data["axes"].items() if v is not ...}
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        DesignSpace.from_file(path)
    assert str(info.value).startswith(f"{path}: {message}")


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"space: got '.*nope\.yaml'; allowed: an existing YAML"):
        DesignSpace.from_file(tmp_path / "nope.yaml")
    path = _write(tmp_path, "template: cifar\naxes: [unclosed\n")
    with pytest.raises(ConfigError, match=r"space.yaml: line \d+: got .*; allowed: valid YAML"):
        DesignSpace.from_file(path)
    with pytest.raises(ConfigError, match=r"\(top level\): got \['a', 'list'\]"):
        DesignSpace.from_file(_write(tmp_path, ["a", "list"]))


def test_space_datasets_are_the_registered_ones() -> None:
    from nas_resnext.data import DATASETS as REGISTERED
    from nas_resnext.space import DATASETS

    assert set(DATASETS) == set(REGISTERED)
