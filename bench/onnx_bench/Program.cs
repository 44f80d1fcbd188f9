using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Repscope;
using Repscope.Interop;
using Repscope.Interop.Onnx;
using Repscope.Models;
using Repscope.Similarity;
using TorchSharp;

// OnnxBench MODEL.onnx X.npy [examples] [batch] [threads] [reps] ["seq:2:2 pipe:1:1 ..."]
// Within-model minibatch CKA over the model's default taps, three ways, each timed end to end (best of `reps`):
//   ort       ONNX Runtime alone: a session over the model with the taps already exposed as outputs (the edited bytes
//             are made before the clock starts, as if the file had those outputs), same SessionOptions as Repscope's
//             (OnnxModel.SessionSettings), every batch run, outputs left in ONNX Runtime's memory
//   cka       the CKA engine alone: MinibatchCkaAccumulator over the same activations, already in TorchSharp tensors, one
//             set of CKA worker threads for all batches
//   repscope  Repscope's path: OnnxModel.Open (read the file, edit the graph, session) + stream + accumulator, as
//             `repscope layers MODEL --taps ...` does for its CKA map (pipelined from 2 threads on: OnnxModel.Pipelined);
//             also other thread splits for reference (7th argument)
//   export    `repscope export`'s path (ExportWorkflow.Run: open, stream, the streaming .npz writer) against ONNX Runtime
//             alone plus the same .npz written from the activations already in tensors ("write"), members stored (np.savez,
//             `export --uncompressed`) and deflated (the default); EXPORT="stored" (or "deflated", or "") chooses
// Prints one line with the baseline's phases, then one per way of running Repscope's path with its ratio
// repscope / (ort + cka), its CPU seconds and its map's max|diff| from the baseline's. X.npy's rows are repeated up to `examples`.
string model = args[0], xPath = args[1];
int examples = args.Length > 2 ? int.Parse(args[2]) : 4096;
int batch = args.Length > 3 ? int.Parse(args[3]) : 256;
int threads = args.Length > 4 ? int.Parse(args[4]) : 2;
int reps = args.Length > 5 ? int.Parse(args[5]) : 3;
string also = args.Length > 6 ? args[6] : "";
torch.set_num_threads(threads);
var graph = OnnxGraph.Read(model);
var taps = OnnxModel.DefaultTaps(graph);
var x0 = Npy.Read(xPath);
var rows = Enumerable.Range(0, examples).Select(i => OnnxInputs.Slice1(x0, i % x0.Rows)).ToList();
var x = OnnxInputs.Stack(x0.Name, rows);
string inputName = graph.Inputs[0].Name;
var inputs = OnnxInputs.Bind(graph, new Dictionary<string, NdArray> { [inputName] = x });
string load0 = File.ReadAllText("/proc/loadavg").Trim();

// The three ways run in rounds (one of each per round, `reps` rounds) and each keeps its best time, so that a change
// of load on a shared machine hits all three alike.

// ort alone
byte[] edited = graph.WithOutputs(taps);
var tapNames = taps.ToArray();
float[] data = inputs.Arrays[inputName].ToFloat32();
double ortSession = double.MaxValue;
double ortCpu = double.MaxValue, ckaCpu = double.MaxValue;
double Cpu() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
// With `bound`, every tap is written into buffers of the caller's (as Repscope's path binds them; the first batch, which
// tells the shapes, the ordinary way), for where the time goes: against the ordinary way, the cost of delivering the taps.
double ortBoundCpu = double.MaxValue;
float[][]? outBuffers = null;
double Ort(bool spinning, bool bound = false)
{
    double cpu0 = Cpu();
    var sw = Stopwatch.StartNew();
    using var options = OnnxModel.SessionSettings(threads, spinning);
    using var session = new InferenceSession(edited, options);
    if (!bound) { ortSession = Math.Min(ortSession, sw.Elapsed.TotalSeconds); }
    using var runOptions = new RunOptions();
    long per = inputs.Arrays[inputName].FeaturesPerRow;
    long[][]? shapes = null;
    for (long s = 0; s < examples; s += batch)
    {
        long n = Math.Min(batch, examples - s);
        var shape = inputs.Arrays[inputName].Shape;
        shape[0] = n;
        using var value = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, new Memory<float>(data, (int)(s * per), (int)(n * per)), shape);
        if (!bound || shapes is null)
        {
            using var outs = session.Run(runOptions, [inputName], [value], tapNames);
            if (bound)
            {
                shapes = outs.Select(o => o.GetTensorTypeAndShape().Shape).ToArray();
                outBuffers ??= shapes.Select(sh => new float[sh.Aggregate(1L, (a, b) => a * b)]).ToArray();
            }
            continue;
        }
        var into = shapes.Select((sh, i) => { var t = (long[])sh.Clone(); t[0] = n; return OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, new Memory<float>(outBuffers![i], 0, (int)t.Aggregate(1L, (a, b) => a * b)), t); }).ToList();
        session.Run(runOptions, [inputName], [value], tapNames, into);
        foreach (var o in into) { o.Dispose(); }
    }
    double cpu = Cpu() - cpu0;
    if (bound) { ortBoundCpu = Math.Min(ortBoundCpu, cpu); }
    else { ortCpu = Math.Min(ortCpu, cpu); }
    return sw.Elapsed.TotalSeconds;
}

