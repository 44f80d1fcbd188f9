using System.Diagnostics;
using Repscope.Similarity;
using TorchSharp;
using static TorchSharp.torch;

// RepscopeBench sgemm [threads]            float32 matrix-multiply GFLOP/s (best of repeated runs)
// RepscopeBench naive IN.npz OUT.json [B]  all-pairs minibatch CKA the naive way: Cka.Minibatch for
//                                          every pair (both Gram matrices recomputed for every pair)
// RepscopeBench profile IN.npz [B]         time of the loading and of the all-pairs accumulator
// RepscopeBench parts IN.npz [N] [T]       CPU and wall time of the heatmap's parts (min of N), T libtorch threads
// RepscopeBench gram-routes [T]            one layer's Gram: full mm, mm into a kept buffer, by blocks
// RepscopeBench wholedata-rbf L N P [T]    whole-data RBF map: each Gram once vs pair by pair
string mode = args.Length > 0 ? args[0] : "sgemm";
switch (mode)
{
    case "sgemm": Sgemm(args.Length > 1 ? int.Parse(args[1]) : Environment.ProcessorCount); break;
    case "naive": Naive(args[1], args[2], args.Length > 3 ? int.Parse(args[3]) : 256); break;
    case "profile": Profile(args[1], args.Length > 2 ? int.Parse(args[2]) : 256); break;
    case "wholedata-rbf": torch.set_num_threads(args.Length > 4 ? int.Parse(args[4]) : 1); WholeDataRbf.Run(int.Parse(args[1]), int.Parse(args[2]), int.Parse(args[3])); break;
    case "gram-routes": GramRoutes.Run(args.Length > 1 ? int.Parse(args[1]) : 1); break;
    case "parts": torch.set_num_threads(args.Length > 3 ? int.Parse(args[3]) : 1); Parts.Run(args[1], 256, args.Length > 2 ? int.Parse(args[2]) : 3); break;
    default: Console.Error.WriteLine("usage: RepscopeBench sgemm [threads] | naive IN.npz OUT.json [B] | profile IN.npz [B] | parts IN.npz [N] [T] | gram-routes [T] | wholedata-rbf L N P [T]"); return 2;
}
return 0;

