using Google.Protobuf;
using Onnx;

namespace Repscope.Interop.Onnx;

/// <summary>One tensor a node of the main graph writes: a tap candidate.</summary>
/// <param name="Index">Position in graph order (nodes in the file's order, which ONNX requires to be topological).</param>
/// <param name="OpType">The operator that writes it ("Relu", "Add", ...).</param>
/// <param name="Node">The node's name (may be empty).</param>
/// <param name="ElementType">"float32", "int64", ... or null when the file does not say (see <c>OnnxModel.Describe</c>).</param>
/// <param name="Shape">Dimensions, a symbolic one as its name ("batch") or "?" when unnamed; null when unknown.</param>
public sealed record OnnxTensor(string Name, int Index, string OpType, string Node, string? ElementType, IReadOnlyList<string>? Shape);

/// <summary>A graph input the caller must feed (initializers listed as inputs are left out).</summary>
/// <param name="Shape">Dimensions as in <see cref="OnnxTensor.Shape"/>; null when the file gives no shape.</param>
public sealed record OnnxInput(string Name, string ElementType, IReadOnlyList<string>? Shape);

/// <summary>
/// The main graph of an ONNX model file, read with the protobuf types of onnx.proto (OnnxSharp): the inputs,
/// every node output in graph order (the tensors that can be tapped), the default tap set, and a copy of the model
/// with chosen intermediate tensors exposed as graph outputs.
/// </summary>
public sealed class OnnxGraph
{
    private static readonly HashSet<string> Activations = new(StringComparer.Ordinal)
    {
        "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Gelu", "Sigmoid", "HardSigmoid", "Tanh", "Softplus", "Softsign",
        "HardSwish", "Mish", "Clip", "ThresholdedRelu",
    };

    private static readonly HashSet<string> Normalisations = new(StringComparer.Ordinal)
    {
        "BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization", "LpNormalization",
        "SimplifiedLayerNormalization", "SkipLayerNormalization", "RMSNormalization",
    };

    // Operators whose output carries only shapes, not data: ancestry does not pass through them.
    private static readonly HashSet<string> ShapeOnly = new(StringComparer.Ordinal) { "Shape", "Size", "ConstantOfShape", "EyeLike" };

    private readonly ModelProto _model;
    private readonly Dictionary<string, NodeProto> _producer = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<NodeProto>> _consumers = new(StringComparer.Ordinal);
    private readonly HashSet<string> _constants = new(StringComparer.Ordinal);

