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

Usage: pip install torch torchvision pillow safetensors numpy; python3 scripts/parity/make_fixtures.py [--all-pth] [ARCH ...]
(with architectures named, only their fixtures are rewritten)
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
    if arch == "googlenet":
        # With its auxiliary heads (torchvision's builder default without weights; eval ignores them).
        return m.googlenet(weights=None, num_classes=NUM_CLASSES, aux_logits=True, init_weights=False), [2, 3, 64, 64]
    if arch == "alexnet":
        return m.alexnet(weights=None, num_classes=NUM_CLASSES), [2, 3, 64, 64]
    if arch.startswith("vgg"):
        return getattr(m, arch)(weights=None, num_classes=NUM_CLASSES), [2, 3, 32, 32]
    return getattr(m, arch)(weights=None, num_classes=NUM_CLASSES), [2, 3, 64, 64]


FIXED_GAIN_FAMILIES = ("lenet", "alexnet", "vgg", "inception", "resnet", "squeezenet", "resnext", "wide_resnet",
                       "densenet")


def gain(arch):
    """Weight scale per family, chosen so that logits stay O(1) and depend on the input."""
    if arch.startswith(("vgg", "alexnet", "squeezenet", "densenet")):
        # ReLU networks: He's gain. (SqueezeNet's and DenseNet's two images' logits differ by
        # about 1% of their magnitude at 64 px; no gain does much better, see search_gain.)
        return 1.41
    if arch == "inception_v3":
        return 2.0
    if not arch.startswith(FIXED_GAIN_FAMILIES):
        return search_gain(arch)
    return 1.0


def search_gain(arch):
    """The mobile families sit on a knife edge between a signal that dies (logits that no longer
    depend on the input: a weak test) and one that explodes (SE gates and residual sums, where
    rounding differences grow layer by layer). The smallest gain in 1.0, 1.1, ... (then finer
    steps and looser bounds) whose logits differ between the two inputs by a fair part of their
    magnitude, stay bounded, and are well conditioned: PyTorch's own float32 logits agree with its
    float64 ones within 2e-6 of their magnitude, so a 1e-4 tolerance measures Kiln, not rounding."""
    best = None  # (dependence, gain) of the best well-conditioned, bounded candidate
    for steps, top_max, dep_min in [(range(100, 401, 10), 1e3, 0.2), (range(100, 401, 2), 1e4, 0.1),
                                    (range(50, 401, 2), 1e4, 0.05)]:
        for hundredths in steps:
            g = hundredths / 100
            model, shape = build(arch.removesuffix("-v1"))
            if arch.endswith("-v1"):
                model._load_from_state_dict({}, "", {"version": 1}, False, [], [], [])
            model.eval()
            set_weights(model, g)
            x = formula_input(shape)
            logits = model(x)
            top = logits.abs().max().item()
            if not math.isfinite(top) or top > top_max:
                continue
            exact = model.double()(x.double())
            if (logits.double() - exact).abs().max().item() / top > 2e-6:
                continue
            dep = (logits[0] - logits[1]).abs().max().item() / top
            if dep >= dep_min:
                return g
            if best is None or dep > best[0]:
                best = (dep, g)
    if best is not None:
        print(f"{arch}: no gain reaches 5% input dependence; the best well-conditioned one ({best[0]:.3f}) is used")
        return best[1]
    raise SystemExit(f"{arch}: no gain in [1, 4] gives input-dependent, bounded logits")


ARCHS = ["lenet5", "alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn",
         "vgg19_bn", "inception_v3", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
         # The mobile families (issue 16). Kiln's CI checks the smallest of each; the others when
         # KILN_PARITY_ALL=1 (their formula weights take longer to generate and run).
         "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
         "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3", "efficientnet_b4",
         "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
         "efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l",
         "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3",
         "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
         "squeezenet1_0", "squeezenet1_1",
         # Issue 17.
         "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2",
         "densenet121", "densenet161", "densenet169", "densenet201",
         "googlenet", "convnext_tiny", "convnext_small", "convnext_base", "convnext_large",
         "regnet_x_400mf", "regnet_x_800mf", "regnet_x_1_6gf", "regnet_x_3_2gf", "regnet_x_8gf", "regnet_x_16gf", "regnet_x_32gf", "regnet_y_400mf", "regnet_y_800mf", "regnet_y_1_6gf", "regnet_y_3_2gf", "regnet_y_8gf", "regnet_y_16gf", "regnet_y_32gf"]


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


def mnasnet_v1_fixture():
    """MNASNet 0.5 with the version-1 stem (32 → 16 channels, unscaled), as torchvision builds it
    when loading a checkpoint whose metadata says version 1 (files saved before torchvision 0.5):
    its `_load_from_state_dict` patches the stem in; here it is called on an empty state dict to
    get the patched model, whose formula weights and logits go to mnasnet0_5-v1.json."""
    model, shape = build("mnasnet0_5")
    model._load_from_state_dict({}, "", {"version": 1}, False, [], [], [])
    model.eval()
    g = search_gain("mnasnet0_5-v1")
    sd = set_weights(model, g)
    logits = model(formula_input(shape))
    keys = [[k, list(v.shape)] for k, v in sd.items() if v.dtype.is_floating_point]
    assert keys[0] == ["layers.0.weight", [32, 3, 3, 3]], keys[0]
    with open(os.path.join(OUT, "mnasnet0_5-v1.json"), "w") as f:
        json.dump({"arch": "mnasnet0_5", "num_classes": NUM_CLASSES, "gain": g, "input": shape, "keys": keys,
                   "logits": logits.tolist()}, f)
    print(f"mnasnet0_5-v1: {len(keys)} tensors, logits max {logits.abs().max().item():.4g}")


def main():
    os.makedirs(OUT, exist_ok=True)
    all_pth = "--all-pth" in sys.argv
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    torch.set_grad_enabled(False)
    for arch in ([a for a in only if a in ARCHS] if only else ARCHS):
        model, shape = build(arch)
        model.eval()
        g = gain(arch)
        sd = set_weights(model, g)
        x = formula_input(shape)
        logits = model(x)
        keys = [[k, list(v.shape)] for k, v in sd.items() if v.dtype.is_floating_point]
        spread = (logits[0] - logits[1]).abs().max().item() / logits.abs().max().item()
        with open(os.path.join(OUT, f"{arch}.json"), "w") as f:
            json.dump({"arch": arch, "num_classes": NUM_CLASSES, "gain": g, "input": shape, "keys": keys,
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

    if not only or "mnasnet0_5-v1" in only:
        mnasnet_v1_fixture()
    if only:
        return
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
