#!/usr/bin/python3
"""Do vision transformers see like CNNs? At laptop scale: a small ViT and a small residual CNN trained on
Fashion-MNIST for a few minutes, exported to ONNX for `repscope compare`.

Run from the repository root with Debian's python3-torch (1.13):
    nice -n 10 /usr/bin/python3 examples/vit-vs-cnn/train_and_export.py [--seconds 150]
Data: the Fashion-MNIST test split shipped in data/fashion-mnist/ (10,000 images). The first 8,000 train both
models; the last 2,000 are held out: test accuracy, and (the first 1,000 of them) the inputs of the comparison.
Writes into examples/vit-vs-cnn/: cnn.onnx, vit.onnx, test_images.npy (float32 [1000, 1, 28, 28], normalised with
the training images' mean and std), test_labels.npy, models.json (accuracies, epochs, seconds, parameters).
"""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "data", "fashion-mnist")


def read_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
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


def train(model, x, y, seconds, seed, lr):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    start, steps = time.time(), 0
    model.train()
    while time.time() - start < seconds:
        for idx in torch.randperm(len(x), generator=gen).split(64):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
            if time.time() - start >= seconds:
                break
    return steps * 64 / len(x), time.time() - start


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return float((torch.cat([model(b).argmax(1) for b in x.split(500)]) == y).float().mean())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=150, help="training time per model (wall clock; batches of 64)")
    args = p.parse_args()
    torch.set_num_threads(2)
    images = read_idx("t10k-images-idx3-ubyte.gz").astype(np.float32) / 255
    labels = read_idx("t10k-labels-idx1-ubyte.gz").astype(np.int64)
    mean, std = images[:8000].mean(), images[:8000].std()
    x = torch.from_numpy((images - mean) / std).unsqueeze(1)
    y = torch.from_numpy(labels)
    xtr, ytr, xte, yte = x[:8000], y[:8000], x[8000:], y[8000:]
    np.save(os.path.join(HERE, "test_images.npy"), xte[:1000].numpy())
    np.save(os.path.join(HERE, "test_labels.npy"), yte[:1000].numpy())
    summary = {"normalisation": {"mean": float(mean), "std": float(std)}, "train": 8000, "test": 2000, "models": {}}
    for name, make, lr in [("cnn", Cnn, 2e-3), ("vit", ViT, 1e-3)]:
        torch.manual_seed(1)
        model = make()
        epochs, seconds = train(model, xtr, ytr, args.seconds, 1, lr)
        acc = accuracy(model, xte, yte)
        model.eval()
        torch.onnx.export(model, (xte[:2],), os.path.join(HERE, f"{name}.onnx"), input_names=["images"], output_names=["logits"],
                          dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17)
        summary["models"][name] = {"testAccuracy": acc, "epochs": round(epochs, 2), "seconds": round(seconds, 1),
                                   "parameters": sum(p.numel() for p in model.parameters())}
        print(f"{name}: {epochs:.2f} epochs in {seconds:.0f}s, test accuracy {acc:.4f}", flush=True)
    with open(os.path.join(HERE, "models.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
