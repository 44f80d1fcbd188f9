// Time and peak memory of the all-layers within-model analysis (minibatch CKA + first principal
// components + block structure) of ResNet-56, streamed batch by batch: bench/analysis_bench.sh.
using System.Diagnostics;
using Repscope;
using Repscope.Analysis;
using Repscope.Data;
using Repscope.Models;
using Repscope.Spectral;
using TorchSharp;

int examples = args.Length > 0 ? int.Parse(args[0]) : 10000;
int depth = args.Length > 1 ? int.Parse(args[1]) : 56;
double width = args.Length > 2 ? double.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 1;
int batch = args.Length > 3 ? int.Parse(args[3]) : 256;
var selection = args.Length > 4 ? Enum.Parse<TapSet>(args[4], ignoreCase: true) : TapSet.Branches;
int threads = Environment.ProcessorCount;
torch.set_num_threads(threads);

// CIFAR-shaped synthetic images (3 x 32 x 32); time and memory do not depend on the pixel values.
var rng = new Random(1);
var pixels = new byte[(long)examples * 3 * 32 * 32];
rng.NextBytes(pixels);
var labels = Enumerable.Range(0, examples).Select(_ => (long)rng.Next(10)).ToArray();
using var data = new ImageDataset("synthetic-cifar", new RawImages(pixels, labels, 3, 32, 32), 10,
    Enumerable.Range(0, 10).Select(c => $"c{c}").ToArray(), new Normalisation([127.5, 127.5, 127.5], [64.0, 64.0, 64.0]));
pixels = null;
using var model = ResNet.Cifar(depth, width, residual: true, classes: 10);
model.Initialise(new torch.Generator(1));
var layers = model.TapNames(selection);
long baseline = Process.GetCurrentProcess().WorkingSet64;
Console.WriteLine($"{model.Architecture}, {layers.Count} taps ({selection}), {examples} examples, batch {batch}, {threads} threads; working set before: {baseline / 1048576} MiB");