// the activations, in tensors, for the CKA engine alone (not timed)
var kept = new List<List<torch.Tensor>>();
using (var m = OnnxModel.Open(model, taps, threads))
{
    m.Stream(inputs, batch, (_, t) => kept.Add(t.Select(a => a.reshape(a.shape[0], -1).clone().DetachFromDisposeScope()).ToList()));
}
double[,]? expected = null;
double Cka()
{
    double cpu0 = Cpu();
    var sw = Stopwatch.StartNew();
    var acc = new MinibatchCkaAccumulator(taps);
    using (var workers = GramWorkers.ForCallingThread()) { foreach (var b in kept) { acc.Add(b, overwrite: false, workers); } }
    expected = acc.Result().Values;
    ckaCpu = Math.Min(ckaCpu, Cpu() - cpu0);
    return sw.Elapsed.TotalSeconds;
}

// Repscope's path as shipped (OnnxModel.Open with `threads`), and, for reference, the thread splits of `also`:
// "seq:O:C" batch by batch, ONNX Runtime on O threads, CKA engine on C; "pipe:O:C" pipelined (OnnxModel.Pipelined).
var variants = new List<string> { "shipped" };
variants.AddRange(also.Split(' ', StringSplitOptions.RemoveEmptyEntries));
var best = variants.ToDictionary(v => v, _ => double.MaxValue);
var bestOpen = variants.ToDictionary(v => v, _ => double.MaxValue);
var bestAdd = variants.ToDictionary(v => v, _ => double.MaxValue);
var bestCpu = variants.ToDictionary(v => v, _ => double.MaxValue);
var diffs = variants.ToDictionary(v => v, _ => 0.0);
double Repscope(string variant)
{
    var parts = variant.Split(':');
    int ckaThreads = parts.Length == 3 ? int.Parse(parts[2]) : threads;
    torch.set_num_threads(ckaThreads);
    double cpu0 = Cpu();
    var sw = Stopwatch.StartNew();
    using var m = parts.Length == 3 ? OnnxModel.Open(model, taps, parts[0] == "pipe", int.Parse(parts[1])) : OnnxModel.Open(model, taps, threads);
    bestOpen[variant] = Math.Min(bestOpen[variant], sw.Elapsed.TotalSeconds);
    using var source = new OnnxSource(m, inputs, true);
    var acc = new MinibatchCkaAccumulator(taps);
    var add = new Stopwatch();
    using (var workers = GramWorkers.ForCallingThread())   // one set of CKA workers for the whole pass, as LayerSimilarity has
    {
        source.Pass(0, examples, batch, ProgressReporter.None)((_, t) => { add.Start(); acc.Add(t, overwrite: false, workers); add.Stop(); });
    }
    var values = acc.Result().Values;
    double wall = sw.Elapsed.TotalSeconds;
    bestCpu[variant] = Math.Min(bestCpu[variant], Cpu() - cpu0);
    torch.set_num_threads(threads);
    bestAdd[variant] = Math.Min(bestAdd[variant], add.Elapsed.TotalSeconds);
    for (int i = 0; i < taps.Count; i++) { for (int j = 0; j < taps.Count; j++) { diffs[variant] = Math.Max(diffs[variant], Math.Abs(values[i, j] - expected![i, j])); } }
    return wall;
}