    private OnnxGraph(string path, ModelProto model)
    {
        Path = path;
        _model = model;
        var graph = model.Graph;
        foreach (var init in graph.Initializer) { _constants.Add(init.Name); }
        var inputs = new List<OnnxInput>();
        foreach (var v in graph.Input)
        {
            if (_constants.Contains(v.Name)) { continue; }
            inputs.Add(new OnnxInput(v.Name, ElementTypeName(v.Type?.TensorType?.ElemType ?? 0) ?? "unknown", ShapeOf(v)));
        }
        Inputs = inputs;
        var known = graph.ValueInfo.Concat(graph.Output).ToDictionary(v => v.Name, v => v, StringComparer.Ordinal);
        var tensors = new List<OnnxTensor>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            foreach (var input in node.Input) { if (input.Length > 0) { Consumers(input).Add(node); } }
            bool constant = node.OpType == "Constant" || (node.Input.Count > 0 && node.Input.All(i => i.Length == 0 || _constants.Contains(i)));
            foreach (var output in node.Output)
            {
                if (output.Length == 0 || !seen.Add(output)) { continue; }
                _producer[output] = node;
                if (constant) { _constants.Add(output); }
                known.TryGetValue(output, out var info);
                tensors.Add(new OnnxTensor(output, tensors.Count, node.OpType, node.Name,
                                           info is null ? null : ElementTypeName(info.Type?.TensorType?.ElemType ?? 0), info is null ? null : ShapeOf(info)));
            }
        }
        Tensors = tensors;
        Outputs = graph.Output.Select(o => o.Name).ToList();
        Opset = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(0).Max();
    }

    /// <summary>The file it was read from.</summary>
    public string Path { get; }

    /// <summary>The inputs to feed, in the file's order.</summary>
    public IReadOnlyList<OnnxInput> Inputs { get; }

    /// <summary>Every node output of the main graph, in graph order.</summary>
    public IReadOnlyList<OnnxTensor> Tensors { get; }

    /// <summary>The graph's own outputs.</summary>
    public IReadOnlyList<string> Outputs { get; }

    /// <summary>The default-domain opset the model was exported with.</summary>
    public long Opset { get; }

    /// <summary>Producer and version, e.g. "pytorch 1.13.0".</summary>
    public string Producer => $"{_model.ProducerName} {_model.ProducerVersion}".Trim();

    /// <summary>Reads a model file. A file that is not an ONNX model is a <see cref="RepscopeException"/> naming it.</summary>
    public static OnnxGraph Read(string path)
    {
        if (!File.Exists(path)) { throw new FileNotFoundException($"{path}: no such file"); }
        ModelProto model;
        try
        {
            using var stream = File.OpenRead(path);
            model = ModelProto.Parser.ParseFrom(stream);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new RepscopeException($"{path}: {FileKind.ArraysNotModel(path) ?? $"not an ONNX model ({e.Message.TrimEnd('.')})"}");
        }
        if (model.Graph is null || model.Graph.Node.Count == 0 || model.IrVersion <= 0)
        {
            throw new RepscopeException($"{path}: {FileKind.ArraysNotModel(path) ?? "not an ONNX model (no graph with nodes and no IR version)"}");
        }
        return new OnnxGraph(path, model);
    }

    /// <summary>The tensor called <paramref name="name"/>, or null.</summary>
    public OnnxTensor? Find(string name) => Tensors.FirstOrDefault(t => t.Name == name);

    /// <summary>
    /// Checks that every name is a tensor of the graph; an unknown one is a <see cref="RepscopeException"/> that
    /// names the closest tensor names.
    /// </summary>
    public void CheckTaps(IEnumerable<string> names)
    {
        var all = new HashSet<string>(Tensors.Select(t => t.Name), StringComparer.Ordinal);
        foreach (var name in names)
        {
            if (all.Contains(name)) { continue; }
            var closest = Tensors.Select(t => t.Name).OrderBy(t => EditDistance(name, t)).ThenBy(t => t, StringComparer.Ordinal).Take(3);
            throw new RepscopeException($"{Path}: no tensor '{name}' in the graph (closest: {string.Join(", ", closest.Select(c => $"'{c}'"))}; `repscope taps` lists them all)");
        }
    }

    /// <summary>
    /// The default tap set, in graph order. Rule: every residual addition (an Add or Sum of two tensors that both
    /// descend from one earlier tensor, e.g. x + f(x), or a projection shortcut p(x) + f(x)) gives one tap: the
    /// output of the activation or normalisation that alone reads the sum (ResNet: the ReLU after the addition;
    /// post-norm transformer: the LayerNorm), else the sum itself (pre-norm transformer: the residual stream).
    /// The two summands must have the same shape where <paramref name="described"/> (tensors with inferred shapes,
    /// e.g. from <c>OnnxModel.Describe</c>) knows them, which tells a residual addition from a broadcast one such as an
    /// attention-mask bias added to attention scores.
    /// A graph without residual additions: the output of every activation and normalisation.
    /// </summary>
    public IReadOnlyList<string> DefaultTaps(IReadOnlyList<OnnxTensor>? described = null)
    {
        var shapes = (described ?? Tensors).Where(t => t.Shape is not null).ToDictionary(t => t.Name, t => t.Shape!, StringComparer.Ordinal);
        foreach (var input in Inputs.Where(i => i.Shape is not null)) { shapes[input.Name] = input.Shape!; }
        var taps = new List<string>();
        foreach (var node in _model.Graph.Node)
        {
            if (node.OpType is not ("Add" or "Sum") || node.Output.Count != 1 || !IsResidual(node, shapes)) { continue; }
            string sum = node.Output[0];
            var readers = Consumers(sum);
            taps.Add(readers.Count == 1 && (Activations.Contains(readers[0].OpType) || Normalisations.Contains(readers[0].OpType)) && readers[0].Output.Count > 0
                ? readers[0].Output[0] : sum);
        }
        if (taps.Count == 0)
        {
            taps.AddRange(Tensors.Where(t => (Activations.Contains(t.OpType) || Normalisations.Contains(t.OpType))
                                             && _producer[t.Name].Output[0] == t.Name).Select(t => t.Name));
        }
        var order = Tensors.ToDictionary(t => t.Name, t => t.Index, StringComparer.Ordinal);
        return taps.Distinct().OrderBy(t => order[t]).ToList();
    }

    /// <summary>The non-constant summands of every addition, the tensors whose shapes decide which additions are residual.</summary>
    public IReadOnlyList<string> AdditionInputs() =>
        _model.Graph.Node.Where(n => n.OpType is "Add" or "Sum")
            .SelectMany(n => n.Input.Where(i => i.Length > 0 && !_constants.Contains(i) && _producer.ContainsKey(i)))
            .Distinct().ToList();

    /// <summary>
    /// The model serialised with <paramref name="taps"/> added as graph outputs (after the existing ones, whose
    /// names are kept), ready for ONNX Runtime, which infers their types.
    /// </summary>
    public byte[] WithOutputs(IEnumerable<string> taps)
    {
        // No copy of the model (its weights): the outputs are added, the model serialised, and the outputs removed.
        var outputs = _model.Graph.Output;
        lock (_model)
        {
            int own = outputs.Count;
            var present = new HashSet<string>(outputs.Select(o => o.Name), StringComparer.Ordinal);
            try
            {
                foreach (var tap in taps)
                {
                    if (present.Add(tap)) { outputs.Add(new ValueInfoProto { Name = tap }); }
                }
                return _model.ToByteArray();
            }
            finally
            {
                while (outputs.Count > own) { outputs.RemoveAt(outputs.Count - 1); }
            }
        }
    }

    private List<NodeProto> Consumers(string tensor)
    {
        if (!_consumers.TryGetValue(tensor, out var list)) { _consumers[tensor] = list = []; }
        return list;
    }

    private bool IsResidual(NodeProto add, Dictionary<string, IReadOnlyList<string>> shapes)
    {
        var data = add.Input.Where(i => i.Length > 0 && !_constants.Contains(i)).ToList();
        if (data.Count < 2) { return false; }
        for (int i = 1; i < data.Count; i++)
        {
            if (shapes.TryGetValue(data[0], out var a) && shapes.TryGetValue(data[i], out var b) && !SameShape(a, b)) { return false; }
        }
        var first = Ancestors(data[0]);
        return data.Skip(1).Any(other => Ancestors(other).Overlaps(first));
    }

    private static bool SameShape(IReadOnlyList<string> a, IReadOnlyList<string> b) =>
        a.Count == b.Count && a.Zip(b).All(p => p.First == p.Second || p.First == "?" || p.Second == "?");

    /// <summary>The data tensors <paramref name="tensor"/> is computed from, itself included (not through shape-only operators).</summary>
    private HashSet<string> Ancestors(string tensor)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<string>();
        stack.Push(tensor);
        while (stack.Count > 0)
        {
            string t = stack.Pop();
            if (_constants.Contains(t) || !seen.Add(t)) { continue; }
            if (_producer.TryGetValue(t, out var node) && !ShapeOnly.Contains(node.OpType))
            {
                foreach (var i in node.Input) { if (i.Length > 0) { stack.Push(i); } }
            }
        }
        return seen;
    }

    /// <summary>Levenshtein distance (insertions, deletions, substitutions), for suggesting tensor names.</summary>
    internal static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) { previous[j] = j; }
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }

    private static IReadOnlyList<string>? ShapeOf(ValueInfoProto v)
    {
        var shape = v.Type?.TensorType?.Shape;
        if (shape is null) { return null; }
        return shape.Dim.Select(d => d.ValueCase switch
        {
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue => d.DimValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam => d.DimParam,
            _ => "?",
        }).ToList();
    }

    /// <summary>numpy-style names of ONNX element types (TensorProto.DataType codes).</summary>
    public static string? ElementTypeName(int code) => code switch
    {
        1 => "float32", 2 => "uint8", 3 => "int8", 4 => "uint16", 5 => "int16", 6 => "int32", 7 => "int64", 8 => "string",
        9 => "bool", 10 => "float16", 11 => "float64", 12 => "uint32", 13 => "uint64", 14 => "complex64", 15 => "complex128",
        16 => "bfloat16",
        _ => null,
    };
}