long peak = 0, batchPeak = 0;
using var sampler = new Timer(_ => { long ws = Repscope.Interop.NativeHeap.ResidentBytes(); if (ws > peak) { peak = ws; } if (ws > Interlocked.Read(ref batchPeak)) { Interlocked.Exchange(ref batchPeak, ws); } }, null, 0, 200);
static long Mib(long bytes) => bytes / 1048576;
// Where the resident memory is: the managed heap (the GC's committed bytes and its live heap after the last GC) and the C
// heap as glibc counts it (in use, free inside the heap, blocks mapped on their own).
static string Where()
{
    var gc = GC.GetGCMemoryInfo();
    var c = Repscope.Interop.NativeHeap.Statistics();
    string native = c is { } h ? $"C heap: {Mib(h.InUse)} MiB in use, {Mib(h.Free)} MiB free in {Mib(h.Heap)} MiB of heap, {Mib(h.Mapped)} MiB mapped blocks" : "C heap: unknown";
    return $"managed: {Mib(gc.TotalCommittedBytes)} MiB committed, {Mib(gc.HeapSizeBytes)} MiB heap at the last GC, {Mib(GC.GetTotalAllocatedBytes())} MiB allocated so far; {native}";
}
// MALLOC_INFO=DIR: glibc's malloc_info (every arena's free chunks by size) after each batch, into DIR/PASS-BATCH.xml.
string? mallocInfo = Environment.GetEnvironmentVariable("MALLOC_INFO");
int batchCount = 0;
void MallocInfo(string name)
{
    if (string.IsNullOrEmpty(mallocInfo)) { return; }
    Directory.CreateDirectory(mallocInfo);
    var file = Native.Fopen(Path.Combine(mallocInfo, name + ".xml"), "w");
    Native.MallocInfo(0, file);
    Native.Fclose(file);
}
var pcOptions = FirstComponentOptions.Default;
var clock = Stopwatch.StartNew();
var cpu = Process.GetCurrentProcess().TotalProcessorTime;
int passes = 0;
var progress = new LineProgressReporter(Console.Error, TimeSpan.FromSeconds(30));
// As `repscope layers` (Workflows.RunSource): every pass captures into the same tap buffers.
var buffers = new TapBuffers();
bool perBatch = Environment.GetEnvironmentVariable("RSS_PER_BATCH") == "1";
// RSS_PER_BATCH=1: per batch, the resident size after the forward pass (the taps in their buffers), after the analysis's
// work on the batch, and the highest sample (every 0.2 s) since the previous batch: where the peak is reached.
ActivationPass pass = onBatch => { passes++; Activations.Pass(model, data, batch, selection, progress, buffers)((l, t) => { long forward = Repscope.Interop.NativeHeap.ResidentBytes(); long forwardMark = perBatch ? HighWaterMark() : 0; onBatch(l, t); MallocInfo($"{passes}-{Interlocked.Increment(ref batchCount)}"); if (perBatch) { long after = Repscope.Interop.NativeHeap.ResidentBytes(); Console.Error.WriteLine($"pass {passes}: working set after forward {Mib(forward)} MiB, after analysis {Mib(after)} MiB, batch's sampled peak {Mib(Math.Max(Interlocked.Exchange(ref batchPeak, 0), after))} MiB, trims so far {Repscope.Interop.NativeHeap.Trims}, high-water mark {Mib(forwardMark)} MiB after forward, {Mib(HighWaterMark())} MiB after analysis; {Where()}"); } }); if (Environment.GetEnvironmentVariable("RSS_PER_PASS") == "1") { Console.Error.WriteLine($"after pass {passes}: working set {Mib(Repscope.Interop.NativeHeap.ResidentBytes())} MiB, gen0 GCs {GC.CollectionCount(0)}, gen2 {GC.CollectionCount(2)}, high-water mark {Mib(HighWaterMark())} MiB; {Where()}"); } };
// REPLICATES=N: the block-structure score's bootstrap replicates (default as `repscope layers`: Intervals.DefaultReplicates).
var scoreOptions = Environment.GetEnvironmentVariable("REPLICATES") is { Length: > 0 } reps ? new ScoreOptions(int.Parse(reps)) : ScoreOptions.Default;
// ONLY=pc / ONLY=cka: only the first components' passes, or only the CKA pass (diagnosis: which part's temporaries grow the heap).
string only = Environment.GetEnvironmentVariable("ONLY") ?? "";
if (only is "pc" or "cka")
{
    if (only == "pc") { FirstComponents.Compute(layers, run => pass((_, taps) => run(taps)), pcOptions); }
    else { var acc = new Repscope.Similarity.MinibatchCkaAccumulator(layers); pass((_, taps) => acc.Add(taps)); }
    Console.WriteLine($"ONLY={only}: {clock.Elapsed.TotalSeconds:F1} s; peak working set {Mib(Math.Max(peak, Process.GetCurrentProcess().PeakWorkingSet64))} MiB");
    return;
}
var r = LayerSimilarity.WithinModel(layers, [pass], pcOptions, scoreOptions: scoreOptions);
if (perBatch) { Console.Error.WriteLine($"after the analysis: high-water mark {Mib(HighWaterMark())} MiB; {Where()}"); }
double seconds = clock.Elapsed.TotalSeconds;
double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
// The analysis's peak: the OS's high-water mark now, before anything else runs (the floor below would add to it).
long analysisPeak = Math.Max(peak, Process.GetCurrentProcess().PeakWorkingSet64);
long bufferBytes = buffers.Bytes;
int trims = Repscope.Interop.NativeHeap.Trims;
buffers.Dispose();
// The floor: one forward pass of the same model over the same data in eval mode, no taps, no hooks (SKIP_FLOOR=1: not run,
// for a memory measurement).
if (Environment.GetEnvironmentVariable("SKIP_FLOOR") == "1")
{
    Console.WriteLine($"within-model analysis: {seconds:F1} s, {cpuSeconds:F1} s CPU ({passes} passes over the data: 1 CKA + PC1, {pcOptions.Passes - 1} more for PC1); floor not run (SKIP_FLOOR=1)");
}
else
{
    clock.Restart();
    cpu = Process.GetCurrentProcess().TotalProcessorTime;
    model.eval();
    using (torch.no_grad())
    {
        for (long start = 0; start < examples; start += batch)
        {
            using var scope = torch.NewDisposeScope();
            using var logits = model.call(data.Batch(start, Math.Min(start + batch, examples)));
        }
    }
    double forward = clock.Elapsed.TotalSeconds;
    double forwardCpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
    Console.WriteLine($"within-model analysis: {seconds:F1} s, {cpuSeconds:F1} s CPU ({passes} passes over the data: 1 CKA + PC1, {pcOptions.Passes - 1} more for PC1); one forward pass alone (no taps): {forward:F1} s, {forwardCpu:F1} s CPU; analysis / {passes} forward passes: {seconds / (passes * forward):F2} wall, {cpuSeconds / (passes * forwardCpu):F2} CPU");
}
Console.WriteLine($"analysis's peak working set: {Mib(analysisPeak)} MiB (the OS's high-water mark at its end); data set in memory: {Mib((long)examples * 3 * 32 * 32)} MiB of raw bytes (normalised per batch); tap buffers {Mib(bufferBytes)} MiB; free C heap given back {trims} time(s)");
Console.WriteLine($"all activations of all taps would be: {layers.Count} taps, {EstimateBytes(model, selection, examples) / 1048576} MiB float32");
Console.WriteLine($"block structure (random weights): {r.BlockStructure.Spans.Count} span(s), level {r.BlockStructure.Level:F3}");
// The results' bits (CKA matrix, first components' example vectors and fractions), to compare versions: must not change.
Console.WriteLine($"result bits: {Fnv(r.Cka.Values.Cast<double>().Concat(r.Components.SelectMany(c => c.ExampleVector.Append(c.Fraction)))):x16}");

// The process's high-water mark of resident memory (VmHWM, which .NET reads for PeakWorkingSet64 on Linux), bytes.
static long HighWaterMark() => Process.GetCurrentProcess().PeakWorkingSet64;

static ulong Fnv(IEnumerable<double> values)
{
    ulong h = 14695981039346656037UL;
    foreach (var v in values) { h = (h ^ (ulong)BitConverter.DoubleToInt64Bits(v)) * 1099511628211UL; }
    return h;
}

static long EstimateBytes(ResNet model, TapSet selection, long n)
{
    long total = 0;
    using var one = new ImageDataset("one", new RawImages(new byte[3 * 32 * 32], [0], 3, 32, 32), 10,
        Enumerable.Range(0, 10).Select(c => $"c{c}").ToArray(), new Normalisation([127.5, 127.5, 127.5], [64.0, 64.0, 64.0]));
    Activations.Pass(model, one, 1, selection)((_, taps) => { foreach (var t in taps) { total += t.shape[1]; } });
    return total * 4 * n;
}

static class Native
{
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "fopen")]
    internal static extern IntPtr Fopen(string path, string mode);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "fclose")]
    internal static extern int Fclose(IntPtr file);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "malloc_info")]
    internal static extern int MallocInfo(int options, IntPtr file);
}