// `repscope export` against its own baseline: the same .npz written from the activations already in tensors (the same
// streaming writer, settings and bytes; "write") after ONNX Runtime alone. Both write into a fresh folder in TMPDIR,
// removed after each run (the file's pages may still be in the page cache, being written back, for either alike).
string exportRoot = Path.Combine(Path.GetTempPath(), $"onnx-bench-export-{Environment.ProcessId}");
string[] exportModes = (Environment.GetEnvironmentVariable("EXPORT") ?? "stored deflated").Split(' ', StringSplitOptions.RemoveEmptyEntries);
var exportWrite = exportModes.ToDictionary(m => m, _ => double.MaxValue);
var exportRun = exportModes.ToDictionary(m => m, _ => double.MaxValue);
var exportWriteCpu = exportModes.ToDictionary(m => m, _ => double.MaxValue);
var exportCpu = exportModes.ToDictionary(m => m, _ => double.MaxValue);
var exportBytes = exportModes.ToDictionary(m => m, _ => 0L);
void Timed(string mode, bool alone)
{
    if (Directory.Exists(exportRoot)) { Directory.Delete(exportRoot, recursive: true); }
    Directory.CreateDirectory(exportRoot);
    string path = Path.Combine(exportRoot, "acts.npz");
    bool compress = mode == "deflated";
    double cpu0 = Cpu();
    var sw = Stopwatch.StartNew();
    if (alone) { WriteAlone(path, compress); }
    else { ExportPath(path, compress); }
    double wall = sw.Elapsed.TotalSeconds, cpu = Cpu() - cpu0;
    var (bestWall, bestCpu) = alone ? (exportWrite, exportWriteCpu) : (exportRun, exportCpu);
    bestWall[mode] = Math.Min(bestWall[mode], wall);
    bestCpu[mode] = Math.Min(bestCpu[mode], cpu);
    exportBytes[mode] = new FileInfo(path).Length;
    Directory.Delete(exportRoot, recursive: true);
}
void WriteAlone(string path, bool compress)
{
    var members = global::Repscope.Workflows.ExportWorkflow.MemberNames(taps);
    using var writer = new NpzStreamWriter(path, compress);
    foreach (var b in kept)
    {
        for (int i = 0; i < b.Count; i++) { writer.Append(members[i], NpyDType.Float32, [b[i].shape[1]], b[i].shape[0], b[i].bytes); }
    }
    writer.Complete();
}
void ExportPath(string path, bool compress)
{
    using var m = OnnxModel.Open(model, taps, threads);
    using var source = new OnnxSource(m, inputs, true);
    global::Repscope.Workflows.ExportWorkflow.Run(source, path, batch, compress: compress);
}

// ONNX Runtime alone at its best: with its worker threads spin-waiting between runs (its default) or not (Repscope's setting)
double ortSpin = double.MaxValue, ortNoSpin = double.MaxValue, cka = double.MaxValue, ortBound = double.MaxValue;
for (int r = 0; r < reps; r++)
{
    ortSpin = Math.Min(ortSpin, Ort(true));
    ortNoSpin = Math.Min(ortNoSpin, Ort(false));
    if (Environment.GetEnvironmentVariable("ORT_BOUND") == "1") { ortBound = Math.Min(ortBound, Ort(false, bound: true)); }
    cka = Math.Min(cka, Cka());
    foreach (var v in variants) { best[v] = Math.Min(best[v], Repscope(v)); }
    foreach (string mode in exportModes)
    {
        Timed(mode, alone: true);
        Timed(mode, alone: false);
    }
}
double ort = Math.Min(ortSpin, ortNoSpin);
foreach (var b in kept) { foreach (var t in b) { t.Dispose(); } }
string load1 = File.ReadAllText("/proc/loadavg").Trim();
Console.WriteLine($"{Path.GetFileName(model)} taps {taps.Count} examples {examples} batch {batch} threads {threads} best of {reps}: "
                  + $"ort {ort:F3}s (spinning {ortSpin:F3}s, not {ortNoSpin:F3}s; session {ortSession:F3}s; CPU {ortCpu:F3}s)  cka {cka:F3}s (CPU {ckaCpu:F3}s)  ort+cka {ort + cka:F3}s  "
                  + $"load before {load0}  after {load1}");
if (ortBound < double.MaxValue) { Console.WriteLine($"  ort with the taps written into the caller's buffers: {ortBound:F3}s (CPU {ortBoundCpu:F3}s)"); }
foreach (string mode in exportModes)
{
    Console.WriteLine($"  export {mode}: write alone {exportWrite[mode]:F3}s (CPU {exportWriteCpu[mode]:F3}s)  ort+write {ort + exportWrite[mode]:F3}s  "
                      + $"repscope export {exportRun[mode]:F3}s (CPU {exportCpu[mode]:F3}s)  ratio {exportRun[mode] / (ort + exportWrite[mode]):F2}  ({exportBytes[mode] / 1e6:F0} MB .npz)");
}
foreach (var v in variants)
{
    Console.WriteLine($"  repscope {v}: {best[v]:F3}s (open {bestOpen[v]:F3}s, in CKA {bestAdd[v]:F3}s, CPU {bestCpu[v]:F3}s)  ratio {best[v] / (ort + cka):F2}  max|diff| {diffs[v]:0.0e+0}");
}
