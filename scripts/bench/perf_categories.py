#!/usr/bin/env python3
"""Kiln's per-op profile from `perf script` output (perf record -e cpu-clock --call-graph dwarf).

Each sample's stack is put in the first category any of its frames matches (innermost categories
first: a gemm called by the weight-gradient convolution counts as weight gradient), and the
shares are printed. The categories mirror torch_profile.py's.

Usage: perf script -i perf.data | python3 scripts/bench/perf_categories.py
"""
import re, sys

# (category, patterns) tried from the most specific; a sample goes to the first that matches any
# frame of its stack.
CATEGORIES = [
    ("conv weight gradient", [r"conv2d_weight_grad", r"weight_grad"]),
    ("conv input gradient", [r"conv_transpose2d", r"conv2d_x_backward", r"input_grad"]),
    ("conv forward", [r"conv2d", r"im2col", r"Conv2d"]),
    ("batch norm", [r"batch_norm", r"BatchNorm"]),
    ("pooling", [r"pool"]),
    ("matmul / linear", [r"matmul", r"Linear"]),
    ("optimizer", [r"optim", r"Sgd", r"momentum", r"Momentum"]),
    ("copies / layout", [r"into_contiguous", r"permute", r"copy", r"reshape", r"swap_dims", r"memcpy", r"memmove"]),
    ("element-wise", [r"binary", r"unary", r"relu", r"float_add", r"float_mul", r"float_sub", r"float_div", r"activation", r"mask"]),
]


def main():
    counts, total, stack = {}, 0, []
    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line.strip():
            if stack:
                cat = next((c for c, pats in CATEGORIES if any(re.search(p, f) for f in stack for p in pats)), "other")
                counts[cat] = counts.get(cat, 0) + 1
                total += 1
            stack = []
            continue
        if line.startswith((" ", "\t")):
            parts = line.strip().split(None, 1)
            if len(parts) == 2:
                stack.append(parts[1])
    for cat, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {cat:40s} {100 * n / total:5.1f}%  ({n} samples)")
    print(f"  {total} samples")


if __name__ == "__main__":
    main()
