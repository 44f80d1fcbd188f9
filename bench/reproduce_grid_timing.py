#!/usr/bin/env python3
"""Times one training epoch (1,000 Fashion-MNIST-sized images, batch 128, SGD + momentum, random crop
+ flip) plus one evaluation pass over 1,000 test images for every distinct model of
`repscope reproduce --quick`, on a fixed number of CPU threads. PyTorch runs the same libtorch
kernels TorchSharp calls, so this sizes the quick grid (docs/reproduce.md) on an unloaded machine.

    taskset -c 0,1 python3 bench/reproduce_grid_timing.py --threads 2
"""
import argparse, json, time
import torch, torch.nn as nn, torch.nn.functional as F

class Block(nn.Module):
    def __init__(self, cin, cout, stride, residual):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False); self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False); self.bn2 = nn.BatchNorm2d(cout)
        self.residual = residual
        self.short = None
        if residual and (stride != 1 or cin != cout):
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.residual:
            y = y + (x if self.short is None else self.short(x))
        return F.relu(y)

class ResNet(nn.Module):
    def __init__(self, depth, width, residual, classes=10, cin=1):
        super().__init__()
        n = (depth - 2) // 6
        ch = [int(round(16 * width)), int(round(32 * width)), int(round(64 * width))]
        self.conv1 = nn.Conv2d(cin, ch[0], 3, 1, 1, bias=False); self.bn1 = nn.BatchNorm2d(ch[0])
        layers, c = [], ch[0]
        for s, co in enumerate(ch):
            for b in range(n):
                layers.append(Block(c, co, 2 if (s > 0 and b == 0) else 1, residual)); c = co
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(c, classes)
    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.blocks(x)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))

def epoch_seconds(depth, width, residual, n_train, n_test, batch=128, reps=2):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n_train, 1, 28, 28, generator=g); y = torch.randint(0, 10, (n_train,), generator=g)
    xt = torch.randn(n_test, 1, 28, 28, generator=g)
    m = ResNet(depth, width, residual)
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    times = []
    for r in range(reps):
        t0 = time.perf_counter()
        m.train()
        for i in range(0, n_train, batch):
            xb = F.pad(x[i:i + batch], (4, 4, 4, 4))
            dx, dy = torch.randint(0, 9, (2,), generator=g).tolist()
            xb = xb[:, :, dy:dy + 28, dx:dx + 28]
            if torch.rand(1, generator=g).item() < 0.5: xb = xb.flip(3)
            opt.zero_grad(); F.cross_entropy(m(xb), y[i:i + batch]).backward(); opt.step()
        t1 = time.perf_counter()
        m.eval()
        with torch.no_grad():
            for i in range(0, n_test, 256): m(xt[i:i + 256])
        t2 = time.perf_counter()
        times.append((t1 - t0, t2 - t1))
    return min(times)  # the first repetition includes warm-up

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    # (depth, width, residual, train images): the distinct models of the quick grid, one seed each.
    grid = [(14, 1, True, 1000), (20, 1, True, 1000), (56, 1, True, 1000), (14, 2, True, 1000), (14, 1, True, 250),
            (14, 2, True, 250), (20, 1, False, 1000), (8, 1.5, True, 1000), (14, 4, True, 1000), (8, 1, True, 1000)]
    rows = []
    for d, w, res, n in grid:
        train_s, eval_s = epoch_seconds(d, w, res, n, 1000)
        rows.append(dict(depth=d, width=w, residual=res, trainImages=n, trainSeconds=train_s, evalSeconds=eval_s))
        print(f"ResNet-{d} w{w} {'res' if res else 'plain'} n{n}: train {train_s:.2f} s/epoch, eval(1000) {eval_s:.2f} s", flush=True)
    out = dict(torch=torch.__version__, threads=a.threads, rows=rows)
    if a.out:
        with open(a.out, "w") as f: json.dump(out, f, indent=1)

if __name__ == "__main__":
    main()
