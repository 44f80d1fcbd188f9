#!/usr/bin/python3
"""Do vision transformers see like CNNs? At laptop scale: a small ViT and a small residual CNN trained on
Fashion-MNIST for a few minutes each, exported to ONNX for `repscope compare`.

Run from the repository root with Debian's python3-torch (1.13):
    nice -n 10 /usr/bin/python3 examples/vit-vs-cnn/train_and_export.py [--cpu-seconds 300] [--threads 1] [--data DIR]
        [--models cnn,vit] [--out DIR]
Data: the full Fashion-MNIST (Debian's dataset-fashion-mnist: /usr/share/datasets/fashion-mnist, or
$REPSCOPE_DATA/fashion-mnist, or --data DIR): the 60,000 training images train both models, the 10,000 test images
are held out (test accuracy; the first 1,000 are the inputs of the comparison). Without it, the test split shipped in
data/fashion-mnist/: its first 8,000 images train, the last 2,000 are held out.
Training budget: CPU time of this process (time.process_time, all threads), not wall clock, so that a busy machine
gives the same amount of training; AdamW, batch 128, learning rate with a short warm-up and a cosine decay over the
budget. Writes into examples/vit-vs-cnn/ (or --out DIR): cnn.onnx, vit.onnx, test_images.npy (float32 [1000, 1, 28, 28], normalised
with the training images' mean and std), test_labels.npy, models.json (accuracies, epochs, CPU seconds, parameters).
"""
import argparse
import gzip
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
SHIPPED = os.path.join(HERE, "..", "..", "data", "fashion-mnist")


def full_data(given):
    """The first folder holding the four IDX files of the full Fashion-MNIST, or None."""
    env = os.environ.get("REPSCOPE_DATA")
    folders = [given] if given else [os.path.join(env, "fashion-mnist") if env else None, "/usr/share/datasets/fashion-mnist"]
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    for folder in folders:
        if folder and all(os.path.exists(os.path.join(folder, n)) for n in names):
            return folder
    if given:
        raise SystemExit(f"{given}: does not hold the four .gz IDX files of Fashion-MNIST")
    return None


