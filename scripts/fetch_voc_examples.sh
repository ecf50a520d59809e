#!/usr/bin/env bash
# Fetches the real Pascal VOC 2011 examples (boxes as VOC XML, class masks as palette PNGs, COCO
# JSON) that PyPI's labelme 6.3.1 source distribution ships, checks the archive's sha256, and
# extracts only the example folders into data/voc-examples/. Used by the format smoke test
# (`voc_and_coco_examples_from_labelme_read`), which skips when they are absent.
# The labelme package is GPL-3.0; its example images come from Pascal VOC 2011 (Flickr terms).
# Nothing from it is committed to this repository.
set -euo pipefail
cd "$(dirname "$0")/.."
SHA256=2947e0d8341a92faa7b3ee50cf4b672f838051c6bf24892526e95b64fd3a707e
DEST=data/voc-examples
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
python3 -m pip download --quiet --no-deps --no-binary :all: labelme==6.3.1 -d "$TMP"
echo "$SHA256  $TMP/labelme-6.3.1.tar.gz" | sha256sum --check --quiet
tar -xzf "$TMP/labelme-6.3.1.tar.gz" -C "$TMP" \
  labelme-6.3.1/examples/bbox_detection/data_dataset_voc \
  labelme-6.3.1/examples/instance_segmentation/data_dataset_voc \
  labelme-6.3.1/examples/instance_segmentation/data_dataset_coco
rm -rf "$DEST.tmp" && mkdir -p "$DEST.tmp"
cp -r "$TMP/labelme-6.3.1/examples/bbox_detection" "$TMP/labelme-6.3.1/examples/instance_segmentation" "$DEST.tmp/"
rm -rf "$DEST" && mv "$DEST.tmp" "$DEST"
echo "extracted VOC examples into $DEST"
