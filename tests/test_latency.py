"""Latency: warm-up, then the median of repeats at batch 1 and a larger batch, on the given device."""

from __future__ import annotations

import pytest
from torch import nn

from nas_resnext.architecture import Architecture
from nas_resnext.latency import Latency, architecture_latency, measure_latency, measurement_key

ARCH = Architecture(
    template="cifar", depths=(1, 1, 1), width=4, cardinality=2, bottleneck_width=2, stem_width=8, resolution=8
)


def test_measures_both_batch_sizes_and_keeps_the_model_mode() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.Flatten(), nn.Linear(8 * 64, 2)
    )
    model.train()
    latency = measure_latency(model, (3, 8, 8), "cpu", batch_size=16, warmup=1, repeats=5)
    assert model.training
    assert latency.single_ms > 0 and latency.batch_ms > 0
    assert latency.batch_size == 16 and latency.repeats == 5 and latency.warmup == 1
    assert latency.images_per_second == pytest.approx(16 * 1000 / latency.batch_ms)
    assert latency.device.startswith("cpu") and latency.precision == "float32"
    assert latency.to_dict()["images_per_second"] == latency.images_per_second


def test_time_budget_still_leaves_three_repeats() -> None:
    latency = architecture_latency(ARCH, "cpu", batch_size=4, warmup=0, repeats=50, max_seconds=0.0)
    assert latency.repeats == 3


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="repeats >= 1"):
        architecture_latency(ARCH, "cpu", repeats=0)


def test_a_measurement_round_trips_through_its_dict_and_matches_its_key() -> None:
    latency = architecture_latency(ARCH, "cpu", batch_size=4, warmup=0, repeats=3)
    assert Latency.from_dict(latency.to_dict()) == latency
    # The key a measurement is kept under names what the measurement itself records.
    assert measurement_key(ARCH, "cpu") == (ARCH.name, latency.device, latency.precision)


def test_a_probe_is_set_up_and_loaded_before_it_is_timed() -> None:
    from nas_resnext.latency import architecture_probe

    calls: list[int] = []
    probe = architecture_probe(ARCH, "cpu", batch_size=4)
    probe.model.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape[0]))
    assert not probe.model.training and [tuple(x.shape) for x in probe.inputs] == [(1, 3, 8, 8), (4, 3, 8, 8)]
    probe.load()  # one untimed pass per batch size
    assert calls == [1, 4]
    latency = probe.measure(warmup=1, repeats=3)
    assert calls[2:] == [1] * 4 + [4] * 4  # warm-up and timed passes, batch 1 first
    assert latency.batch_size == 4 and latency.repeats == 3 and probe.model.training  # built in train mode


def test_cudnn_autotuning_is_set_for_the_block_and_restored() -> None:
    import torch

    from nas_resnext.device import cudnn_autotuning

    before = torch.backends.cudnn.benchmark
    for wanted in (True, False):
        with cudnn_autotuning(wanted):
            assert torch.backends.cudnn.benchmark is wanted
        assert torch.backends.cudnn.benchmark is before
