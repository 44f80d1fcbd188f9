using Repscope.Data;
using Repscope.Interop;
using Repscope.Interop.Onnx;

namespace Repscope.Models;

/// <summary>Where an ONNX model's inputs come from: .npy files ("FILE" or "NAME=FILE") or a data set's test split.</summary>
/// <param name="Files">"FILE.npy" (a model with one input) or "NAME=FILE.npy" per input.</param>
/// <param name="Data">Instead of files: the test split of a data set, preprocessed, fed to a model with one image input.</param>
/// <param name="Examples">Use the first N examples (null: all).</param>
public sealed record OnnxInputSpec(IReadOnlyList<string>? Files = null, DataSpec? Data = null, ImagePreprocessing? Preprocessing = null, long? Examples = null);

/// <summary>
/// The arrays fed to an ONNX model's inputs: one array per graph input, all with the same number of rows
/// (examples). Built from files with <see cref="Load"/> or from arrays with <see cref="Bind"/>, which checks them
/// against the model's inputs (names, ranks, fixed dimensions, element types).
/// </summary>
public sealed class OnnxInputs
{
    private OnnxInputs(IReadOnlyDictionary<string, NdArray> arrays, long examples, long[]? labels = null)
    {
        Arrays = arrays;
        Examples = examples;
        Labels = labels ?? new long[examples];
    }

    /// <summary>Class labels of the examples when they come from a data set; zeros for files.</summary>
    public long[] Labels { get; }

    /// <summary>The inputs of <paramref name="spec"/>: its files, or its data set's test images preprocessed (sizes and channels default to the model's fixed input dimensions).</summary>
    public static OnnxInputs Resolve(OnnxGraph graph, OnnxInputSpec spec, IProgressReporter? progress = null)
    {
        bool files = spec.Files is { Count: > 0 };
        if (files && spec.Data is not null) { throw new RepscopeException($"{graph.Path}: give input files or a data set, not both"); }
        if (spec.Examples is < 1) { throw new RepscopeException($"examples must be positive, got {spec.Examples}"); }
        OnnxInputs all;
        if (files)
        {
            all = Load(graph, spec.Files!);
        }
        else if (spec.Data is { } data)
        {
            if (graph.Inputs.Count != 1 || graph.Inputs[0].Shape is not { Count: 4 } shape)
            {
                throw new RepscopeException($"{graph.Path}: a data set feeds a model with one image input [batch, C, H, W]; this one has inputs {string.Join(", ", graph.Inputs.Select(i => $"{i.Name} [{string.Join(", ", i.Shape ?? [])}]"))}");
            }
            int? Fixed(string d) => int.TryParse(d, out int v) ? v : null;
            var pre = spec.Preprocessing ?? new ImagePreprocessing();
            pre = pre with { Channels = pre.Channels ?? Fixed(shape[1]), Height = pre.Height ?? Fixed(shape[2]), Width = pre.Width ?? Fixed(shape[3]) };
            var (raw, _) = DataSets.LoadTestRaw(data, progress);
            if (spec.Examples is { } n && n < raw.Count) { raw = raw.Select(Enumerable.Range(0, (int)n).Select(i => (long)i).ToArray()); }
            using var images = pre.Apply(raw);
            var array = NdArray.FromTensor(DataSpec.NameOf(data.Name), images);
            all = Bind(graph, new Dictionary<string, NdArray> { [graph.Inputs[0].Name] = array });
            all = new OnnxInputs(all.Arrays, all.Examples, raw.Labels);
        }
        else
        {
            throw new RepscopeException($"{graph.Path}: no inputs: give .npy files for {string.Join(", ", graph.Inputs.Select(i => $"'{i.Name}'"))} or a data set");
        }
        return spec.Examples is { } m ? all.Take(m) : all;
    }

    /// <summary>Graph input name to its array ([examples, ...]).</summary>
    public IReadOnlyDictionary<string, NdArray> Arrays { get; }

    /// <summary>Rows of every array.</summary>
    public long Examples { get; }

    /// <summary>
    /// Reads the input files. Each spec is "FILE.npy" (allowed when the model has exactly one input) or
    /// "NAME=FILE.npy" (NAME: a graph input).
    /// </summary>
    public static OnnxInputs Load(OnnxGraph graph, IReadOnlyList<string> specs)
    {
        var arrays = new Dictionary<string, NdArray>(StringComparer.Ordinal);
        foreach (var spec in specs)
        {
            int eq = spec.IndexOf('=');
            string name, file;
            if (eq > 0 && !File.Exists(spec))
            {
                (name, file) = (spec[..eq], spec[(eq + 1)..]);
            }
            else
            {
                if (graph.Inputs.Count != 1)
                {
                    throw new RepscopeException($"{graph.Path}: the model has {graph.Inputs.Count} inputs ({string.Join(", ", graph.Inputs.Select(i => i.Name))}); name each one: input NAME=FILE.npy");
                }
                (name, file) = (graph.Inputs[0].Name, spec);
            }
            if (arrays.ContainsKey(name)) { throw new RepscopeException($"{graph.Path}: input '{name}' given twice"); }
            arrays[name] = Npy.Read(file);
        }
        return Bind(graph, arrays);
    }

