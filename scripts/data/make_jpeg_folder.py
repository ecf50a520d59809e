#!/usr/bin/env python3
"""A folder of generated JPEG photos for scale tests of Kiln's image-folder loader.

Writes OUT/<class>/<i>.jpg: N images of W x H (default 500 x 375, ImageNet's typical size) in C
classes, each a seeded random composition (a background gradient, ellipses and rectangles whose
colours depend on the class), saved by Pillow at quality 90. Deterministic for a seed.

Usage: python3 scripts/data/make_jpeg_folder.py OUT [--images 20000] [--classes 10] [--seed 0]
"""
import argparse, os, random

from PIL import Image, ImageDraw


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--images", type=int, default=20000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--size", default="500x375")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    w, h = map(int, a.size.split("x"))
    rng = random.Random(a.seed)
    for c in range(a.classes):
        os.makedirs(os.path.join(a.out, f"class{c:02}"), exist_ok=True)
    for i in range(a.images):
        c = i % a.classes
        hue = (c * 37) % 256
        img = Image.new("RGB", (w, h), (hue, rng.randrange(256), 255 - hue))
        d = ImageDraw.Draw(img)
        for _ in range(6):
            x0, y0 = rng.randrange(w), rng.randrange(h)
            x1, y1 = x0 + rng.randrange(20, 200), y0 + rng.randrange(20, 200)
            colour = ((hue + rng.randrange(60)) % 256, rng.randrange(256), (c * 91) % 256)
            (d.ellipse if rng.random() < 0.5 else d.rectangle)([x0, y0, x1, y1], fill=colour)
        img.save(os.path.join(a.out, f"class{c:02}", f"{i:06}.jpg"), quality=90)


if __name__ == "__main__":
    main()
