#!/usr/bin/env python3
"""Parity fixtures for Kiln's weight import, produced by the reference implementation (torchvision).

For every architecture of Kiln's registry this script builds the torchvision model, sets every
parameter and buffer by a deterministic formula of (key, index) that Kiln's Rust tests also
implement (`crates/kiln/tests/kiln/parity.rs`), runs a fixed input through it in eval mode and
writes crates/kiln/tests/fixtures/parity/<arch>.json:

    {"arch", "num_classes", "gain", "input": [N, C, H, W], "keys": [[name, shape], ...], "logits": [[...]]}

The Rust test regenerates the weights from the key list, writes them as a .safetensors file in
torchvision's layout, imports it with Kiln's importer and compares logits (1e-4 relative).

It also writes real files for the .pth path (torch.save of the state dict) and the .safetensors
path (safetensors.torch.save_file):
- committed, small: lenet5.pth, lenet5.safetensors, and the .pth's wrapped variants (under a top-level "state_dict" key,
  with a DataParallel "module." prefix, with a Lightning "model." prefix), a pickle with a
  malicious __reduce__, and the real-image parity case (resnet18 on a photo);
- not committed (large): target/parity/<arch>.{pth,safetensors} (resnet18 always, every
  architecture with --all-pth); the Rust test uses them
  when present and says it skipped them otherwise.

Usage: pip install torch torchvision pillow safetensors numpy; python3 scripts/parity/make_fixtures.py [--all-pth]
"""
import json, math, os, sys

import numpy as np
import safetensors.torch
import torch
import torch.nn as nn
import torchvision
from PIL import Image
from torchvision import transforms

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "crates", "kiln", "tests", "fixtures", "parity")
BIG = os.path.join(ROOT, "target", "parity")
NUM_CLASSES = 10


class LeNet5(nn.Module):
    """The reference LeNet-5 Kiln implements: k5 (pad 2), max pool 2, k5, max pool 2, 120, 84, 10."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def build(arch):
    """(model, input [N, C, H, W]) for a registry name."""
    m = torchvision.models
    if arch == "lenet5":
        return LeNet5(NUM_CLASSES), [2, 1, 28, 28]
    if arch == "inception_v3":
        return m.inception_v3(weights=None, num_classes=NUM_CLASSES, aux_logits=True, init_weights=False), [2, 3, 75, 75]
    if arch == "alexnet":
        return m.alexnet(weights=None, num_classes=NUM_CLASSES), [2, 3, 64, 64]
    if arch.startswith("vgg"):
        return getattr(m, arch)(weights=None, num_classes=NUM_CLASSES), [2, 3, 32, 32]
    return getattr(m, arch)(weights=None, num_classes=NUM_CLASSES), [2, 3, 64, 64]


def gain(arch):
    """Weight scale per family, chosen so that logits stay O(1) and depend on the input."""
    if arch.startswith(("vgg", "alexnet")):
        return 1.41
    if arch == "inception_v3":
        return 2.0
    return 1.0


ARCHS = ["lenet5", "alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn",
         "vgg19_bn", "inception_v3", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]


def key_hash(key):
    """FNV-1a, 64 bits, of the key's UTF-8 bytes."""
    h = 0xCBF29CE484222325
    for b in key.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def uniform(seed, n):
    """splitmix64 of seed + i, as floats in [0, 1): exact integer arithmetic, so Rust and numpy
    produce the same bits."""
    with np.errstate(over="ignore"):
        z = (np.arange(n, dtype=np.uint64) + np.uint64(seed)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def formula(key, shape, gain):
    """The weight formula Kiln's test implements too (float64, then rounded to float32)."""
    n = math.prod(shape)
    u = uniform(key_hash(key), n)
    s = 2.0 * u - 1.0
    if key.endswith("running_var"):
        v = 0.5 + 0.5 * u
    elif key.endswith("running_mean"):
        v = 0.1 * s
    elif len(shape) >= 2:
        fan_in = n // shape[0]
        v = s * gain * math.sqrt(3.0 / fan_in)
    elif key.endswith("weight"):
        v = 0.5 + 0.5 * u
    else:
        v = 0.01 * s
    return torch.from_numpy(v.astype(np.float32)).reshape(shape)


def formula_input(shape):
    i = torch.arange(math.prod(shape), dtype=torch.float64)
    return torch.sin(i * 0.37 + 0.5).to(torch.float32).reshape(shape)


def set_weights(model, gain):
    sd = model.state_dict()
    for k, v in sd.items():
        if v.dtype.is_floating_point:
            v.copy_(formula(k, list(v.shape), gain))
    return sd


def main():
    os.makedirs(OUT, exist_ok=True)
    all_pth = "--all-pth" in sys.argv
    torch.set_grad_enabled(False)
    for arch in ARCHS:
        model, shape = build(arch)
        model.eval()
        sd = set_weights(model, gain(arch))
        x = formula_input(shape)
        logits = model(x)
        keys = [[k, list(v.shape)] for k, v in sd.items() if v.dtype.is_floating_point]
        spread = (logits[0] - logits[1]).abs().max().item() / logits.abs().max().item()
        with open(os.path.join(OUT, f"{arch}.json"), "w") as f:
            json.dump({"arch": arch, "num_classes": NUM_CLASSES, "gain": gain(arch), "input": shape, "keys": keys,
                       "logits": logits.tolist()}, f)
        print(f"{arch}: {len(keys)} tensors, logits max {logits.abs().max().item():.4g}, "
              f"input dependence {spread:.3f}")
        floats = {k: v.contiguous() for k, v in sd.items() if v.dtype.is_floating_point}
        if arch == "lenet5":
            safetensors.torch.save_file(floats, os.path.join(OUT, "lenet5.safetensors"))
            torch.save(sd, os.path.join(OUT, "lenet5.pth"))
            torch.save({"state_dict": sd, "epoch": 3}, os.path.join(OUT, "lenet5-wrapped.pth"))
            torch.save({"module." + k: v for k, v in sd.items()}, os.path.join(OUT, "lenet5-dataparallel.pth"))
            torch.save({"model." + k: v for k, v in sd.items()}, os.path.join(OUT, "lenet5-lightning.pth"))
        if all_pth or arch in ("resnet18",):
            os.makedirs(BIG, exist_ok=True)
            torch.save(sd, os.path.join(BIG, f"{arch}.pth"))
            safetensors.torch.save_file(floats, os.path.join(BIG, f"{arch}.safetensors"))

    # A pickle whose __reduce__ would run a shell command when unpickled by pickle/torch.load
    # with weights_only=False. Kiln's reader must refuse it without running anything.
    class Exploit:
        def __reduce__(self):
            return (os.system, ("touch /tmp/kiln-pickle-exploit-ran",))

    torch.save({"conv1.weight": Exploit()}, os.path.join(OUT, "malicious.pth"))

    # Real-image parity: torchvision's ImageNet preprocessing of a real photo, then resnet18 with
    # the formula weights.
    photo = os.path.join(ROOT, "datasets", "samples", "chelsea.png")
    tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    x = tf(Image.open(photo).convert("RGB")).unsqueeze(0)
    model, _ = build("resnet18")
    model.eval()
    set_weights(model, gain("resnet18"))
    with open(os.path.join(OUT, "resnet18-chelsea.json"), "w") as f:
        json.dump({"image": "datasets/samples/chelsea.png", "input_sum": x.sum().item(),
                   "input_first": x.flatten()[:16].tolist(), "logits": model(x).tolist()}, f)
    print("resnet18-chelsea: done")


if __name__ == "__main__":
    main()
