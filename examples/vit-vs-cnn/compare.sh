#!/usr/bin/env bash
# Layer-by-layer CKA of the small ViT and CNN made by train_and_export.py, on 1,000 held-out
# Fashion-MNIST test images. Usage: examples/vit-vs-cnn/compare.sh [OUT] (run from anywhere).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ex=examples/vit-vs-cnn
out="${1:-$ex/out}"
./repscope layers $ex/cnn.onnx --input $ex/test_images.npy --batch-size 250 --out "$out/cnn"
./repscope layers $ex/vit.onnx --input $ex/test_images.npy --batch-size 250 --out "$out/vit"
./repscope compare $ex/cnn.onnx $ex/vit.onnx --input $ex/test_images.npy --batch-size 250 --out "$out"
