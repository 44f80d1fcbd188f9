using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Tensor = TorchSharp.torch.Tensor;
using Repscope.Interop;
using Repscope.Interop.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Models;

/// <summary>
/// An activation source over ONNX Runtime: a model file with chosen tensors (taps) exposed as graph outputs; batches of
/// <see cref="OnnxInputs"/> in, one float32 tensor per tap out, in tap order, with the tensor's own shape and the
/// examples as its first dimension ([b, ...]; a tap laid out [tokens, b, ...] is delivered [b, tokens, ...], see
/// <see cref="Stream"/>). Only one batch's taps are alive at a time. A model whose inputs have a fixed batch dimension of 1 is
/// run one example at a time and the examples of a batch are stacked.
/// </summary>
public sealed partial class OnnxModel : IDisposable
{
    private readonly InferenceSession _session;
    private readonly bool _ownsSession;
    private readonly string[] _inputNames;
    private readonly string[] _tapNames;
    private readonly Dictionary<string, TensorElementType> _inputTypes;
    // The dimension of each tap that holds the examples: from the shapes ONNX Runtime infers (the dimension named like
    // the inputs' symbolic batch dimension), else learned from the first batch of two or more; null until known.
    private readonly int?[] _exampleAxes;
    // Each tap's dimensions as ONNX Runtime infers them (-1: not fixed); null where the shape is unknown. A fixed
    // dimension does not hold the examples, whatever its size.
    private readonly long[]?[] _inferredDims;
    // Output buffers: after the first batch has shown every tap to be float32 with a dimension of examples, ONNX Runtime
    // writes the taps of each later batch straight into these tensors' storage (the first elements of a flat tensor
    // sized for the largest batch), and the tensors handed on are views of them: no copy, no allocation (a tap whose
    // examples are not its first dimension is then copied once, examples first).
    private long[][]? _shapes;   // each tap's shape in the batch that taught it; null until learned, or never (not bindable)
    private bool _bindable = true;
    private Tensor[][]? _buffers;   // one set of output buffers, or two when pipelined (ONNX Runtime fills one while the caller reads the other)
    private long _bufferRows;

    private OnnxModel(OnnxGraph graph, IReadOnlyList<string> taps, InferenceSession session, bool ownsSession = true, bool pipelined = false)
    {
        Pipelined = pipelined;
        Graph = graph;
        Taps = taps;
        _session = session;
        _ownsSession = ownsSession;
        _inputNames = graph.Inputs.Select(i => i.Name).ToArray();
        _tapNames = taps.ToArray();
        _inputTypes = _inputNames.ToDictionary(n => n, n => session.InputMetadata[n].ElementDataType, StringComparer.Ordinal);
        FixedBatchOfOne = graph.Inputs.Any(i => i.Shape is { Count: > 0 } s && s[0] == "1");
        _exampleAxes = InferredExampleAxes(graph, session, _tapNames);
        _inferredDims = _tapNames.Select(t => session.OutputMetadata.TryGetValue(t, out var m) && m.IsTensor ? m.Dimensions.Select(d => (long)d).ToArray() : null).ToArray();
    }

    /// <summary>
    /// For each tap, the one dimension of its inferred shape that carries the inputs' symbolic batch dimension ("batch"
    /// in [tokens, batch, d]), or null where no dimension or several do (the shape is unknown, the batch dimension is
    /// fixed, or a reshape merged it with another).
    /// </summary>
    private static int?[] InferredExampleAxes(OnnxGraph graph, InferenceSession session, string[] taps)
    {
        var symbols = graph.Inputs.Select(i => i.Shape is { Count: > 0 } s ? s[0] : null)
                           .Where(d => d is not null && d != "?" && !long.TryParse(d, out _)).ToHashSet(StringComparer.Ordinal);
        var meta = session.OutputMetadata;
        return taps.Select(tap =>
        {
            if (symbols.Count == 0 || !meta.TryGetValue(tap, out var m) || !m.IsTensor) { return (int?)null; }
            var at = m.SymbolicDimensions.Select((d, i) => (d, i)).Where(x => m.Dimensions[x.i] < 0 && symbols.Contains(x.d)).Select(x => x.i).ToList();
            return at.Count == 1 ? at[0] : null;
        }).ToArray();
    }

