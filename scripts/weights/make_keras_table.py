#!/usr/bin/env python3
"""Kiln's weights-table entries for Keras's published `keras.applications` files.

Reads the file URLs and md5 hashes from Keras's own source (the installed `keras` package's
`keras/src/applications/{vgg16,vgg19,resnet,inception_v3}.py`: `WEIGHTS_PATH`,
`WEIGHTS_PATH_NO_TOP`, `WEIGHTS_HASHES`, the `file_hash=` of `get_file`), counts parameters by
building each model with `weights=None` (Keras's totals, moving statistics included), and adds
the accuracy and size of keras.io's "Available models" table
(https://keras.io/api/applications/: top-1/top-5 on ImageNet validation, single centre crop,
size in MB). Writes crates/kiln-train/assets/weights/keras.json in the format of
torchvision.json, with `md5` and `keras_mode` (Keras's `preprocess_input` mode) and Keras's
preprocessing as the transform (plain resize to the input, nearest: `load_img(target_size=...)`).

Usage: pip install keras torch h5py; KERAS_BACKEND=torch python3 scripts/weights/make_keras_table.py
"""
import inspect, json, os, re

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras  # noqa: E402
from keras.src.applications import inception_v3, resnet, vgg16, vgg19  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "crates", "kiln-train", "assets", "weights", "keras.json")

# keras.io/api/applications, "Available models": (size MB, top-1 %, top-5 %).
KERAS_IO = {
    "VGG16": (528, 71.3, 90.1),
    "VGG19": (549, 71.3, 90.0),
    "ResNet50": (98, 74.9, 92.1),
    "ResNet101": (171, 76.4, 92.8),
    "ResNet152": (232, 76.6, 93.1),
    "InceptionV3": (92, 77.9, 93.7),
}
CAFFE = ([103.939, 116.779, 123.68], [1.0, 1.0, 1.0])
TF = ([1.0, 1.0, 1.0], [1.0, 1.0, 1.0])


def hashes_in(module):
    """The two `file_hash="..."` literals of a module's source: (with top, no top)."""
    found = re.findall(r'file_hash="([0-9a-f]{32})"', inspect.getsource(module))
    assert len(found) == 2, (module.__name__, found)
    return found


def files():
    """(arch, Keras name, ctor, top url, top md5, notop url, notop md5, mode, size)."""
    out = []
    for arch, name, module, ctor in [("keras_vgg16", "VGG16", vgg16, keras.applications.VGG16),
                                     ("keras_vgg19", "VGG19", vgg19, keras.applications.VGG19)]:
        top, notop = hashes_in(module)
        out.append((arch, name, ctor, module.WEIGHTS_PATH, top, module.WEIGHTS_PATH_NO_TOP, notop, "caffe", 224))
    for depth in (50, 101, 152):
        key = f"resnet{depth}"
        top, notop = resnet.WEIGHTS_HASHES[key]
        base = resnet.BASE_WEIGHTS_PATH
        out.append((f"keras_resnet{depth}", f"ResNet{depth}", getattr(keras.applications, f"ResNet{depth}"),
                    f"{base}{key}_weights_tf_dim_ordering_tf_kernels.h5", top,
                    f"{base}{key}_weights_tf_dim_ordering_tf_kernels_notop.h5", notop, "caffe", 224))
    top, notop = hashes_in(inception_v3)
    out.append(("keras_inception_v3", "InceptionV3", keras.applications.InceptionV3, inception_v3.WEIGHTS_PATH,
                top, inception_v3.WEIGHTS_PATH_NO_TOP, notop, "tf", 299))
    return out


def entry(arch, name, url, md5, mode, size, params, top):
    mb, acc1, acc5 = KERAS_IO[name]
    mean, std = CAFFE if mode == "caffe" else TF
    return {
        "name": f"keras.applications.{name}" + ("" if top else ".notop"),
        "arch": arch,
        "url": url,
        "file": url.rsplit("/", 1)[-1],
        "sha256_prefix": None,
        "md5": md5,
        "keras_mode": mode,
        "categories": "imagenet-1k" if top else None,
        "num_classes": 1000 if top else None,
        "transform": {"resize": size, "crop": size, "interpolation": "nearest", "mean": mean, "std": std},
        "transform_input": False,
        # A `_notop` file holds the convolutional base only: it serves as a backbone.
        "features_only": None if top else "",
        "acc1": acc1 if top else None,
        "acc5": acc5 if top else None,
        "params": params,
        "gflops": None,
        "file_size_mb": float(mb) if top else None,
        "min_size": [32, 32] if mode == "caffe" else [75, 75],
        "recipe": None,
    }


def main():
    entries = []
    for arch, name, ctor, url, md5, url_notop, md5_notop, mode, size in files():
        params = ctor(weights=None).count_params()
        params_notop = ctor(weights=None, include_top=False).count_params()
        keras.backend.clear_session()
        entries.append(entry(arch, name, url, md5, mode, size, params, True))
        entries.append(entry(arch, name, url_notop, md5_notop, mode, size, params_notop, False))
        print(f"{name}: {params:,} parameters ({params_notop:,} without the top)")
    with open(OUT, "w") as f:
        json.dump({"source": f"keras {keras.__version__} keras.applications; keras.io/api/applications",
                   "entries": entries}, f, indent=1)
        f.write("\n")
    print(f"wrote {len(entries)} entries to {OUT}")


if __name__ == "__main__":
    main()
