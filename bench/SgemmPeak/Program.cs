using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

// Usage: SgemmPeak [threads]. Prints GFLOP/s of float32 matrix products (best of repeated runs):
// square sizes for the peak, and the Gram-matrix shapes of the CKA benchmark (b x p times p x b).
int threads = args.Length > 0 ? int.Parse(args[0]) : Environment.ProcessorCount;
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
