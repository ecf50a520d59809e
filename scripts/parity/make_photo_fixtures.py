#!/usr/bin/env python3
"""Preprocessing and logits on real photos, made by Pillow and torchvision, for Kiln's tests.

Writes crates/kiln/tests/fixtures/photos/:

- resize.json: Pillow's `Image.resize` of PNG photos (after `convert('RGB')` or `convert('L')`)
  to many sizes, BILINEAR and BICUBIC, up and down: the sha256 of the resized bytes and each
  row's sum (to locate a difference). Kiln's resampler must give the same bytes.
- <photo>.crop.png for each JPEG photo: torchvision's `Resize(256)` + `CenterCrop(224)` of
  `Image.open(p).convert('RGB')` as uint8, so the tests can measure how far Kiln's JPEG decoder
  (the `image` crate's) is from Pillow's libjpeg-turbo.
- logits.json: for ResNet-50 (entries IMAGENET1K_V1, resize 256, and IMAGENET1K_V2, resize
  232) and Inception v3 (IMAGENET1K_V1: resize 342, crop 299, transform_input=True) with the
  formula weights of make_fixtures.py and 1,000 classes: `model(weights.transforms()(img))` per
  photo, with statistics of the input tensor.
- datasets/samples/chelsea-q90.jpg: chelsea.png saved by Pillow as a JPEG (quality 90, 4:2:0).

Usage: pip install torch torchvision pillow numpy; python3 scripts/parity/make_photo_fixtures.py
"""
import hashlib, json, os, sys

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision.models import Inception_V3_Weights, ResNet50_Weights

sys.path.insert(0, os.path.dirname(__file__))
from make_fixtures import ROOT, set_weights  # noqa: E402

OUT = os.path.join(ROOT, "crates", "kiln", "tests", "fixtures", "photos")
SAMPLES = os.path.join(ROOT, "datasets", "samples")
PNGS = ["chelsea.png", "coffee.png"]
JPEGS = ["rocket.jpg", "chelsea-q90.jpg"]
# (width, height) targets: torchvision's usual sizes for each photo's shape, odd sizes,
# upscaling, tiny, and one dimension unchanged (Pillow skips that pass).
# Weight scales at these input sizes: logits O(1-10) that differ between photos by a third of
# their range (make_fixtures.py's gains are for its small inputs).
PHOTO_GAIN = {"resnet50": 1.0, "inception_v3": 1.6}
SIZES = [(385, 256), (348, 232), (514, 342), (256, 256), (97, 61), (1000, 700), (28, 28), (451, 150), (200, 300)]


def resize_cases():
    cases = []
    for photo in PNGS:
        for mode in ["RGB", "L"]:
            img = Image.open(os.path.join(SAMPLES, photo)).convert(mode)
            for size in SIZES:
                for name, f in [("bilinear", Image.Resampling.BILINEAR), ("bicubic", Image.Resampling.BICUBIC)]:
                    out = np.asarray(img.resize(size, f))
                    cases.append({"photo": photo, "mode": mode, "size": list(size), "filter": name,
                                  "sha256": hashlib.sha256(out.tobytes()).hexdigest(),
                                  "row_sums": out.reshape(out.shape[0], -1).sum(axis=1, dtype=np.int64).tolist()})
    return cases


def model_for(arch, weights):
    m = torchvision.models
    if arch == "inception_v3":
        model = m.inception_v3(weights=None, num_classes=1000, aux_logits=True, init_weights=False,
                               transform_input=True)
    else:
        model = getattr(m, arch)(weights=None, num_classes=1000)
    model.eval()
    set_weights(model, PHOTO_GAIN[arch])
    return model


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_grad_enabled(False)
    Image.open(os.path.join(SAMPLES, "chelsea.png")).convert("RGB").save(
        os.path.join(SAMPLES, "chelsea-q90.jpg"), quality=90, subsampling="4:2:0")

    with open(os.path.join(OUT, "resize.json"), "w") as f:
        json.dump({"pillow": Image.__version__, "cases": resize_cases()}, f)

    crop = torchvision.transforms.Compose([torchvision.transforms.Resize(256), torchvision.transforms.CenterCrop(224)])
    for photo in JPEGS:
        crop(Image.open(os.path.join(SAMPLES, photo)).convert("RGB")).save(os.path.join(OUT, f"{photo}.crop.png"))

    rows = []
    for arch, entries in [("resnet50", [ResNet50_Weights.IMAGENET1K_V1, ResNet50_Weights.IMAGENET1K_V2]),
                          ("inception_v3", [Inception_V3_Weights.IMAGENET1K_V1])]:
        model = model_for(arch, entries[0])
        for w in entries:
            tf = w.transforms()
            for photo in PNGS + JPEGS:
                x = tf(Image.open(os.path.join(SAMPLES, photo)).convert("RGB")).unsqueeze(0)
                logits = model(x)[0]
                rows.append({"arch": arch, "weights": f"{type(w).__name__}.{w.name}", "file": w.url.rsplit("/", 1)[1],
                             "gain": PHOTO_GAIN[arch], "photo": photo, "input_shape": list(x.shape),
                             "input_sum": x.double().sum().item(), "input_sq_sum": (x.double() ** 2).sum().item(),
                             "logits": logits.tolist()})
                print(f"{arch} {w.name} {photo}: top-1 {logits.argmax().item()}, "
                      f"max |logit| {logits.abs().max().item():.3g}")
    with open(os.path.join(OUT, "logits.json"), "w") as f:
        json.dump({"torch": torch.__version__, "torchvision": torchvision.__version__, "rows": rows}, f)


if __name__ == "__main__":
    main()
