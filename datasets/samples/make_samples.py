#!/usr/bin/env python3
"""Write real MNIST test digits as PNG files for `predict` tests and demos (standard library only).

- mnist-test-<index>-label-<label>.png: the 28x28 test image as it is (white digit on black).
- scan-mnist-test-<index>-label-<label>.png: the same digit enlarged 3x (nearest neighbour) and
  inverted to dark ink on white paper, as a scan or photo of a handwritten digit looks.

Usage: python3 datasets/samples/make_samples.py
"""
import gzip, os, struct, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
MNIST = os.path.join(HERE, "..", "mnist")
INDICES = [0, 1, 2, 3, 4]


def png(path, width, height, rows):
    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


images = gzip.open(os.path.join(MNIST, "t10k-images-idx3-ubyte.gz")).read()[16:]
labels = gzip.open(os.path.join(MNIST, "t10k-labels-idx1-ubyte.gz")).read()[8:]
for i in INDICES:
    px = images[i * 784:(i + 1) * 784]
    rows = [px[r * 28:(r + 1) * 28] for r in range(28)]
    png(os.path.join(HERE, f"mnist-test-{i}-label-{labels[i]}.png"), 28, 28, rows)
    big = [[255 - v for v in row for _ in range(3)] for row in rows for _ in range(3)]
    png(os.path.join(HERE, f"scan-mnist-test-{i}-label-{labels[i]}.png"), 84, 84, big)
    print(f"index {i}: label {labels[i]}")
