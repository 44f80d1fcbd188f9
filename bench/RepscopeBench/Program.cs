using System.Diagnostics;
using Repscope.Similarity;
using TorchSharp;
using static TorchSharp.torch;

// RepscopeBench sgemm [threads]            float32 matrix-multiply GFLOP/s (best of repeated runs)
// RepscopeBench naive IN.npz OUT.json [B]  all-pairs minibatch CKA the naive way: Cka.Minibatch for
//                                          every pair (both Gram matrices recomputed for every pair)
// RepscopeBench profile IN.npz [B]         time of the loading and of the all-pairs accumulator
string mode = args.Length > 0 ? args[0] : "sgemm";
switch (mode)
{
    case "sgemm": Sgemm(args.Length > 1 ? int.Parse(args[1]) : Environment.ProcessorCount); break;
    case "naive": Naive(args[1], args[2], args.Length > 3 ? int.Parse(args[3]) : 256); break;
    case "profile": Profile(args[1], args.Length > 2 ? int.Parse(args[2]) : 256); break;
    default: Console.Error.WriteLine("usage: RepscopeBench sgemm [threads] | naive IN.npz OUT.json [B] | profile IN.npz [B]"); return 2;
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
