"""Data sets: the held-out split, CIFAR and image-folder readers on files written here, bad directories."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nas_resnext.architecture import Architecture
from nas_resnext.data import (
    DATASETS,
    Augmentation,
    DeviceBatches,
    Split,
    as_training_data,
    load_dataset,
    random_crop,
    random_flip,
)
from nas_resnext.data.catalog import get_dataset
from nas_resnext.data.check import check_architecture_fits
from nas_resnext.data.cifar import CIFAR10, CIFAR100, read_cifar_file
from nas_resnext.data.imagefolder import count_classes
from nas_resnext.data.prepare import stratified_split
from nas_resnext.data.registry import READERS
from nas_resnext.errors import ConfigError
from nas_resnext.settings import TrainSettings

# -- the catalogue and the fit of an architecture ------------------------------------------------


def test_every_catalogued_data_set_has_a_reader_and_a_consistent_entry() -> None:
    assert set(READERS) == set(DATASETS)
    for name, info in DATASETS.items():
        assert get_dataset(name) is info and info.name == name
        assert info.needs_data_dir == (name in ("cifar10", "cifar100", "imagefolder"))


@pytest.mark.parametrize(
    ("dataset", "fields", "message"),
    [
        ("digits", {"in_channels": 3}, "in_channels: got 3; allowed: 1 (what the digits data set holds)"),
        ("digits", {"in_channels": 1, "num_classes": 5}, "num_classes: got 5; allowed: 10 (what the digits"),
        ("cifar100", {}, "num_classes: got 10; allowed: 100 (what the cifar100 data set holds)"),
        ("imagefolder", {"in_channels": 1}, "in_channels: got 1; allowed: 3"),
    ],
)
def test_an_architecture_the_data_cannot_feed_is_bad_input(dataset: str, fields: dict, message: str) -> None:
    arch = Architecture("cifar", (1, 1, 1), **fields)
    with pytest.raises(ConfigError) as info:
        check_architecture_fits(dataset, arch)
    assert str(info.value).startswith(message)
    assert info.value.field == message.split(":")[0]


def test_a_data_set_that_leaves_a_field_open_takes_any_value() -> None:
    check_architecture_fits("digits", Architecture("cifar", (1, 1, 1), in_channels=1))
    check_architecture_fits("imagefolder", Architecture("cifar", (1, 1, 1), num_classes=7))
    check_architecture_fits("synthetic", Architecture("cifar", (1, 1, 1), in_channels=5, num_classes=2))
    with pytest.raises(ConfigError, match="dataset: got 'mnist'"):
        check_architecture_fits("mnist", Architecture("cifar", (1, 1, 1)))


# -- the held-out split --------------------------------------------------------------------------


def test_stratified_split_holds_out_each_class_in_proportion_and_repeats_by_seed() -> None:
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    train, held = stratified_split(labels, 0.2, seed=3)
    assert torch.bincount(labels[held]).tolist() == [10, 6, 4]
    assert set(train.tolist()).isdisjoint(held.tolist())
    assert len(train) + len(held) == len(labels)
    again_train, again_held = stratified_split(labels, 0.2, seed=3)
    assert torch.equal(train, again_train) and torch.equal(held, again_held)
    assert not torch.equal(held, stratified_split(labels, 0.2, seed=4)[1])


def test_stratified_split_keeps_every_class_on_both_sides() -> None:
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2])
    train, held = stratified_split(labels, 0.05, seed=0)
    assert set(labels[held].tolist()) == {0, 1, 2}
    assert set(labels[train].tolist()) == {0, 1, 2}


# -- digits and synthetic --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", settings=TrainSettings(val_fraction=0.1, seed=0))


def test_digits_are_the_real_bundled_images_split_and_normalised(digits) -> None:
    assert (digits.in_channels, digits.num_classes, digits.resolution) == (1, 10, 16)
    assert len(digits.train) + len(digits.val) == 1438  # 359 of the 1,797 are the test split
    assert digits.train.images.shape[1:] == (1, 16, 16)
    assert digits.val.images.dtype == torch.float32 and digits.val.labels.dtype == torch.int64
    counts = torch.bincount(digits.val.labels, minlength=10)
    assert counts.min() >= 13 and counts.max() <= 15  # 10% of each class of ~144
    assert abs(digits.train.images.mean().item()) < 1e-4
    assert abs(digits.train.images.std().item() - 1) < 1e-3
    assert digits.test is None  # read only on request
    assert digits.architecture_fields() == {"in_channels": 1, "num_classes": 10, "resolution": 16}


def test_digits_at_another_resolution() -> None:
    data = load_dataset("digits", resolution=8, settings=TrainSettings(val_fraction=0.5))
    assert data.train.images.shape[-2:] == (8, 8)
    assert abs(len(data.val) - 1438 / 2) < 10


def test_the_digits_are_read_as_scikit_learn_loads_them_without_importing_it(tmp_path: Path) -> None:
    from sklearn.datasets import load_digits

    from nas_resnext.data.digits import bundled_digits_file, load_digit_arrays

    assert bundled_digits_file() is not None  # read directly here, not through the fallback
    images, labels = load_digit_arrays()
    reference = load_digits()
    assert images.shape == (1797, 8, 8) and labels.dtype == np.int64
    assert np.array_equal(images, reference.images) and np.array_equal(labels, reference.target)
    # A fresh process (a trial worker, say) reads the set without the second scikit-learn's import takes.
    code = (
        "import sys; from nas_resnext.data import load_dataset; "
        "data = load_dataset('digits'); print(len(data.train) + len(data.val), 'sklearn' in sys.modules)"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert shown.stdout.split() == ["1438", "False"]


def test_the_digits_fall_back_to_load_digits_where_the_bundled_file_is_not_a_table_of_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import gzip

    from sklearn.datasets import load_digits

    from nas_resnext.data import digits

    other = tmp_path / "digits.csv.gz"
    with gzip.open(other, "wt") as handle:
        handle.write("1,2,3\n4,5,6\n")  # a table of another shape, as a later scikit-learn might keep
    monkeypatch.setattr(digits, "bundled_digits_file", lambda: other)
    images, labels = digits.load_digit_arrays()
    assert np.array_equal(images, load_digits().images) and np.array_equal(labels, load_digits().target)


def test_the_digits_test_split_is_fixed_disjoint_and_stratified() -> None:
    from sklearn.datasets import load_digits

    first = load_dataset("digits", settings=TrainSettings(seed=0), include_test=True)
    other = load_dataset("digits", settings=TrainSettings(seed=7, val_fraction=0.3), include_test=True)
    assert len(first.test) == 359 and torch.bincount(first.test.labels).tolist() == [
        int(0.2 * n + 0.5) for n in torch.bincount(torch.as_tensor(load_digits().target)).tolist()
    ]
    # The same images whatever the training seed (normalisation differs with the training images).
    assert torch.equal(first.test.labels, other.test.labels)
    assert torch.allclose(
        first.test.images * torch.tensor(first.std).view(1, -1, 1, 1)
        + torch.tensor(first.mean).view(1, -1, 1, 1),
        other.test.images * torch.tensor(other.std).view(1, -1, 1, 1)
        + torch.tensor(other.mean).view(1, -1, 1, 1),
        atol=1e-5,
    )
    # No test image is a training or validation image.
    seen = torch.cat([first.train.images, first.val.images]).flatten(1)
    distance = torch.cdist(first.test.images.flatten(1), seen).min(dim=1).values
    assert len(first.train) + len(first.val) + len(first.test) == 1797 and (distance > 0).all()


@pytest.mark.parametrize(("channels", "classes", "resolution"), [(1, 2, 4), (3, 10, 12), (5, 7, 9)])
def test_synthetic_takes_any_shape(channels: int, classes: int, resolution: int) -> None:
    data = load_dataset(
        "synthetic",
        resolution=resolution,
        num_samples=140,
        in_channels=channels,
        num_classes=classes,
        include_test=True,
    )
    assert data.train.images.shape[1:] == (channels, resolution, resolution)
    assert (data.in_channels, data.num_classes) == (channels, classes)
    assert len(data.train) + len(data.val) == 140
    assert data.test is not None and data.test.images.shape[1:] == (channels, resolution, resolution)


def test_tensors_in_memory_get_the_same_split() -> None:
    images, labels = torch.rand(40, 2, 6, 6), torch.arange(40) % 4
    data = as_training_data("mine", images, labels, TrainSettings(val_fraction=0.2))
    assert (len(data.train), len(data.val), data.num_classes, data.in_channels) == (32, 8, 4, 2)


def test_unknown_dataset_and_bad_synthetic_shape_are_bad_input() -> None:
    with pytest.raises(ConfigError, match=r"dataset: got 'mnist'; allowed: digits \| cifar10"):
        load_dataset("mnist")
    with pytest.raises(ConfigError, match="num_classes"):
        load_dataset("synthetic", num_classes=0)


# -- CIFAR -------------------------------------------------------------------------------------


def _cifar_images(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(count, 3072), dtype=np.uint8)


def _write_pickle(path: Path, content: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        pickle.dump(content, handle)


def write_cifar10(root: Path, per_batch: int = 10) -> Path:
    folder = root / "cifar-10-batches-py"
    for i, name in enumerate([*CIFAR10.train_files, CIFAR10.test_file]):
        labels = [(i + j) % 10 for j in range(per_batch)]
        content = {b"batch_label": name.encode(), b"labels": labels, b"data": _cifar_images(per_batch, i)}
        _write_pickle(folder / name, content)
    return folder


def write_cifar100(root: Path, count: int = 200) -> Path:
    folder = root / "cifar-100-python"
    for i, name in enumerate(["train", "test"]):
        fine = [j % 100 for j in range(count)]
        content = {
            b"filenames": [f"{j}.png".encode() for j in range(count)],
            b"fine_labels": fine,
            b"coarse_labels": [f // 5 for f in fine],
            b"data": _cifar_images(count, 10 + i),
        }
        _write_pickle(folder / name, content)
    return folder


def test_cifar_file_decodes_planes_in_rgb_order(tmp_path: Path) -> None:
    data = np.zeros((2, 3072), dtype=np.uint8)
    data[0, :1024] = 255  # image 0: red plane full
    data[1, 2048:] = 7  # image 1: blue plane 7
    data[1, 1024 + 32 * 5 + 3] = 9  # image 1: green at row 5, column 3
    _write_pickle(tmp_path / "data_batch_1", {b"data": data, b"labels": [3, 4]})
    images, labels = read_cifar_file(tmp_path / "data_batch_1", CIFAR10)
    assert images.shape == (2, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.tolist() == [3, 4]
    assert images[0, 0].min() == 255 and images[0, 1:].max() == 0
    assert images[1, 2].min() == 7 and images[1, 1, 5, 3] == 9 and images[1, 1].sum() == 9


def test_cifar10_loads_from_the_parent_or_the_folder_itself(tmp_path: Path) -> None:
    folder = write_cifar10(tmp_path)
    for data_dir in (tmp_path, folder):
        data = load_dataset("cifar10", data_dir, settings=TrainSettings(val_fraction=0.2), include_test=True)
        assert (data.num_classes, data.in_channels, data.resolution) == (10, 3, 32)
        assert (len(data.train), len(data.val)) == (40, 10)  # five batches of ten; one per class held out
        assert sorted(data.val.labels.tolist()) == list(range(10))
        assert data.test is not None and len(data.test) == 10
    assert DATASETS["cifar10"].augmentation == Augmentation(crop_padding=4, flip=True)


def test_cifar100_reads_fine_labels_and_resizes(tmp_path: Path) -> None:
    write_cifar100(tmp_path)
    data = load_dataset("cifar100", str(tmp_path), resolution=16, settings=TrainSettings(val_fraction=0.5))
    assert data.num_classes == 100
    assert data.train.images.shape[1:] == (3, 16, 16)
    assert (len(data.train), len(data.val)) == (100, 100)
    assert data.test is None  # read only on request


def test_missing_cifar_directory_names_the_path_and_the_layout(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError) as info:
        load_dataset("cifar10", missing)
    message = str(info.value)
    assert str(missing) in message and "does not exist" in message
    assert "cifar-10-batches-py" in message and "data_batch_1" in message and "test_batch" in message
    with pytest.raises(ConfigError, match="cifar-100-python"):
        load_dataset("cifar100", tmp_path)
    with pytest.raises(ConfigError, match="data_dir: got None"):
        load_dataset("cifar10")


def test_missing_cifar_batch_names_the_file(tmp_path: Path) -> None:
    folder = write_cifar10(tmp_path)
    (folder / "data_batch_4").unlink()
    with pytest.raises(ConfigError, match=r"data_batch_4.*this file is missing"):
        load_dataset("cifar10", tmp_path)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"not a pickle at all", "not a readable CIFAR pickle"),
        ([1, 2, 3], "holds a list, not a dict"),
        ({b"data": np.zeros((2, 3072), np.uint8)}, "lacks b'data' or b'labels'"),
        ({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, "shape"),
        ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "dtype float32"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "1 labels for 2 images"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, "labels outside 0..9"),
    ],
)
def test_malformed_cifar_file_names_the_file_and_the_fault(
    tmp_path: Path, content: object, reason: str
) -> None:
    write_cifar10(tmp_path)
    target = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        _write_pickle(target, content)
    with pytest.raises(ConfigError) as info:
        load_dataset("cifar10", tmp_path)
    assert str(target) in str(info.value) and reason in str(info.value)


class _Exploit:
    def __reduce__(self):
        return (print, ("a data file ran code",))


def test_cifar_reader_refuses_pickles_that_would_run_code(tmp_path: Path, capsys) -> None:
    _write_pickle(tmp_path / "data_batch_1", {b"data": _Exploit(), b"labels": []})
    with pytest.raises(ConfigError, match=r"refusing to load builtins\.print"):
        read_cifar_file(tmp_path / "data_batch_1", CIFAR10)
    assert "ran code" not in capsys.readouterr().out
    assert CIFAR100.label_key == "fine_labels"


# -- image folders -----------------------------------------------------------------------------


def write_imagefolder(root: Path, per_class: int = 4) -> None:
    from PIL import Image

    colours = {"cat": (255, 0, 0), "dog": (0, 0, 255), "eel": (0, 255, 0)}
    for split in ("train", "val"):
        for name, colour in colours.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                # Non-square and of varied size: the reader centre-crops and resizes.
                Image.new("RGB", (20 + 3 * i, 12 + i), colour).save(folder / f"{i}.png")
            Image.new("L", (9, 9), 128).save(folder / "grey.jpg")  # grey images become RGB


def test_imagefolder_reads_class_folders_with_pillow(tmp_path: Path) -> None:
    write_imagefolder(tmp_path)
    (tmp_path / "train" / "notes.txt").write_text("not a class")
    data = load_dataset(
        "imagefolder", tmp_path, resolution=8, settings=TrainSettings(val_fraction=0.4), include_test=True
    )
    assert (data.num_classes, data.in_channels, data.resolution) == (3, 3, 8)
    assert len(data.train) + len(data.val) == 15 and len(data.test) == 15
    assert data.train.images.shape[1:] == (3, 8, 8)
    # Red cats are red in every pixel: after normalisation their red channel sits above the others'.
    images = torch.cat([data.train.images, data.val.images])
    labels = torch.cat([data.train.labels, data.val.labels])
    raw_red = images[labels == 0][:, 0]
    assert (raw_red.amax(dim=(1, 2)) - raw_red.amin(dim=(1, 2))).abs().max() < 1e-5


def test_imagefolder_classes_are_counted_from_folder_names(tmp_path: Path) -> None:
    assert count_classes(tmp_path) is None  # no train/ folder
    (tmp_path / "train").mkdir()
    assert count_classes(tmp_path) is None  # no class folders
    write_imagefolder(tmp_path / "set", per_class=1)
    (tmp_path / "set" / "train" / ".hidden").mkdir()
    assert count_classes(tmp_path / "set") == 3 == load_dataset("imagefolder", tmp_path / "set").num_classes


def test_imagefolder_errors_name_the_path_and_the_layout(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_dataset("imagefolder", tmp_path / "absent")
    assert str(tmp_path / "absent") in str(info.value) and "train/<class>/<image>" in str(info.value)
    (tmp_path / "train").mkdir()
    with pytest.raises(ConfigError, match="has no class folders"):
        load_dataset("imagefolder", tmp_path)
    (tmp_path / "train" / "cat").mkdir()
    with pytest.raises(ConfigError, match=r"cat.*holds no images"):
        load_dataset("imagefolder", tmp_path)


def test_imagefolder_unreadable_image_names_the_file(tmp_path: Path) -> None:
    write_imagefolder(tmp_path, per_class=2)
    broken = tmp_path / "train" / "dog" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n but not really")
    with pytest.raises(ConfigError) as info:
        load_dataset("imagefolder", tmp_path, resolution=8)
    assert str(broken) in str(info.value) and "not a readable image" in str(info.value)


# -- the on-device input pipeline --------------------------------------------------------------


def test_random_crop_is_a_shifted_window_of_the_zero_padded_image() -> None:
    images = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).reshape(2, 3, 5, 5) + 1
    cropped = random_crop(images, 2, torch.Generator().manual_seed(0))
    assert cropped.shape == images.shape
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for n in range(2):
        windows = [padded[n, :, y : y + 5, x : x + 5] for y in range(5) for x in range(5)]
        assert any(torch.equal(cropped[n], w) for w in windows)
    assert torch.equal(random_crop(images, 0, torch.Generator()), images)


def test_random_flip_mirrors_some_images_and_keeps_the_rest() -> None:
    images = torch.rand(64, 1, 3, 3)
    flipped = random_flip(images, torch.Generator().manual_seed(0))
    mirrored = [torch.equal(f, i.flip(2)) for f, i in zip(flipped, images, strict=True)]
    kept = [torch.equal(f, i) for f, i in zip(flipped, images, strict=True)]
    assert all(m or k for m, k in zip(mirrored, kept, strict=True))
    assert 10 < sum(mirrored) < 54


def test_device_batches_are_full_seeded_and_without_repeats() -> None:
    split = Split(torch.arange(50, dtype=torch.float32).reshape(50, 1, 1, 1), torch.arange(50))
    batches = DeviceBatches(split, 16, torch.device("cpu"), Augmentation(), seed=1)
    epoch = list(batches)
    assert len(batches) == 3 and [len(y) for _, y in epoch] == [16, 16, 16]
    seen = torch.cat([y for _, y in epoch])
    assert len(set(seen.tolist())) == 48
    assert all(torch.equal(x.flatten(), y.float()) for x, y in epoch)  # images stay with their labels
    again = list(DeviceBatches(split, 16, torch.device("cpu"), Augmentation(), seed=1))
    assert all(torch.equal(a[1], b[1]) for a, b in zip(epoch, again, strict=True))
    assert not torch.equal(torch.cat([y for _, y in batches]), seen)  # a new order every epoch