    public OnnxGraph Graph { get; }

    /// <summary>The tensors delivered per batch, in this order.</summary>
    public IReadOnlyList<string> Taps { get; }

    /// <summary>The model's inputs fix the batch dimension to 1: examples run one at a time.</summary>
    public bool FixedBatchOfOne { get; }

    /// <summary>
    /// ONNX Runtime runs batch k + 1 on a thread of its own while the caller's callback has batch k (see <see cref="Stream"/>).
    /// Chosen by <see cref="Open"/>: with two threads or more.
    /// </summary>
    public bool Pipelined { get; }

    /// <summary>Batches delivered by the pipeline so far (the others ran batch by batch on the calling thread).</summary>
    internal long PipelinedBatches { get; private set; }

    /// <summary>A short name for reports: the file name without ".onnx".</summary>
    public string Architecture => System.IO.Path.GetFileNameWithoutExtension(Graph.Path);

    /// <summary>
    /// Opens <paramref name="path"/> with <paramref name="taps"/> (null: <see cref="OnnxGraph.DefaultTaps"/>) exposed.
    /// Unknown taps, a file that is not ONNX and operators ONNX Runtime lacks are <see cref="RepscopeException"/>s.
    /// </summary>
    public static OnnxModel Open(string path, IReadOnlyList<string>? taps = null, int threads = 0)
    {
        if (threads <= 0) { threads = torch.get_num_threads(); }
        return Open(path, taps, threads >= 2, threads >= 2 ? PipelineSessionThreads(threads) : 1);
    }

    /// <summary>ONNX Runtime's intra-op threads in a pipelined model on <paramref name="threads"/> cores.</summary>
    internal static int PipelineSessionThreads(int threads) => threads;

    /// <summary><see cref="Open(string, IReadOnlyList{string}?, int)"/> with the thread split given (benchmarks and tests).</summary>
    internal static OnnxModel Open(string path, IReadOnlyList<string>? taps, bool pipelined, int sessionThreads)
    {
        var graph = OnnxGraph.Read(path);
        taps ??= DefaultTaps(graph);
        if (taps.Count == 0) { throw new RepscopeException($"{path}: no taps chosen and the graph has no default taps; name some (`repscope taps {path}` lists them)"); }
        graph.CheckTaps(taps);
        if (taps.Distinct().Count() != taps.Count) { throw new RepscopeException($"{path}: a tap is named twice"); }
        return new OnnxModel(graph, taps, CreateSession(graph, taps, sessionThreads), pipelined: pipelined);
    }

