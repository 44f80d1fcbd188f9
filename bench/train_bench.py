#!/usr/bin/python3
"""PyTorch side of the training-throughput benchmark (bench/run_train_bench.sh).

The same CIFAR ResNet v1 as Repscope.Models.ResNet (3x3 stem, three stages of n basic blocks,
1x1 conv + BN projection at the start of stages 2 and 3, global average pool, linear), the same
loop (random crop pad 4 + flip as two gathers, cross-entropy, SGD momentum 0.9, weight decay
5e-4), batch 128, random data. Prints one JSON line per configuration.
Usage: train_bench.py THREADS MIN_SECONDS WARMUP depth:width:size:channels ...
(times whole steps after WARMUP warm-up steps until at least MIN_SECONDS have passed, at least 2 steps)
or:    train_bench.py THREADS serve WARMUP depth:width:size:channels
(lock-step mode for bench/train_lockstep.py, the same protocol as bench/TrainBench: "ready" after the warm-up
steps, then per stdin line "run SECONDS" whole steps for at least SECONDS, answered "STEPS WALL_SECONDS CPU_SECONDS")
PYTORCH_FORMAT=channels_last runs the model and every batch in channels-last memory order (model.to(memory_format=
torch.channels_last), as PyTorch's performance guide advises for CPU convolutions); the default is PyTorch's
default, NCHW, the loop as users write it.
"""
import json, os, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F


def conv3x3(i, o, s=1):
    return nn.Conv2d(i, o, 3, stride=s, padding=1, bias=False)


class BasicBlock(nn.Module):
    def __init__(self, i, o, stride):
        super().__init__()
        self.branch = nn.Sequential(conv3x3(i, o, stride), nn.BatchNorm2d(o), nn.ReLU(),
                                    conv3x3(o, o), nn.BatchNorm2d(o))
        self.shortcut = (nn.Sequential(nn.Conv2d(i, o, 1, stride=stride, bias=False), nn.BatchNorm2d(o))
                         if stride != 1 or i != o else None)

    def forward(self, x):
        h = self.branch(x)
        return F.relu(h + (x if self.shortcut is None else self.shortcut(x)))


class ResNet(nn.Module):
    def __init__(self, depth, width, classes, in_ch):
        super().__init__()
        n = (depth - 2) // 6
        c = [max(1, int(round(b * width))) for b in (16, 32, 64)]
        self.stem = nn.Sequential(conv3x3(in_ch, c[0]), nn.BatchNorm2d(c[0]), nn.ReLU())
        stages, prev = [], c[0]
        for k, ch in enumerate(c):
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(prev, ch, 2 if (k > 0 and b == 0) else 1))
                prev = ch
            stages.append(nn.Sequential(*blocks))
        self.stage1, self.stage2, self.stage3 = stages
        self.fc = nn.Linear(c[2], classes)

    def forward(self, x):
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def crop_flip(x, pad, g):
    b, c, h, w = x.shape
    p = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=g)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=g)
    rows = oy[:, None] + torch.arange(h)[None, :]
    cols = torch.arange(w)[None, :].expand(b, w)
    f = torch.randint(0, 2, (b,), generator=g)[:, None].bool()
    cols = torch.where(f, (w - 1) - cols, cols)
    cols = ox[:, None] + cols
    t = p.gather(2, rows.view(b, 1, h, 1).expand(b, c, h, w + 2 * pad))
    return t.gather(3, cols.view(b, 1, 1, w).expand(b, c, h, w)).contiguous()


class Loop:
    def __init__(self, depth, width, size, ch, batch=128):
        torch.manual_seed(0)
        self.g = torch.Generator().manual_seed(0)
        self.model = ResNet(depth, width, 10, ch)
        self.channels_last = os.environ.get("PYTORCH_FORMAT", "nchw") == "channels_last"
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
        self.data = torch.randn(batch * 4, ch, size, size)
        self.labels = torch.randint(0, 10, (batch * 4,))
        self.batch, self.i = batch, 0
        self.model.train()

    def step(self):
        k = (self.i % 4) * self.batch
        self.i += 1
        x = crop_flip(self.data[k:k + self.batch], 4, self.g)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(self.model(x), self.labels[k:k + self.batch])
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        loss.item()


def bench(depth, width, size, ch, min_seconds, warmup, batch=128):
    loop = Loop(depth, width, size, ch, batch)
    for _ in range(warmup):
        loop.step()
    t0, steps = time.perf_counter(), 0
    while steps < 2 or time.perf_counter() - t0 < min_seconds:
        loop.step()
        steps += 1
    return steps * batch / (time.perf_counter() - t0)


def serve(spec, warmup):
    loop = Loop(*(int(v) if k != 1 else float(v) for k, v in enumerate(spec.split(":"))))
    for _ in range(warmup):
        loop.step()
    print("ready", flush=True)
    for line in sys.stdin:
        if not line.startswith("run "):
            break
        window = float(line[4:])
        c0, t0, n = time.process_time(), time.perf_counter(), 0
        while True:
            loop.step()
            n += 1
            if time.perf_counter() - t0 >= window:
                break
        print(f"{n} {time.perf_counter() - t0!r} {time.process_time() - c0!r}", flush=True)


if __name__ == "__main__":
    threads = int(sys.argv[1])
    torch.set_num_threads(threads)
    if sys.argv[2] == "serve":
        serve(sys.argv[4], int(sys.argv[3]))
        sys.exit(0)
    min_seconds, warmup = float(sys.argv[2]), int(sys.argv[3])
    for spec in sys.argv[4:]:
        d, w, s, c = spec.split(":")
        ips = bench(int(d), float(w), int(s), int(c), min_seconds, warmup)
        print(json.dumps({"impl": "pytorch", "version": torch.__version__, "depth": int(d), "width": float(w),
                          "size": int(s), "channels": int(c), "threads": threads, "batch": 128,
                          "imagesPerSecond": round(ips, 1)}), flush=True)
