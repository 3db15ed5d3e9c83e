#!/usr/bin/env python3
"""PyTorch's throughput on the benchmark of bench/bench.ts, for a side-by-side on the same CPU.

    python bench/pytorch_bench.py [--threads N] [--repeats R] [--json]

resnext50_32x4d at 224x224 (torchvision, float32, channels_last as PyTorch recommends for CPU
convolutions): inference at batch 1 and 8 (eval, no_grad) and a training step at batch 16
(forward, cross-entropy, backward, SGD with momentum). Medians over R repeats after a warm-up.
Runs in the fixture generator's environment (test/fixtures/generator/make-venv.sh).
"""
import argparse
import json
import statistics
import time

import torch
import torchvision


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: allocation, kernel selection
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = torchvision.models.resnext50_32x4d().to(memory_format=torch.channels_last)

    results = {"torch": torch.__version__, "threads": args.threads, "cpu": torch.backends.cpu.get_cpu_capability()}
    model.eval()
    for batch in (1, 8):
        x = torch.randn(batch, 3, 224, 224).to(memory_format=torch.channels_last)

        def infer(x=x):
            with torch.no_grad():
                model(x)

        results[f"inference_bs{batch}_img_s"] = batch / median_seconds(infer, args.repeats)

    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(16, 3, 224, 224).to(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (16,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    results["training_bs16_img_s"] = 16 / median_seconds(step, max(3, args.repeats // 2))
    if args.json:
        print(json.dumps(results))
    else:
        for key, value in results.items():
            print(f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    main()
