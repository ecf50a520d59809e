#!/usr/bin/env python3
"""Image modes and formats as Pillow converts them, for Kiln's decoding tests.

From a 64x48 crop of datasets/samples/chelsea.png, writes crates/kiln/tests/fixtures/modes/:
grey (L), grey + alpha (LA), RGBA and palette (P) PNGs, a CMYK JPEG, a 16-bit grey PNG (I;16),
and the RGB image as BMP, TIFF, lossless WebP and PPM (and the grey one as PGM); modes.json holds,
per file, the sha256 of `Image.open(f).convert('RGB')` and `.convert('L')` as bytes.

Usage: pip install pillow numpy; python3 scripts/parity/make_mode_fixtures.py
"""
import hashlib, json, os

import numpy as np
from PIL import Image

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "crates", "kiln", "tests", "fixtures", "modes")


def main():
    os.makedirs(OUT, exist_ok=True)
    rgb = Image.open(os.path.join(ROOT, "datasets", "samples", "chelsea.png")).convert("RGB").crop((200, 60, 264, 108))
    alpha = Image.fromarray((np.arange(64 * 48).reshape(48, 64) * 5 % 256).astype(np.uint8))
    grey = rgb.convert("L")
    files = {
        "grey.png": grey,
        "grey-alpha.png": Image.merge("LA", (grey, alpha)),
        "rgba.png": Image.merge("RGBA", (*rgb.split(), alpha)),
        "palette.png": rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=64),
        "cmyk.jpg": rgb.convert("CMYK"),
        "rgb.bmp": rgb,
        "rgb.tiff": rgb,
        "rgb.webp": rgb,
        "rgb.ppm": rgb,
        "grey.pgm": grey,
    }
    for name, img in files.items():
        path = os.path.join(OUT, name)
        if name.endswith(".webp"):
            img.save(path, lossless=True)
        elif name.endswith(".jpg"):
            img.save(path, quality=95)
        else:
            img.save(path)
    wide = (np.asarray(grey).astype(np.uint16) * 257).astype(np.uint16)
    Image.fromarray(wide).save(os.path.join(OUT, "grey16.png"))
    # JPEG decoders differ by a few levels (IDCT, upsampling): the JPEG's conversion is also kept
    # as pixels, for a comparison with a tolerance.
    Image.open(os.path.join(OUT, "cmyk.jpg")).convert("RGB").save(os.path.join(OUT, "cmyk.jpg.rgb.png"))
    rows = {}
    for name in sorted(os.listdir(OUT)):
        if name.endswith(".json") or name.endswith(".rgb.png"):
            continue
        img = Image.open(os.path.join(OUT, name))
        rows[name] = {
            "mode": img.mode,
            "size": list(img.size),
            "rgb": hashlib.sha256(np.asarray(img.convert("RGB")).tobytes()).hexdigest(),
            "l": hashlib.sha256(np.asarray(img.convert("L")).tobytes()).hexdigest(),
        }
        print(name, img.mode)
    with open(os.path.join(OUT, "modes.json"), "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
