using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Repscope;
using Repscope.Analysis;
using Repscope.Interop;
using Repscope.Interop.Onnx;
using Repscope.Models;
using Repscope.Similarity;
using TorchSharp;

// OnnxBench MODEL.onnx X.npy [examples] [batch] [threads]
// Within-model minibatch CKA over the model's default taps, three ways, each timed end to end (best of 2):
//   ort       ONNX Runtime alone: one session with the taps as outputs, every batch run, outputs read
//   cka       the CKA engine alone: MinibatchCkaAccumulator over the same activations held in memory
//   repscope  Repscope's path: OnnxModel.Open (graph edit, session) + stream + accumulator (what `layers` does for its CKA map)
// Prints the ratio repscope / (ort + cka). X.npy's rows are repeated up to `examples`.
string model = args[0], xPath = args[1];
int examples = args.Length > 2 ? int.Parse(args[2]) : 4096;
int batch = args.Length > 3 ? int.Parse(args[3]) : 256;
int threads = args.Length > 4 ? int.Parse(args[4]) : 2;
torch.set_num_threads(threads);
var graph = OnnxGraph.Read(model);
var taps = OnnxModel.DefaultTaps(graph);
var x0 = Npy.Read(xPath);
var rows = Enumerable.Range(0, examples).Select(i => OnnxInputs.Slice1(x0, i % x0.Rows)).ToList();
var x = OnnxInputs.Stack(x0.Name, rows);
var inputs = OnnxInputs.Bind(graph, new Dictionary<string, NdArray> { [graph.Inputs[0].Name] = x });
Console.WriteLine($"{Path.GetFileName(model)}: {taps.Count} default taps, {examples} examples, batch {batch}, threads {threads}, load {File.ReadAllText("/proc/loadavg").Trim()}");

double Best(Func<double> f) => Math.Min(f(), f());

// ort alone (and the activations kept for the CKA engine)
var kept = new List<List<torch.Tensor>>();
double ort = Best(() =>
{
    foreach (var b in kept) { foreach (var t in b) { t.Dispose(); } }
    kept.Clear();
    var sw = Stopwatch.StartNew();
    using var options = new SessionOptions { IntraOpNumThreads = threads };
    using var session = new InferenceSession(graph.WithOutputs(taps), options);
    for (long s = 0; s < examples; s += batch)
    {
        long n = Math.Min(batch, examples - s);
        var part = inputs.Slice(s, n).Arrays[graph.Inputs[0].Name];
        using var value = OrtValue.CreateTensorValueFromMemory(part.ToFloat32(), part.Shape);
        using var outs = session.Run(new RunOptions(), [graph.Inputs[0].Name], [value], taps.ToArray());
        kept.Add(outs.Select(o => torch.tensor(o.GetTensorDataAsSpan<float>().ToArray(), [n, -1])).ToList());
    }
    return sw.Elapsed.TotalSeconds;
});

double cka = Best(() =>
{
    var sw = Stopwatch.StartNew();
    var acc = new MinibatchCkaAccumulator(taps);
    foreach (var b in kept) { acc.Add(b); }
    acc.Result();
    return sw.Elapsed.TotalSeconds;
});

double[,]? values = null;
double repscope = Best(() =>
{
    var sw = Stopwatch.StartNew();
    using var m = OnnxModel.Open(model, taps, threads);
    using var source = new OnnxSource(m, inputs, true);
    var acc = new MinibatchCkaAccumulator(taps);
    source.Pass(0, examples, batch, ProgressReporter.None)((_, t) => acc.Add(t));
    values = acc.Result().Values;
    return sw.Elapsed.TotalSeconds;
});
Console.WriteLine($"ort {ort:F2}s  cka {cka:F2}s  ort+cka {ort + cka:F2}s  repscope {repscope:F2}s  ratio {repscope / (ort + cka):F2}  (CKA[0,last] {values![0, taps.Count - 1]:F4})");