def read_idx(folder, name):
    with gzip.open(os.path.join(folder, name), "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


class Residual(torch.nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(cout)
        self.conv2 = torch.nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(cout)
        self.shortcut = torch.nn.Sequential() if stride == 1 and cin == cout else torch.nn.Sequential(
            torch.nn.Conv2d(cin, cout, 1, stride, bias=False), torch.nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + self.shortcut(x))


class Cnn(torch.nn.Module):
    """ResNet-style: stem, three stages of two residual blocks (8, 16, 32 channels), global pool, linear."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, 1, 1, bias=False), torch.nn.BatchNorm2d(8), torch.nn.ReLU())
        blocks = []
        for cin, cout, stride in [(8, 8, 1), (8, 8, 1), (8, 16, 2), (16, 16, 1), (16, 32, 2), (32, 32, 1)]:
            blocks.append(Residual(cin, cout, stride))
        self.blocks = torch.nn.Sequential(*blocks)
        self.fc = torch.nn.Linear(32, 10)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean((2, 3)))


class ViTLayer(torch.nn.Module):
    """Pre-norm transformer layer: x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, d, heads, mlp):
        super().__init__()
        self.heads = heads
        self.norm1 = torch.nn.LayerNorm(d)
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.proj = torch.nn.Linear(d, d)
        self.norm2 = torch.nn.LayerNorm(d)
        self.fc1 = torch.nn.Linear(d, mlp)
        self.fc2 = torch.nn.Linear(mlp, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attn = (q @ k.transpose(-2, -1) / (d // self.heads) ** 0.5).softmax(-1)
        x = x + self.proj((attn @ v).transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class ViT(torch.nn.Module):
    """7x7 patches of a 28x28 image (16 tokens) plus a class token, 6 pre-norm layers of width 48."""

    def __init__(self, d=48, layers=6, heads=4, mlp=96, patch=7):
        super().__init__()
        self.patch = torch.nn.Conv2d(1, d, patch, patch)
        self.cls = torch.nn.Parameter(torch.zeros(1, 1, d))
        self.position = torch.nn.Parameter(torch.randn(1, 1 + (28 // patch) ** 2, d) * 0.02)
        self.layers = torch.nn.Sequential(*[ViTLayer(d, heads, mlp) for _ in range(layers)])
        self.norm = torch.nn.LayerNorm(d)
        self.head = torch.nn.Linear(d, 10)

    def forward(self, x):
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), tokens], 1) + self.position
        return self.head(self.norm(self.layers(x))[:, 0])


def train(model, x, y, cpu_seconds, seed, lr, batch=128):
    """AdamW until the process has used cpu_seconds of CPU time; learning rate: linear warm-up over the first 5 % of
    the budget, then cosine decay to 0 at its end (the schedule follows the CPU time used)."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    start, wall, steps = time.process_time(), time.time(), 0
    model.train()
    while True:
        for idx in torch.randperm(len(x), generator=gen).split(batch):
            used = (time.process_time() - start) / cpu_seconds
            if used >= 1:
                return steps * batch / len(x), time.process_time() - start, time.time() - wall
            for g in opt.param_groups:
                g["lr"] = lr * (used / 0.05 if used < 0.05 else 0.5 * (1 + math.cos(math.pi * (used - 0.05) / 0.95)))
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return float((torch.cat([model(b).argmax(1) for b in x.split(500)]) == y).float().mean())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cpu-seconds", type=float, default=300, help="training budget per model in CPU seconds of this process")
    p.add_argument("--threads", type=int, default=1, help="torch threads (CPU time counts every thread)")
    p.add_argument("--data", help="folder with the full Fashion-MNIST's four .gz IDX files")
    p.add_argument("--out", default=HERE, help="folder for the models, test images and models.json (default: beside this script)")
    p.add_argument("--models", default="cnn,vit", help="which models to train (comma-separated); models.json keeps the others' entries")
    args = p.parse_args()
    chosen = args.models.split(",")
    torch.set_num_threads(args.threads)
    folder = full_data(args.data)
    if folder:
        tr_images = read_idx(folder, "train-images-idx3-ubyte.gz").astype(np.float32) / 255
        tr_labels = read_idx(folder, "train-labels-idx1-ubyte.gz").astype(np.int64)
        te_images = read_idx(folder, "t10k-images-idx3-ubyte.gz").astype(np.float32) / 255
        te_labels = read_idx(folder, "t10k-labels-idx1-ubyte.gz").astype(np.int64)
        source = "full Fashion-MNIST: 60,000 training images, 10,000 test images held out"
    else:
        images = read_idx(SHIPPED, "t10k-images-idx3-ubyte.gz").astype(np.float32) / 255
        labels = read_idx(SHIPPED, "t10k-labels-idx1-ubyte.gz").astype(np.int64)
        tr_images, tr_labels, te_images, te_labels = images[:8000], labels[:8000], images[8000:], labels[8000:]
        source = "shipped Fashion-MNIST test split: first 8,000 train, last 2,000 held out"
    print(source, flush=True)
    mean, std = tr_images.mean(), tr_images.std()
    xtr = torch.from_numpy((tr_images - mean) / std).unsqueeze(1)
    xte = torch.from_numpy((te_images - mean) / std).unsqueeze(1)
    ytr, yte = torch.from_numpy(tr_labels), torch.from_numpy(te_labels)
    os.makedirs(args.out, exist_ok=True)
    np.save(os.path.join(args.out, "test_images.npy"), xte[:1000].numpy())
    np.save(os.path.join(args.out, "test_labels.npy"), yte[:1000].numpy())
    path = os.path.join(args.out, "models.json")
    previous = json.load(open(path)) if os.path.exists(path) else {}
    summary = {"data": source, "normalisation": {"mean": float(mean), "std": float(std)}, "train": len(xtr), "test": len(xte),
               "threads": args.threads, "models": {}}
    if previous.get("data") == source:   # the same data and normalisation: keep the models not retrained now
        summary["models"] = previous.get("models", {})
    for name, make, lr in [("cnn", Cnn, 3e-3), ("vit", ViT, 1e-3)]:
        if name not in chosen:
            continue
        torch.manual_seed(1)
        model = make()
        epochs, seconds, wall = train(model, xtr, ytr, args.cpu_seconds, 1, lr)
        acc = accuracy(model, xte, yte)
        model.eval()
        torch.onnx.export(model, (xte[:2],), os.path.join(args.out, f"{name}.onnx"), input_names=["images"], output_names=["logits"],
                          dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17)
        summary["models"][name] = {"testAccuracy": acc, "epochs": round(epochs, 2), "cpuSeconds": round(seconds, 1),
                                   "wallSeconds": round(wall, 1), "parameters": sum(p.numel() for p in model.parameters())}
        print(f"{name}: {epochs:.2f} epochs in {seconds:.0f} CPU s ({wall:.0f} s wall), test accuracy {acc:.4f}", flush=True)
        with open(path, "w") as f:   # after each model, so that an interrupted run keeps what it finished
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
