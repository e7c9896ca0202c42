#!/usr/bin/env bash
# The GPU measurements of benchmarks/README.md in one go, on one CUDA machine, most important first, each part
# capped so that the whole suite ends within the time given (default 560 s): the digits demo search at 4
# trials per GPU, the CIFAR-shaped search at 1, 2 and 4 trials per GPU (slot use, trials per hour: how many
# trials a GPU should take), the least slot time a digits search at 4 trials per GPU pays before its first
# training step, an ImageNet-shaped trial's speed and memory, cuDNN autotuning and compilation against trial
# length, and which count ranks GPU latency.
#
#   bash benchmarks/gpu_suite.sh [OUTPUT_DIR] [SECONDS]      # PYTHON=python3 by default
#
# Each part's output goes to OUTPUT_DIR (default gpu-results/) as NN_name.txt (9 files), and to the terminal.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-results}
end=$(($(date +%s) + ${2:-560}))
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD"

part() {  # part NAME CAP_SECONDS COMMAND...: runs COMMAND for at most CAP seconds and what the suite has left
    local name=$1 cap=$2 left
    shift 2
    left=$((end - $(date +%s)))
    ((left < cap)) && cap=$left
    if ((cap < 15)); then
        echo "== $name: skipped, the suite's time is spent" | tee "$out/$name.txt"
        return
    fi
    echo "== $name (at most ${cap} s): $*" | tee "$out/$name.txt"
    timeout --signal=INT --kill-after=10 "$cap" "$@" 2>&1 | tee -a "$out/$name.txt"
    echo "== $name: exit ${PIPESTATUS[0]}" | tee -a "$out/$name.txt"
}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    nproc
    "$py" -c "import torch, ray, optuna; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'cudnn', torch.backends.cudnn.version(), 'ray', ray.__version__, 'optuna', optuna.__version__)"
} 2>&1 | tee "$out/00_machine.txt"

digits=(benchmarks/search_throughput.py --space digits --device cuda --cpus-per-trial 1)
cifar=(benchmarks/search_throughput.py --space cifar --device cuda --cpus-per-trial 1)
part 01_search_digits_4_per_gpu 100 "$py" "${digits[@]}" --gpus-per-trial 0.25 --per-trial
part 02_search_cifar_1_per_gpu 90 "$py" "${cifar[@]}" --gpus-per-trial 1
part 03_search_cifar_2_per_gpu 90 "$py" "${cifar[@]}" --gpus-per-trial 0.5
part 04_search_cifar_4_per_gpu 90 "$py" "${cifar[@]}" --gpus-per-trial 0.25
part 05_slot_floor_digits_4_per_gpu 90 "$py" benchmarks/slot_floor.py --space digits --device cuda \
    --gpus-per-trial 0.25 --rounds 2 --floor-only
part 06_trial_length_imagenet 80 "$py" benchmarks/trial_length.py --device cuda --sets imagenet --archs 2 \
    --epochs 3 --compile-archs 0
part 07_trial_length 150 "$py" benchmarks/trial_length.py --device cuda --sets digits,cifar --archs 3 \
    --epochs 5 --compile-archs 1
part 08_latency_predictors 80 "$py" benchmarks/latency_predictors.py --device cuda --rounds 3
echo "suite done: $(($(date +%s) - end + ${2:-560})) s"
