#!/usr/bin/env python3
"""The PyTorch side of `cargo xtask bench --convs`: convolutions one by one, as Kiln times them.

For each layer (c_in, c_out, kernel, stride, padding, input size) at the given batch: the median
milliseconds of `F.conv2d` (forward) and of `aten.convolution_backward` for the input gradient and
for the weight gradient alone, each after one warm-up. Prints one JSON line:
{"torch": version, "layers": [{"forward", "input_grad", "weight_grad"}, ...]}.

Usage: python3 scripts/bench/torch_convs.py --batch 16 --reps 5 --threads 2 --layers "64,64,3,1,1,56;..."
"""
import argparse, json, os, sys, time

sys.path.insert(0, os.path.dirname(__file__))
from torch_reference import ensure_torch  # noqa: E402


def median_ms(reps, f):
    f()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--layers", required=True)
    ap.add_argument("--torch-version")
    a = ap.parse_args()
    ensure_torch(a.torch_version)
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    out = []
    with torch.no_grad():
        for spec in a.layers.split(";"):
            ci, co, k, s, p, n = (int(v) for v in spec.split(","))
            x = torch.randn(a.batch, ci, n, n)
            w = torch.randn(co, ci, k, k) * 0.1
            o = (n + 2 * p - k) // s + 1
            dy = torch.randn(a.batch, co, o, o)

            def backward(mask):
                return torch.ops.aten.convolution_backward(dy, x, w, None, [s, s], [p, p], [1, 1], False, [0, 0], 1, mask)

            out.append({
                "forward": median_ms(a.reps, lambda: F.conv2d(x, w, None, s, p)),
                "input_grad": median_ms(a.reps, lambda: backward([True, False, False])),
                "weight_grad": median_ms(a.reps, lambda: backward([False, True, False])),
            })
    print(json.dumps({"torch": torch.__version__, "layers": out}))


if __name__ == "__main__":
    main()