    /// <summary>
    /// The default tap set (<see cref="OnnxGraph.DefaultTaps"/>), told apart from broadcast additions by the shapes the
    /// tensors really have on one example: the first of <paramref name="sample"/>, or (null) one made of zeros with
    /// every symbolic dimension set to 1. Where the model cannot run on it, by the shapes ONNX Runtime infers.
    /// </summary>
    public static IReadOnlyList<string> DefaultTaps(OnnxGraph graph, OnnxInputs? sample = null)
    {
        // One session with every tensor exposed serves both the inferred shapes and the probe run.
        using var session = CreateSession(graph, graph.Tensors.Select(t => t.Name).ToList(), 1);
        var described = Describe(graph, session);
        var candidates = graph.AdditionInputs();
        if (candidates.Count == 0) { return graph.DefaultTaps(described); }
        try
        {
            sample = (sample ?? Zeros(graph)).Take(1);
            using var probe = new OnnxModel(graph, candidates, session, ownsSession: false);
            var real = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
            probe.Stream(sample, 1, (_, taps) =>
            {
                for (int i = 0; i < taps.Count; i++) { real[candidates[i]] = taps[i].shape.Select(d => d.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList(); }
            });
            return graph.DefaultTaps(described.Select(t => real.TryGetValue(t.Name, out var s) ? t with { Shape = s } : t).ToList());
        }
        catch (RepscopeException)
        {
            return graph.DefaultTaps(described);
        }
    }

    /// <summary>One example of zeros for every input, symbolic dimensions set to 1.</summary>
    private static OnnxInputs Zeros(OnnxGraph graph)
    {
        var arrays = new Dictionary<string, NdArray>(StringComparer.Ordinal);
        foreach (var input in graph.Inputs)
        {
            if (input.Shape is null) { throw new RepscopeException($"{graph.Path}: input '{input.Name}' has no shape"); }
            long[] shape = input.Shape.Select((d, i) => i == 0 ? 1 : long.TryParse(d, out long v) ? v : 1).ToArray();
            long count = shape.Aggregate(1L, (a, b) => a * b);
            arrays[input.Name] = input.ElementType switch
            {
                "float32" => NdArray.FromFloat32(input.Name, new float[count], shape),
                "float16" => NdArray.FromFloat16(input.Name, new Half[count], shape),
                "float64" => NdArray.FromFloat64(input.Name, new double[count], shape),
                "int64" => NdArray.FromInt64(input.Name, new long[count], shape),
                "int32" => NdArray.FromInt32(input.Name, new int[count], shape),
                _ => throw new RepscopeException($"{graph.Path}: input '{input.Name}' is {input.ElementType}"),
            };
        }
        return OnnxInputs.Bind(graph, arrays);
    }

    /// <summary>Every tensor of the graph with its element type and shape as ONNX Runtime infers them.</summary>
    public static IReadOnlyList<OnnxTensor> Describe(OnnxGraph graph)
    {
        using var session = CreateSession(graph, graph.Tensors.Select(t => t.Name).ToList(), 1);
        return Describe(graph, session);
    }

    /// <summary><see cref="Describe(OnnxGraph)"/> from a session that exposes every tensor.</summary>
    private static IReadOnlyList<OnnxTensor> Describe(OnnxGraph graph, InferenceSession session)
    {
        var meta = session.OutputMetadata;
        return graph.Tensors.Select(t =>
        {
            if (!meta.TryGetValue(t.Name, out var m) || !m.IsTensor) { return t; }
            var dims = m.Dimensions.Select((d, i) => d >= 0 ? d.ToString(System.Globalization.CultureInfo.InvariantCulture)
                                                    : string.IsNullOrEmpty(m.SymbolicDimensions[i]) ? "?" : m.SymbolicDimensions[i]).ToList();
            return t with { ElementType = t.ElementType ?? ElementTypeName(m.ElementDataType), Shape = t.Shape ?? dims };
        }).ToList();
    }

    /// <summary>
    /// Runs the examples of <paramref name="inputs"/> in order, in batches of <paramref name="batchSize"/>; for each
    /// batch calls <paramref name="onBatch"/>(first example's index, taps), always on the calling thread and in order.
    /// The tensors are disposed (or refilled) when the callback returns. A <see cref="Pipelined"/> model runs the next
    /// batch in ONNX Runtime on a thread of its own while the callback has this one, once the first batch has shown that
    /// the taps can be written into preallocated buffers (two sets, used in turn): the same tensors, in the same order.
    /// </summary>
    public void Stream(OnnxInputs inputs, int batchSize, Action<long, IReadOnlyList<Tensor>> onBatch, IProgressReporter? progress = null)
    {
        if (batchSize < 1) { throw new RepscopeException($"batch size must be positive, got {batchSize}"); }
        using var task = (progress ?? ProgressReporter.None).Start($"activations of {Architecture}", inputs.Examples);
        using var runOptions = new RunOptions();
        long start = 0;
        // Batch by batch on this thread until the outputs can be bound (the first batch teaches the taps' shapes); then,
        // pipelined, the rest when two batches or more are left. The batch that taught the shapes is handed to the callback
        // once ONNX Runtime has started on the next one.
        while (start < inputs.Examples)
        {
            long count = Math.Min(batchSize, inputs.Examples - start);
            if (Pipelined && _shapes is not null && count < inputs.Examples - start)
            {
                StreamPipelined(inputs, start, batchSize, onBatch, task, lead: null);
                break;
            }
            using var scope = NewDisposeScope();
            bool learning = _shapes is null;
            List<Tensor> taps;
            if (!FixedBatchOfOne)
            {
                taps = Run(runOptions, inputs, start, count);
            }
            else
            {
                var parts = Enumerable.Range(0, (int)count).Select(i => Run(runOptions, inputs, start + i, 1)).ToList();
                taps = Enumerable.Range(0, Taps.Count).Select(t => torch.cat(parts.Select(p => p[t]).ToList(), 0)).ToList();
            }
            long at = start;
            start += count;
            if (Pipelined && learning && _shapes is not null && start < inputs.Examples)
            {
                // These taps are tensors of their own (not in the buffers the pipeline fills).
                StreamPipelined(inputs, start, batchSize, onBatch, task, lead: () => { onBatch(at, taps); task.Advance(count); });
                break;
            }
            onBatch(at, taps);
            task.Advance(count);
        }
        task.Complete();
    }

    /// <summary>A batch that ONNX Runtime has written into buffer set <paramref name="Set"/>, or the error that stopped it.</summary>
    private readonly record struct Produced(long Start, long Count, int Set, Exception? Error);

    /// <summary>
    /// Examples [<paramref name="first"/>, end) with ONNX Runtime one batch ahead: a producer thread runs batch k + 1 into
    /// buffer set (k + 1) mod 2 while this thread's callback reads set k mod 2; a set is run into again only after its
    /// callback has returned. Every tensor operation stays on this thread; the producer only calls ONNX Runtime.
    /// <paramref name="lead"/> (the callback of the batch before <paramref name="first"/>, held elsewhere) runs once the
    /// producer has started.
    /// </summary>
    private void StreamPipelined(OnnxInputs inputs, long first, int batchSize, Action<long, IReadOnlyList<Tensor>> onBatch, IProgressTask task, Action? lead)
    {
        var sets = Buffers(batchSize, 2);
        var addresses = sets.Select(set => set.Select(DataPointer).ToArray()).ToArray();
        using var free = new SemaphoreSlim(sets.Length);
        using var ready = new System.Collections.Concurrent.BlockingCollection<Produced>();
        using var stop = new CancellationTokenSource();
        var producer = new Thread(() => Produce(inputs, first, batchSize, addresses, free, ready, stop.Token))
        {
            IsBackground = true, Name = "repscope onnx runtime",
        };
        producer.Start();
        try
        {
            lead?.Invoke();
            foreach (var p in ready.GetConsumingEnumerable())
            {
                if (p.Error is not null) { System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(p.Error); }
                using (var scope = NewDisposeScope())
                {
                    onBatch(p.Start, ExamplesFirst(Views(sets[p.Set], p.Count), p.Count));
                }
                PipelinedBatches++;
                task.Advance(p.Count);
                free.Release();
            }
        }
        finally
        {
            stop.Cancel();
            producer.Join();
        }
    }

    private void Produce(OnnxInputs inputs, long first, int batchSize, IntPtr[][] addresses, SemaphoreSlim free,
                         System.Collections.Concurrent.BlockingCollection<Produced> ready, CancellationToken stop)
    {
        try
        {
            using var runOptions = new RunOptions();
            int k = 0;
            for (long start = first; start < inputs.Examples; start += batchSize, k++)
            {
                free.Wait(stop);
                long count = Math.Min(batchSize, inputs.Examples - start);
                int set = k % addresses.Length;
                RunInto(runOptions, inputs, start, count, addresses[set]);
                ready.Add(new Produced(start, count, set, null));
            }
        }
        catch (OperationCanceledException) { }
        catch (Exception e) { ready.Add(new Produced(0, 0, 0, e)); }
        finally { ready.CompleteAdding(); }
    }

    public void Dispose()
    {
        DisposeBuffers();
        if (_ownsSession) { _session.Dispose(); }
    }

    private List<Tensor> Run(RunOptions runOptions, OnnxInputs inputs, long start, long count)
    {
        if (_shapes is not null)
        {
            var set = Buffers(count, 1)[0];
            RunInto(runOptions, inputs, start, count, set.Select(DataPointer).ToArray());
            return ExamplesFirst(Views(set, count), count);
        }
        var values = new List<OrtValue>();
        try
        {
            foreach (var name in _inputNames) { values.Add(Slice(inputs.Arrays[name], _inputTypes[name], start, count)); }
            using var allocated = _session.Run(runOptions, _inputNames, values, _tapNames);
            var taps = allocated.Select((o, i) => ToTensor(Taps[i], o)).ToList();
            var delivered = ExamplesFirst(taps, count);
            LearnShapes(taps, count);
            return delivered;
        }
        catch (OnnxRuntimeException e)
        {
            throw RunFailed(e, start, count);
        }
        finally
        {
            foreach (var v in values) { v.Dispose(); }
        }
    }

    /// <summary>
    /// Each tap of a batch of <paramref name="count"/> examples with its examples' dimension first (moved there, one
    /// copy, where the model lays them out otherwise). Which dimension holds the examples: the one ONNX Runtime's shape
    /// inference names like the inputs' batch dimension; else, among the dimensions with <paramref name="count"/> entries
    /// that the inferred shape does not fix, the first dimension, or the only one. Anything else is a RepscopeException:
    /// the examples cannot be told apart.
    /// </summary>
    private List<Tensor> ExamplesFirst(List<Tensor> taps, long count)
    {
        var delivered = new List<Tensor>(taps.Count);
        for (int i = 0; i < taps.Count; i++)
        {
            int axis = ExampleAxis(i, taps[i].shape, count);
            delivered.Add(axis == 0 ? taps[i] : taps[i].movedim([axis], [0]).contiguous());
        }
        return delivered;
    }

    private int ExampleAxis(int tap, long[] shape, long count)
    {
        if (_exampleAxes[tap] is int known)
        {
            if (known < shape.Length && shape[known] == count) { return known; }
            throw NoExampleAxis(tap, shape, count, $"dimension {known} held the examples before");
        }
        // Candidates: the dimensions of this size that the inferred shape does not fix (to anything but the inputs' fixed batch of 1).
        var inferred = _inferredDims[tap] is { } d && d.Length == shape.Length ? d : null;
        var matching = Enumerable.Range(0, shape.Length)
                                 .Where(k => shape[k] == count && (inferred is null || inferred[k] < 0 || (FixedBatchOfOne && inferred[k] == 1))).ToList();
        if (matching.Count == 0) { throw NoExampleAxis(tap, shape, count, "no dimension that varies with the batch has that size"); }
        if (matching[0] != 0 && matching.Count > 1) { throw NoExampleAxis(tap, shape, count, "several dimensions have that size"); }
        int axis = matching[0];
        if (count >= 2) { _exampleAxes[tap] = axis; }   // later batches must agree
        return axis;
    }

    private RepscopeException NoExampleAxis(int tap, long[] shape, long count, string why) =>
        new($"{Graph.Path}: tap '{_tapNames[tap]}' has shape {NdArray.ShapeText(shape)} for a batch of {count} example(s) and Repscope cannot tell " +
            $"which dimension holds the examples ({why}); tap a tensor with one dimension of examples");

    /// <summary>After a batch of <paramref name="count"/> run the ordinary way: can later batches be written into buffers?</summary>
    private void LearnShapes(List<Tensor> taps, long count)
    {
        if (!_bindable || _shapes is not null) { return; }
        var meta = _session.OutputMetadata;
        if (count < 2 || _tapNames.Any(n => meta[n].ElementDataType != TensorElementType.Float))
        {
            _bindable = count < 2;   // a batch of one cannot tell the example dimension; decide on a later batch
            return;
        }
        _shapes = taps.Select(t => t.shape).ToArray();
    }

    /// <summary>Each tap's shape (in the model's own layout) for a batch of <paramref name="count"/>; needs the learned shapes.</summary>
    private long[][] BatchShapes(long count) =>
        _shapes!.Select((s, i) => s.Select((d, k) => k == _exampleAxes[i] ? count : d).ToArray()).ToArray();

    /// <summary>
    /// <paramref name="sets"/> sets of output buffers, one flat float32 tensor per tap sized for batches of up to
    /// <paramref name="rows"/> examples (kept, made again only when too few or too small). Not in any dispose scope.
    /// </summary>
    private Tensor[][] Buffers(long rows, int sets)
    {
        if (_buffers is null || _buffers.Length < sets || _bufferRows < rows)
        {
            rows = Math.Max(rows, _bufferRows);
            sets = Math.Max(sets, _buffers?.Length ?? 0);
            DisposeBuffers();
            var shapes = BatchShapes(rows);
            _buffers = Enumerable.Range(0, sets)
                                 .Select(_ => shapes.Select(s => torch.empty(s.Aggregate(1L, (a, b) => a * b), ScalarType.Float32).DetachFromDisposeScope()).ToArray())
                                 .ToArray();
            _bufferRows = rows;
        }
        return _buffers;
    }

    private void DisposeBuffers()
    {
        if (_buffers is null) { return; }
        foreach (var set in _buffers) { foreach (var b in set) { b.Dispose(); } }
        _buffers = null;
        _bufferRows = 0;
    }

    /// <summary>A batch of <paramref name="count"/> in one buffer set: views of each buffer's first elements, in the model's own layout.</summary>
    private List<Tensor> Views(Tensor[] set, long count)
    {
        var shapes = BatchShapes(count);
        var views = new List<Tensor>(set.Length);
        for (int i = 0; i < set.Length; i++) { views.Add(set[i].narrow(0, 0, shapes[i].Aggregate(1L, (a, b) => a * b)).view(shapes[i])); }
        return views;
    }

    /// <summary>
    /// Runs examples [<paramref name="start"/>, start + <paramref name="count"/>) with the outputs bound to the buffers at
    /// <paramref name="addresses"/> (ONNX Runtime writes the taps there: no copy, no allocation). No tensor operation:
    /// safe on a thread beside the caller's.
    /// </summary>
    private void RunInto(RunOptions runOptions, OnnxInputs inputs, long start, long count, IntPtr[] addresses)
    {
        var values = new List<OrtValue>();
        var outputs = new List<OrtValue>();
        try
        {
            foreach (var name in _inputNames) { values.Add(Slice(inputs.Arrays[name], _inputTypes[name], start, count)); }
            var shapes = BatchShapes(count);
            for (int i = 0; i < shapes.Length; i++)
            {
                long elements = shapes[i].Aggregate(1L, (a, b) => a * b);
                outputs.Add(OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float, shapes[i], addresses[i], elements * sizeof(float)));
            }
            _session.Run(runOptions, _inputNames, values, _tapNames, outputs);
        }
        catch (OnnxRuntimeException e)
        {
            throw RunFailed(e, start, count);
        }
        finally
        {
            foreach (var v in values) { v.Dispose(); }
            foreach (var v in outputs) { v.Dispose(); }
        }
    }

