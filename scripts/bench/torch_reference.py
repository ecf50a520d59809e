#!/usr/bin/env python3
"""The PyTorch side of `cargo xtask bench --compare`: one workload, timed as Kiln times it.

Same architecture (torchvision's models; LeNet-5 and ResNet's small-image stem as Kiln builds
them), same input, batch, optimizer (SGD, momentum 0.9, lr 0.01, cross-entropy) and thread count
(torch.set_num_threads); warm-up steps, then each timed step measured alone; prints one JSON line:
{"model", "mode", "input", "batch", "threads", "median_ms", "img_s", "torch"}.

Without torch importable, it makes a virtual environment (target/bench-venv, or $KILN_TORCH_VENV)
with torch and torchvision from PyPI and runs itself there. `--torch-version V` pins the version
(the tch backend's comparison uses 2.9.0).

Usage: python3 scripts/bench/torch_reference.py --model resnet18 --mode train --input 3x224x224 --batch 16
"""
import argparse, json, os, subprocess, sys, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def ensure_torch(version):
    try:
        import torch  # noqa: F401
        if version is None or torch.__version__.split("+")[0] == version:
            return
    except ImportError:
        pass
    if os.environ.get("KILN_TORCH_REEXEC"):
        sys.exit("torch is still not importable in the bench virtual environment")
    venv = os.environ.get("KILN_TORCH_VENV") or os.path.join(ROOT, "target", "bench-venv" + (f"-{version}" if version else ""))
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        print(f"installing torch into {venv} (from PyPI; once)", file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "venv", venv])
        spec = [f"torch=={version}"] if version else ["torch", "torchvision"]
        if version:
            spec.append("torchvision")
        subprocess.check_call([python, "-m", "pip", "install", "-q", *spec])
    os.environ["KILN_TORCH_REEXEC"] = "1"
    os.execv(python, [python, *sys.argv])


def build(name, in_ch, size, stem, num_classes):
    import torch.nn as nn
    import torchvision

    if name == "lenet5":
        class LeNet5(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv2d(in_ch, 6, 5, padding=2)
                self.conv2 = nn.Conv2d(6, 16, 5)
                self.fc1 = nn.Linear(16 * ((size // 2 - 4) // 2) ** 2, 120)
                self.fc2 = nn.Linear(120, 84)
                self.fc3 = nn.Linear(84, num_classes)

            def forward(self, x):
                import torch
                x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
                x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
                x = torch.flatten(x, 1)
                return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))

        return LeNet5()
    model = getattr(torchvision.models, name)(weights=None, num_classes=num_classes)
    if in_ch != 3 or stem == "small":
        if name.startswith("resnet"):
            k, s, p = (3, 1, 1) if stem == "small" else (7, 2, 3)
            model.conv1 = nn.Conv2d(in_ch, 64, k, s, p, bias=False)
            if stem == "small":
                model.maxpool = nn.Identity()
        else:
            raise SystemExit(f"{name}: only ResNets take another stem or channel count here")
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--mode", choices=["train", "infer"], default="train")
    ap.add_argument("--input", default="3x224x224")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--stem", choices=["small", "imagenet"], default=None)
    ap.add_argument("--classes", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--min-seconds", type=float, default=1.0,
                    help="more timed steps until they add up to this many seconds (as cargo xtask bench)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tf32", action="store_true")
    ap.add_argument("--torch-version", default=None)
    a = ap.parse_args()
    ensure_torch(a.torch_version)
    import torch

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    c, h, w = map(int, a.input.lower().split("x"))
    classes = a.classes or (10 if a.model == "lenet5" or c == 1 else 1000)
    stem = a.stem or ("small" if min(h, w) < 64 else "imagenet")
    device = torch.device(a.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
        torch.backends.cudnn.allow_tf32 = a.tf32
    model = build(a.model, c, h, stem, classes).to(device)
    x = torch.randn(a.batch, c, h, w, device=device)
    y = torch.randint(0, classes, (a.batch,), device=device)
    sync = (lambda: torch.cuda.synchronize()) if device.type == "cuda" else (lambda: None)
    if a.mode == "train":
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = torch.nn.CrossEntropyLoss()

        def step():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss.item()
    else:
        model.eval()

        def step():
            with torch.inference_mode():
                return model(x).sum().item()
    times = []
    i = 0
    while i < a.warmup + a.steps or sum(times) < a.min_seconds:
        sync()
        t = time.perf_counter()
        step()
        sync()
        if i >= a.warmup:
            times.append(time.perf_counter() - t)
        i += 1
    times.sort()
    median = times[len(times) // 2]
    print(json.dumps({"model": a.model, "mode": a.mode, "input": [c, h, w], "batch": a.batch, "threads": a.threads,
                      "median_ms": median * 1e3, "img_s": a.batch / median, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
