#!/usr/bin/env python3
"""PyTorch's per-op profile of one bench workload (the other side of docs/performance.md).

Runs the workload of torch_reference.py under torch.profiler for a few steps after warm-up and
prints self CPU time per op category, as a percentage and in ms per step:
conv forward, conv backward (input and weight gradient together: aten::convolution_backward),
batch norm (forward and backward), pooling, element-wise (ReLU, add, ...), optimizer, copies,
other.

Usage: python3 scripts/bench/torch_profile.py --model resnet18 --mode train --input 3x224x224 --batch 16
"""
import os, sys

sys.path.insert(0, os.path.dirname(__file__))
import torch_reference as ref  # noqa: E402

CATEGORIES = [
    ("conv backward (input + weight grad)", ["convolution_backward", "conv_depthwise2d_backward"]),
    ("conv forward", ["convolution", "conv2d", "mkldnn_convolution", "_convolution"]),
    ("batch norm", ["batch_norm"]),
    ("pooling", ["pool"]),
    ("matmul / linear", ["addmm", "mm", "linear", "matmul"]),
    ("optimizer", ["_foreach", "sgd"]),
    ("element-wise", ["relu", "threshold", "add", "mul", "div", "sub", "fill", "zero", "neg", "sum", "mean", "log_softmax", "nll"]),
    ("copies / layout", ["copy", "contiguous", "clone", "view", "reshape", "permute", "transpose", "empty", "as_strided"]),
]


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--mode", default="train")
    ap.add_argument("--input", default="3x224x224")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    ref.ensure_torch(None)
    import torch
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(a.threads)
    c, h, w = map(int, a.input.split("x"))
    stem = "small" if min(h, w) < 64 else "imagenet"
    classes = 10 if a.model == "lenet5" or c == 1 else 1000
    model = ref.build(a.model, c, h, stem, classes)
    x, y = torch.randn(a.batch, c, h, w), torch.randint(0, classes, (a.batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        if a.mode == "train":
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        else:
            with torch.inference_mode():
                model.eval()(x)

    for _ in range(2):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(a.steps):
            step()
    totals = {}
    for e in prof.key_averages():
        name = e.key.lower()
        cat = next((c for c, keys in CATEGORIES if any(k in name for k in keys)), "other")
        totals[cat] = totals.get(cat, 0.0) + e.self_cpu_time_total / 1e3 / a.steps
    total = sum(totals.values())
    print(f"PyTorch {torch.__version__}: {a.model} {a.mode} {a.input} batch {a.batch}: {total:.1f} ms of op time per step")
    for cat, ms in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {cat:40s} {ms:8.1f} ms  {100 * ms / total:5.1f}%")


if __name__ == "__main__":
    main()
