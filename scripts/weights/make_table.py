#!/usr/bin/env python3
"""Kiln's weights table, generated from the installed torchvision (its `*_Weights` enums).

For every architecture in Kiln's registry (ARCHS below), every ImageNet-1k checkpoint torchvision
publishes: the entry's name as torchvision spells it (`ResNet50_Weights.IMAGENET1K_V2`), the URL
and file name, the sha256 prefix in the file name (what torch.hub checks), the class count, the
evaluation transform (resize, crop, interpolation, mean, std), Inception's `transform_input`
(torchvision's builders set it to True whenever weights are given), the part of the model that
holds valid values when the classifier does not (VGG-16's IMAGENET1K_FEATURES), and the
published acc@1 / acc@5, parameter count, GFLOPS and file size.

Writes crates/kiln-train/assets/weights/torchvision.json and imagenet-1k.txt (the 1,000 category
names, one per line, by class index).

Usage: pip install torch torchvision; python3 scripts/weights/make_table.py
"""
import json, math, os, re

import torchvision
from torchvision.models import get_model_weights
from torchvision.models._meta import _IMAGENET_CATEGORIES

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "crates", "kiln-train", "assets", "weights")

# Kiln's registry, in registry order (LeNet-5 has no published weights).
ARCHS = ["alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
         "inception_v3", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
         "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
         "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3", "efficientnet_b4",
         "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
         "efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l",
         "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3",
         "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
         "squeezenet1_0", "squeezenet1_1",
         "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2",
         "densenet121", "densenet161", "densenet169", "densenet201",
         "googlenet", "convnext_tiny", "convnext_small", "convnext_base", "convnext_large",
         "regnet_x_400mf", "regnet_x_800mf", "regnet_x_1_6gf", "regnet_x_3_2gf", "regnet_x_8gf", "regnet_x_16gf", "regnet_x_32gf", "regnet_y_400mf", "regnet_y_800mf", "regnet_y_1_6gf", "regnet_y_3_2gf", "regnet_y_8gf", "regnet_y_16gf", "regnet_y_32gf"]

# torchvision's builders that set transform_input=True when weights are given.
TRANSFORM_INPUT = {"inception_v3", "googlenet"}

# Weights whose classifier holds no valid values, and the module that does.
FEATURES_ONLY = {"VGG16_Weights.IMAGENET1K_FEATURES": "features."}


def finite(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def entry(arch, w):
    name = f"{type(w).__name__}.{w.name}"
    file = w.url.rsplit("/", 1)[1]
    # torch.hub's HASH_REGEX: the sha256 prefix between the last '-' and the extension.
    m = re.search(r"-([a-f0-9]*)\.", file)
    t = w.transforms()
    meta = w.meta
    metrics = meta.get("_metrics", {}).get("ImageNet-1K", {})
    categories = meta.get("categories")
    if categories is not None:
        assert list(categories) == list(_IMAGENET_CATEGORIES), name
    return {
        "name": name,
        "arch": arch,
        "url": w.url,
        "file": file,
        "sha256_prefix": m.group(1) if m else None,
        "categories": "imagenet-1k" if categories else None,
        "num_classes": len(categories) if categories else None,
        "transform": {
            "resize": t.resize_size[0],
            "crop": t.crop_size[0],
            "interpolation": t.interpolation.value,
            "mean": list(t.mean),
            "std": list(t.std),
        },
        "transform_input": arch in TRANSFORM_INPUT,
        "features_only": FEATURES_ONLY.get(name),
        "acc1": finite(metrics.get("acc@1")),
        "acc5": finite(metrics.get("acc@5")),
        "params": meta.get("num_params"),
        "gflops": meta.get("_ops"),
        "file_size_mb": meta.get("_file_size"),
        "min_size": list(meta.get("min_size", (1, 1))),
        "recipe": meta.get("recipe"),
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    entries = [entry(arch, w) for arch in ARCHS for w in get_model_weights(arch)]
    table = {"source": f"torchvision {torchvision.__version__}", "entries": entries}
    with open(os.path.join(OUT, "torchvision.json"), "w") as f:
        # One entry per line: diffs between torchvision versions stay readable.
        f.write('{"source": %s,\n "entries": [\n' % json.dumps(table["source"]))
        f.write(",\n".join("  " + json.dumps(e) for e in entries))
        f.write("\n]}\n")
    with open(os.path.join(OUT, "imagenet-1k.txt"), "w") as f:
        f.write("\n".join(_IMAGENET_CATEGORIES) + "\n")
    print(f"{len(entries)} entries from torchvision {torchvision.__version__}")


if __name__ == "__main__":
    main()