    /// <summary>Checks <paramref name="arrays"/> against the graph's inputs and converts their element types where that loses nothing that matters (float64 to float32, int64 to int32, ...).</summary>
    public static OnnxInputs Bind(OnnxGraph graph, IReadOnlyDictionary<string, NdArray> arrays)
    {
        string names = string.Join(", ", graph.Inputs.Select(i => $"'{i.Name}'"));
        foreach (var name in arrays.Keys)
        {
            if (graph.Inputs.All(i => i.Name != name)) { throw new RepscopeException($"{graph.Path}: the model has no input '{name}' (inputs: {names})"); }
        }
        var bound = new Dictionary<string, NdArray>(StringComparer.Ordinal);
        long? rows = null;
        string? first = null;
        foreach (var input in graph.Inputs)
        {
            if (!arrays.TryGetValue(input.Name, out var a)) { throw new RepscopeException($"{graph.Path}: input '{input.Name}' is not given (inputs: {names})"); }
            CheckShape(graph.Path, input, a);
            if (rows is { } r && a.Rows != r)
            {
                throw new RepscopeException($"{graph.Path}: input '{input.Name}' has {a.Rows} rows but '{first}' has {r}; every input needs one row per example");
            }
            (rows, first) = (a.Rows, first ?? input.Name);
            bound[input.Name] = Convert(graph.Path, input, a);
        }
        if (rows is null or < 1) { throw new RepscopeException($"{graph.Path}: no examples in the inputs"); }
        return new OnnxInputs(bound, rows.Value);
    }

    /// <summary>The first <paramref name="n"/> examples.</summary>
    public OnnxInputs Take(long n) => n >= Examples ? this : Slice(0, n);

    /// <summary>Examples [start, start + count).</summary>
    public OnnxInputs Slice(long start, long count) =>
        start == 0 && count == Examples ? this
        : new OnnxInputs(Arrays.ToDictionary(kv => kv.Key, kv => Rows(kv.Value, start, count)), count, Labels[(int)start..(int)(start + count)]);

    /// <summary>Row <paramref name="row"/> of an array as an array of one row.</summary>
    public static NdArray Slice1(NdArray a, long row) => Rows(a, row, 1);

    /// <summary>Arrays of the same dtype and row shape stacked along the first dimension.</summary>
    public static NdArray Stack(string name, IReadOnlyList<NdArray> parts)
    {
        var shape = parts[0].Shape;
        shape[0] = parts.Sum(p => p.Rows);
        var data = Array.CreateInstance(parts[0].DType.ClrType(), parts.Sum(p => p.Length));
        long offset = 0;
        foreach (var p in parts)
        {
            Array.Copy(p.Data, 0, data, offset, p.Length);
            offset += p.Length;
        }
        return NdArray.Create(name, data, shape);
    }

    /// <summary>Rows [start, start + count) of an array, as a new array.</summary>
    internal static NdArray Rows(NdArray a, long start, long count)
    {
        var shape = a.Shape;
        long per = a.FeaturesPerRow;
        shape[0] = count;
        var data = Array.CreateInstance(a.DType.ClrType(), count * per);
        Array.Copy(a.Data, start * per, data, 0, count * per);
        return NdArray.Create(a.Name, data, shape);
    }

    private static void CheckShape(string path, OnnxInput input, NdArray a)
    {
        if (input.Shape is null) { return; }
        var got = a.Shape;
        bool ok = got.Length == input.Shape.Count;
        for (int d = 1; ok && d < got.Length; d++)
        {
            ok = !long.TryParse(input.Shape[d], out long want) || want == got[d];
        }
        if (!ok)
        {
            throw new RepscopeException($"{path}: input '{input.Name}' expects shape [{string.Join(", ", input.Shape)}] (first dimension: examples), got {NdArray.ShapeText(got)} from {a.Name}");
        }
    }

    private static NdArray Convert(string path, OnnxInput input, NdArray a)
    {
        var want = input.ElementType;
        string got = a.DType.NumpyName();
        if (got == want) { return a; }
        bool fromFloat = a.DType is NpyDType.Float16 or NpyDType.Float32 or NpyDType.Float64;
        bool toFloat = want is "float32" or "float16" or "float64";
        bool toInt = want is "int64" or "int32";
        if ((toFloat && a.DType != NpyDType.Bool) || (toInt && !fromFloat && a.DType != NpyDType.Bool))
        {
            return want switch
            {
                "float32" => NdArray.FromFloat32(a.Name, a.ToFloat32(), a.Shape),
                "float64" => NdArray.FromFloat64(a.Name, a.ToFloat64(), a.Shape),
                "float16" => NdArray.FromFloat16(a.Name, a.ToFloat32().Select(v => (Half)v).ToArray(), a.Shape),
                "int64" => NdArray.FromInt64(a.Name, a.ToInt64(), a.Shape),
                _ => NdArray.FromInt32(a.Name, a.ToInt64().Select(v => checked((int)v)).ToArray(), a.Shape),
            };
        }
        throw new RepscopeException($"{path}: input '{input.Name}' expects {want}, got {got} from {a.Name}");
    }
}
