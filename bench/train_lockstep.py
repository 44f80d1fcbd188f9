#!/usr/bin/python3
"""Lock-step training throughput: Repscope against PyTorch in alternating short windows.

This VM's speed drifts by 10-40 % over minutes (other tenants; steal time), more than the ratios being
measured. Running each side for 10-20 s one after the other compares two different machines. Here both
workers are built and warmed up first (bench/TrainBench and bench/train_bench.py in "serve" mode), then they
take turns: window k runs one side for WINDOW seconds of whole steps while the other waits blocked on its
stdin. The order alternates A B | B A | A B ... so that a linear drift cancels within each pair of rounds.
Each round gives one ratio (Repscope images/s / PyTorch images/s from its two adjacent windows); the
result is the median ratio over the rounds with a 95 % bootstrap interval (seeded, 10,000 resamples),
plus each side's median images/s. No torch import here: the driver only reads lines.

Usage: train_lockstep.py TRAINBENCH_BINARY THREADS WINDOW_SECONDS ROUNDS WARMUP depth:width:size:channels ...
Prints one JSON line per configuration.
"""
import json, random, statistics, subprocess, sys, os

here = os.path.dirname(os.path.abspath(__file__))


class Worker:
    def __init__(self, name, argv):
        self.name = name
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def ready(self):
        line = self.p.stdout.readline().strip()
        if line != "ready":
            raise SystemExit(f"train_lockstep: {self.name} did not start (said {line!r}, exit {self.p.poll()})")

    def run(self, seconds):
        self.p.stdin.write(f"run {seconds!r}\n")
        self.p.stdin.flush()
        steps, wall, cpu = self.p.stdout.readline().split()
        return int(steps) * 128 / float(wall), float(cpu) / float(wall)

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        self.p.wait(timeout=60)


def bootstrap_median(values, reps=10000, seed=0):
    rng = random.Random(seed)
    meds = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(reps))
    return meds[int(0.025 * reps)], meds[int(0.975 * reps) - 1]


def main():
    binary, threads, window, rounds, warmup = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    env_version = None
    for spec in sys.argv[6:]:
        a = Worker("repscope", [binary, str(threads), "serve", str(warmup), spec])
        b = Worker("pytorch", ["/usr/bin/python3", os.path.join(here, "train_bench.py"), str(threads), "serve", str(warmup), spec])
        a.ready()
        b.ready()
        ra, rb, ratios, ca, cb = [], [], [], [], []
        for r in range(rounds):
            order = [(a, ra, ca), (b, rb, cb)] if r % 2 == 0 else [(b, rb, cb), (a, ra, ca)]
            for w, rates, cpus in order:
                rate, cpu = w.run(window)
                rates.append(rate)
                cpus.append(cpu)
            ratios.append(ra[-1] / rb[-1])
        a.close()
        b.close()
        lo, hi = bootstrap_median(ratios)
        d, wd, s, c = spec.split(":")
        print(json.dumps({"depth": int(d), "width": float(wd), "size": int(s), "channels": int(c), "threads": threads,
                          "windowSeconds": window, "rounds": rounds,
                          "repscopeImagesPerSecond": round(statistics.median(ra), 1),
                          "pytorchImagesPerSecond": round(statistics.median(rb), 1),
                          "ratio": round(statistics.median(ratios), 3), "ratioLow": round(lo, 3), "ratioHigh": round(hi, 3),
                          "ratios": [round(x, 3) for x in ratios],
                          "repscopeCoresBusy": round(statistics.median(ca), 2), "pytorchCoresBusy": round(statistics.median(cb), 2)}),
              flush=True)


if __name__ == "__main__":
    main()
