"""Training throughput: the trainer's on-device input pipeline against a plain DataLoader loop.

Both train the same model (channels_last, the trainer's layout) on the same CIFAR-shaped data with the same
augmentation (random crop after 4-px padding, horizontal flip), with the same optimiser, in one process,
in alternating rounds so that a busy machine slows both alike. Reported per pipeline: images/s (median
over rounds) and the input pipeline's share of a training step: the time to produce one batch on the
device without training, over that time plus the compute-only step (the same model stepping on one fixed
batch). Both parts are short medians, so the share holds steady where whole-epoch rates are noisy.

    python benchmarks/train_throughput.py            # CPU here; --device cuda on a GPU
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import time
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from nas_resnext.architecture import Architecture
from nas_resnext.data import Augmentation, DeviceBatches, TrainingData, load_dataset
from nas_resnext.device import autocast, device_description, memory_format, resolve_device
from nas_resnext.model import build_model
from nas_resnext.settings import TrainSettings
from nas_resnext.training import train_candidate


class AugmentedTensors(Dataset):
    """The usual per-sample pipeline: index one image, pad, crop at a random offset, maybe flip."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, padding: int) -> None:
        self.images, self.labels, self.padding = images, labels, padding

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = F.pad(self.images[index], (self.padding,) * 4)
        size = self.images.shape[-1]
        dy, dx = torch.randint(0, 2 * self.padding + 1, (2,)).tolist()
        image = image[:, dy : dy + size, dx : dx + size]
        if torch.rand(()) < 0.5:
            image = image.flip(2)
        return image, self.labels[index]


def _step_fn(model: torch.nn.Module, device: torch.device, lr: float):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)

    def step(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with autocast(device):
            logits = model(images)
        loss = F.cross_entropy(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def dataloader_epoch(arch: Architecture, loader: DataLoader, device: torch.device, epochs: int) -> float:
    """Images/s of a plain loop over ``loader`` (median over epochs after the first)."""
    torch.manual_seed(0)
    layout = memory_format(device)
    model = build_model(arch).to(device, memory_format=layout).train()
    step = _step_fn(model, device, 0.05)
    rates = []
    for _ in range(epochs):
        start, seen = time.perf_counter(), 0
        total = torch.zeros((), device=device)
        for images, labels in loader:
            images = images.to(device, non_blocking=True).contiguous(memory_format=layout)
            total += step(images, labels.to(device, non_blocking=True))
            seen += len(labels)
        total.item()
        rates.append(seen / (time.perf_counter() - start))
    return statistics.median(rates[1:] if len(rates) > 1 else rates)


def compute_only_step_seconds(
    arch: Architecture, data: TrainingData, batch: int, device: torch.device
) -> float:
    """Seconds per training step on one fixed batch: the model's cost with no input pipeline at all."""
    torch.manual_seed(0)
    layout = memory_format(device)
    model = build_model(arch).to(device, memory_format=layout).train()
    step = _step_fn(model, device, 0.05)
    images = data.train.images[:batch].to(device).contiguous(memory_format=layout)
    labels = data.train.labels[:batch].to(device)
    for _ in range(3):
        step(images, labels)
    _sync(device)
    times = []
    for _ in range(10):
        start = time.perf_counter()
        step(images, labels).item()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def pipeline_seconds_per_batch(batches: Iterable, device: torch.device, layout: torch.memory_format) -> float:
    """Seconds to produce one batch on the device, ready for the model, with no training."""
    rates = []
    for _ in range(3):
        start, count = time.perf_counter(), 0
        for images, labels in batches:
            images = images.to(device).contiguous(memory_format=layout)
            labels = labels.to(device)
            count += 1
        _sync(device)
        rates.append((time.perf_counter() - start) / count)
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--samples", type=int, default=2048, help="training images (CIFAR-shaped, synthetic)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per measurement (the first is warm-up)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--width", type=int, default=16)
    args = parser.parse_args()

    device = resolve_device(args.device)
    layout = memory_format(device)
    settings = TrainSettings(
        epochs=args.epochs, batch_size=args.batch_size, lr=0.05, val_fraction=0.05, device=device.type
    )
    data = load_dataset("synthetic", resolution=32, settings=settings, num_samples=args.samples)
    data = dataclasses.replace(data, augmentation=Augmentation(crop_padding=4, flip=True))
    arch = Architecture(
        template="cifar",
        depths=(1, 1, 1),
        width=args.width,
        cardinality=4,
        bottleneck_width=4,
        stem_width=16,
        **data.architecture_fields(),
    )
    loader = DataLoader(
        AugmentedTensors(data.train.images, data.train.labels, 4),
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=args.workers,
        pin_memory=device.type == "cuda",
        persistent_workers=args.workers > 0,
    )
    device_batches = DeviceBatches(
        data.train, args.batch_size, device, data.augmentation, seed=0, memory_format=layout
    )

    trainer_rates, loader_rates, compute_steps = [], [], []
    for round_index in range(args.rounds):
        result = train_candidate(arch, data, settings, measure=False)
        if result.state != "complete":
            raise SystemExit(f"trainer {result.state}: {result.error}")
        trainer_rates.append(result.train_images_per_second)
        loader_rates.append(dataloader_epoch(arch, loader, device, args.epochs))
        compute_steps.append(compute_only_step_seconds(arch, data, args.batch_size, device))
        print(
            f"round {round_index + 1}: trainer {trainer_rates[-1]:,.0f} img/s, "
            f"DataLoader loop {loader_rates[-1]:,.0f} img/s",
            flush=True,
        )
    trainer_pipeline = pipeline_seconds_per_batch(device_batches, device, layout)
    loader_pipeline = pipeline_seconds_per_batch(loader, device, layout)

    trainer_rate, loader_rate = statistics.median(trainer_rates), statistics.median(loader_rates)
    compute_step = statistics.median(compute_steps)
    trainer_step, loader_step = args.batch_size / trainer_rate, args.batch_size / loader_rate
    rows = [
        ("trainer (on-device batches)", trainer_rate, trainer_pipeline, trainer_step),
        (f"DataLoader loop ({args.workers} workers)", loader_rate, loader_pipeline, loader_step),
    ]
    header = (
        f"{arch.name} ({arch.resolution} px), batch {args.batch_size}, {len(data.train):,} images, "
        f"crop+flip; {device_description(device)}; torch {torch.__version__}; {platform.machine()}"
    )
    print()
    print(header)
    print(f"compute-only step (fixed batch, no input pipeline): {compute_step * 1000:.1f} ms")
    lines = [
        "| pipeline | images/s | input pipeline per batch | share of a step |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, rate, pipeline, _ in rows:
        share = pipeline / (pipeline + compute_step)
        lines.append(f"| {name} | {rate:,.0f} | {pipeline * 1000:.2f} ms | {share:.1%} |")
    lines.append("")
    lines.append(
        f"Trainer / DataLoader loop: **{trainer_rate / loader_rate:.2f}x** images/s; the trainer's input "
        f"pipeline is {trainer_pipeline / (trainer_pipeline + compute_step):.1%} of its step time "
        "(target: at most 10%)."
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