    private RepscopeException RunFailed(OnnxRuntimeException e, long start, long count) =>
        new($"{Graph.Path}: ONNX Runtime failed on examples {start}..{start + count - 1}: {FirstLine(e.Message)}");

    private static OrtValue Slice(NdArray a, TensorElementType type, long start, long count)
    {
        var shape = a.Shape;
        shape[0] = count;
        int per = (int)a.FeaturesPerRow;
        int offset = checked((int)(start * per)), length = checked((int)(count * per));
        return type switch
        {
            TensorElementType.Float => OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, new Memory<float>((float[])a.Data, offset, length), shape),
            TensorElementType.Double => OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, new Memory<double>((double[])a.Data, offset, length), shape),
            TensorElementType.Int64 => OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, new Memory<long>((long[])a.Data, offset, length), shape),
            TensorElementType.Int32 => OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, new Memory<int>((int[])a.Data, offset, length), shape),
            TensorElementType.Float16 => OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance,
                new Memory<Float16>(MemoryMarshal.Cast<Half, Float16>(((Half[])a.Data).AsSpan(offset, length)).ToArray()), shape),
            _ => throw new RepscopeException($"input '{a.Name}': element type {type} is not supported (float32, float16, float64, int64, int32 are)"),
        };
    }

    private static Tensor ToTensor(string name, OrtValue value)
    {
        var info = value.GetTensorTypeAndShape();
        long[] shape = info.Shape;
        Tensor t = info.ElementDataType switch
        {
            TensorElementType.Float => CopyFloat32(value, shape),
            TensorElementType.Double => torch.tensor(value.GetTensorDataAsSpan<double>().ToArray(), shape).to_type(ScalarType.Float32),
            TensorElementType.Float16 => torch.tensor(MemoryMarshal.Cast<Float16, Half>(value.GetTensorDataAsSpan<Float16>()).ToArray(), shape).to_type(ScalarType.Float32),
            TensorElementType.Int64 => torch.tensor(value.GetTensorDataAsSpan<long>().ToArray(), shape).to_type(ScalarType.Float32),
            TensorElementType.Int32 => torch.tensor(value.GetTensorDataAsSpan<int>().ToArray(), shape).to_type(ScalarType.Float32),
            TensorElementType.Bool => torch.tensor(value.GetTensorDataAsSpan<bool>().ToArray(), shape).to_type(ScalarType.Float32),
            _ => throw new RepscopeException($"tap '{name}' holds {info.ElementDataType}, which Repscope cannot read as numbers"),
        };
        if (shape.Length == 0) { throw new RepscopeException($"tap '{name}' is a scalar, not one value per example"); }
        return t;
    }

    /// <summary>The address of a contiguous CPU tensor's first element (native memory: it does not move).</summary>
    private static unsafe IntPtr DataPointer(Tensor t)
    {
        fixed (byte* p = t.bytes) { return (IntPtr)p; }
    }

    /// <summary>One copy: ONNX Runtime's output straight into a new tensor's storage.</summary>
    private static Tensor CopyFloat32(OrtValue value, long[] shape)
    {
        var t = torch.empty(shape, ScalarType.Float32);
        value.GetTensorDataAsSpan<float>().CopyTo(MemoryMarshal.Cast<byte, float>(t.bytes));
        return t;
    }

    /// <summary>
    /// The session options of every session Repscope makes (benchmarks use the same for ONNX Runtime alone): errors
    /// only in the log, <paramref name="threads"/> intra-op threads (0: ONNX Runtime's default), graph optimisation at
    /// ONNX Runtime's default level (all). With <paramref name="spinning"/> false, ONNX Runtime's worker threads sleep
    /// when a run ends instead of spin-waiting for the next one: Repscope runs the CKA engine (libtorch, its own
    /// threads) between two runs, and spinning threads would take the cores from it.
    /// </summary>
    public static SessionOptions SessionSettings(int threads, bool spinning = false)
    {
        var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        if (threads > 0) { options.IntraOpNumThreads = threads; }
        if (!spinning) { options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); }
        return options;
    }

    private static InferenceSession CreateSession(OnnxGraph graph, IReadOnlyList<string> taps, int threads)
    {
        using var options = SessionSettings(threads);
        try
        {
            return new InferenceSession(graph.WithOutputs(taps), options);
        }
        catch (OnnxRuntimeException e)
        {
            string message = FirstLine(e.Message);
            var op = MissingOperator().Match(message);
            throw new RepscopeException(op.Success
                ? $"{graph.Path}: ONNX Runtime cannot run operator '{op.Groups[1].Value}' (model opset {graph.Opset}): {message}"
                : $"{graph.Path}: ONNX Runtime cannot load the model: {message}");
        }
    }

    private static string FirstLine(string message) => message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";

    private static string? ElementTypeName(TensorElementType t) => t switch
    {
        TensorElementType.Float => "float32", TensorElementType.Float16 => "float16", TensorElementType.Double => "float64",
        TensorElementType.Int64 => "int64", TensorElementType.Int32 => "int32", TensorElementType.Int16 => "int16", TensorElementType.Int8 => "int8",
        TensorElementType.UInt8 => "uint8", TensorElementType.Bool => "bool", TensorElementType.String => "string", TensorElementType.BFloat16 => "bfloat16",
        _ => null,
    };

    [GeneratedRegex(@"(?:No Op registered for|Could not find an implementation for) ([A-Za-z0-9_]+)")]
    private static partial Regex MissingOperator();
}