static void Sgemm(int threads)
{
    torch.set_num_threads(threads);
    Console.WriteLine($"libtorch {torch.__version__}, threads {torch.get_num_threads()}");
    var shapes = new (long M, long K, long N, string What)[]
    {
        (1024, 1024, 1024, "square 1024"), (2048, 2048, 2048, "square 2048"),
        (256, 4096, 256, "Gram b=256 p=4096"), (256, 2048, 256, "Gram b=256 p=2048"), (256, 1024, 256, "Gram b=256 p=1024"),
    };
    foreach (var (m, k, n, what) in shapes)
    {
        using var a = torch.randn(m, k);
        using var b = torch.randn(n, k);
        for (int i = 0; i < 3; i++) { using var w = a.mm(b.t()); }
        double best = double.MaxValue;
        var total = Stopwatch.StartNew();
        while (total.Elapsed.TotalSeconds < 1.5)
        {
            var sw = Stopwatch.StartNew();
            using var c = a.mm(b.t());
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        Console.WriteLine($"{what,-20} {2.0 * m * k * n / best / 1e9,7:F1} GFLOP/s");
    }
}

static void Naive(string npz, string output, int batchSize)
{
    var layers = CkaFiles.LoadNpz(npz);
    var v = new double[layers.Count, layers.Count];
    for (int i = 0; i < layers.Count; i++)
    {
        for (int j = i; j < layers.Count; j++)
        {
            v[i, j] = v[j, i] = Cka.Minibatch(layers[i].Data, layers[j].Data, batchSize);
        }
    }
    var names = layers.Select(l => l.Name).ToArray();
    new CkaMatrix(names, names, v).WriteJson(output);
}

static void Profile(string npz, int batchSize)
{
    var sw = Stopwatch.StartNew();
    var layers = CkaFiles.LoadNpz(npz);
    var proc = Process.GetCurrentProcess();
    Console.WriteLine($"load {sw.Elapsed.TotalSeconds:F2}s, RSS {proc.WorkingSet64 >> 20} MB (peak {proc.PeakWorkingSet64 >> 20} MB), managed heap {GC.GetTotalMemory(false) >> 20} MB, committed {GC.GetGCMemoryInfo().TotalCommittedBytes >> 20} MB");
    sw.Restart();
    AllPairsCka.Minibatch(layers.Select(l => l.Data).ToArray(), layers.Select(l => l.Name).ToArray(), null, null,
                          batchSize, KernelKind.Linear, 0.5, null, out var acc);
    proc.Refresh();
    Console.WriteLine($"accumulate {sw.Elapsed.TotalSeconds:F2}s over {acc.Batches} batches, RSS {proc.WorkingSet64 >> 20} MB (peak {proc.PeakWorkingSet64 >> 20} MB)");
    sw.Restart();
    long flops = 0;
    foreach (var l in layers)
    {
        for (long s = 0; s < l.Data.shape[0]; s += batchSize)
        {
            using var x = l.Data.narrow(0, s, Math.Min(batchSize, l.Data.shape[0] - s));
            using var k = x.mm(x.t());
            flops += 2 * x.shape[0] * x.shape[0] * x.shape[1];
        }
    }
    Console.WriteLine($"Gram products alone {sw.Elapsed.TotalSeconds:F2}s, {flops / sw.Elapsed.TotalSeconds / 1e9:F1} GFLOP/s");
}

static partial class Parts
{
    public static void Run(string npz, int batchSize, int repeats)
    {
        var proc = Process.GetCurrentProcess();
        (double Wall, double Cpu) Time(Action a)
        {
            double bw = double.MaxValue, bc = double.MaxValue;
            for (int r = 0; r < repeats; r++)
            {
                proc.Refresh();
                var c0 = proc.TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                a();
                double w = sw.Elapsed.TotalSeconds;
                proc.Refresh();
                double c = (proc.TotalProcessorTime - c0).TotalSeconds;
                bw = Math.Min(bw, w); bc = Math.Min(bc, c);
            }
            return (bw, bc);
        }
        var members = Repscope.Interop.StoredArray.OfNpz(npz)!;
        var plan = new BatchPlan(members[0].Rows, batchSize, null);
        void Report(string what, (double Wall, double Cpu) t) => Console.WriteLine($"{what,-40} wall {t.Wall,6:F3} s  cpu {t.Cpu,6:F3} s");
        Report("verify+hash", Time(() => Repscope.Interop.StoredArray.VerifyAndHash(npz, members)));
        Report("sortedness check (CkaFiles.LooksSorted)", Time(() => CkaFiles.LooksSorted(members[0])));
        Report("stream read only", Time(() =>
        {
            using var s = new StreamedBatches(members, plan);
            foreach (var b in s.Batches()) { }
        }));
        foreach (var method in new[] { MinibatchCkaAccumulator.GramMethod.Syrk, MinibatchCkaAccumulator.GramMethod.Blocks, MinibatchCkaAccumulator.GramMethod.Full })
        {
            MinibatchCkaAccumulator.LinearGramMethod = method;
            Report($"stream + accumulate (phase), Grams: {method}", Time(() =>
            {
                AllPairsCka.Minibatch(members, null, plan, KernelKind.Linear, 0.5, null, out _);
            }));
        }
        MinibatchCkaAccumulator.LinearGramMethod = MinibatchCkaAccumulator.GramMethod.Syrk;
        var batches = new List<Tensor[]>();
        using (var s = new StreamedBatches(members, plan))
        {
            foreach (var b in s.Batches()) { batches.Add(b.Layers.Select(t => t.clone()).ToArray()); }
        }
        Report("accumulate in memory (copying)", Time(() =>
        {
            var acc = new MinibatchCkaAccumulator(members.Select(m => m.Name).ToArray());
            foreach (var b in batches) { acc.Add(b); }
        }));
        Report("Gram products alone", Time(() =>
        {
            foreach (var b in batches) { foreach (var x in b) { using var k = x.mm(x.t()); } }
        }));
        if (Repscope.Interop.MklSyrk.Available)
        {
            var upper = batches[0].Select(x => torch.empty(x.shape[0], x.shape[0], dtype: x.dtype)).ToArray();
            Report("symmetric rank-k products alone (syrk)", Time(() =>
            {
                foreach (var b in batches) { for (int i = 0; i < b.Length; i++) { Repscope.Interop.MklSyrk.UpperTriangle(b[i], upper[i]); } }
            }));
        }
    }
}

static partial class GramRoutes
{
    /// <summary>One layer's Gram of a 256-row batch three ways (full mm, mm into a kept buffer, 3/4 by blocks).</summary>
    public static void Run(int threads)
    {
        torch.set_num_threads(threads);
        foreach (long p in new long[] { 4096, 2048, 1024 })
        {
            long b = 256, h = 128;
            using var x = torch.randn(b, p).relu_();
            using var full = torch.empty(b, b);
            using var top = torch.empty(b, h);
            using var g22 = torch.empty(h, h);
            double Best(Action a)
            {
                for (int i = 0; i < 3; i++) { a(); }
                double best = double.MaxValue;
                var total = Stopwatch.StartNew();
                while (total.Elapsed.TotalSeconds < 1.0) { var sw = Stopwatch.StartNew(); a(); best = Math.Min(best, sw.Elapsed.TotalSeconds); }
                return best;
            }
            double flops = 2.0 * b * b * p;
            double tFull = Best(() => { using var k = x.mm(x.t()); });
            double tOut = Best(() => full.addmm_(x, x.t(), beta: 0, alpha: 1));
            var x1 = x.narrow(0, 0, h);
            var x2 = x.narrow(0, h, h);
            double tBlock = Best(() => { top.addmm_(x, x1.t(), beta: 0, alpha: 1); g22.addmm_(x2, x2.t(), beta: 0, alpha: 1); });
            Console.WriteLine($"p={p,5}: full mm {flops / tFull / 1e9,6:F1}  mm into a kept buffer {flops / tOut / 1e9,6:F1}  3/4 by blocks {flops / tBlock / 1e9,6:F1} GFLOP/s (full-product flops / time)");
        }
    }
}

static partial class WholeDataRbf
{
    /// <summary>Whole-data RBF map of L layers: each layer's Gram once (AllPairsCka.WholeData) vs pair by pair (Cka.Compute).</summary>
    public static void Run(int layers, int n, int features)
    {
        var xs = Enumerable.Range(0, layers).Select(i => torch.randn(n, features, generator: new torch.Generator((ulong)i + 1)).relu_()).ToArray();
        var names = Enumerable.Range(0, layers).Select(i => $"l{i}").ToArray();
        var options = new CkaOptions(KernelKind.Rbf, HsicEstimator.Biased, 0.5);
        var proc = Process.GetCurrentProcess();
        (double Wall, double Cpu, CkaMatrix M) Time(Func<CkaMatrix> f)
        {
            proc.Refresh();
            var c0 = proc.TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            var m = f();
            double wall = sw.Elapsed.TotalSeconds;
            proc.Refresh();
            return (wall, (proc.TotalProcessorTime - c0).TotalSeconds, m);
        }
        var reuse = Time(() => AllPairsCka.WholeData(xs, names, null, null, options));
        var pairs = Time(() =>
        {
            var v = new double[layers, layers];
            for (int i = 0; i < layers; i++) { for (int j = i; j < layers; j++) { v[i, j] = v[j, i] = Cka.Compute(xs[i], xs[j], options); } }
            return new CkaMatrix(names, names, v);
        });
        double diff = 0;
        for (int i = 0; i < layers; i++) { for (int j = 0; j < layers; j++) { diff = Math.Max(diff, Math.Abs(reuse.M[i, j] - pairs.M[i, j])); } }
        Console.WriteLine($"RBF whole data, {layers} layers, n = {n}, {features} features, threads {torch.get_num_threads()}: "
                          + $"each Gram once {reuse.Wall:F2} s wall ({reuse.Cpu:F2} s CPU), pair by pair {pairs.Wall:F2} s ({pairs.Cpu:F2} s CPU); max |diff| {diff:G2}");
    }
}
