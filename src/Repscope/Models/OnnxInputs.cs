using Repscope.Interop;
using Repscope.Interop.Onnx;

namespace Repscope.Models;

/// <summary>
/// The arrays fed to an ONNX model's inputs: one array per graph input, all with the same number of rows
/// (examples). Built from files with <see cref="Load"/> or from arrays with <see cref="Bind"/>, which checks them
/// against the model's inputs (names, ranks, fixed dimensions, element types).
/// </summary>
public sealed class OnnxInputs
{
    private OnnxInputs(IReadOnlyDictionary<string, NdArray> arrays, long examples)
    {
        Arrays = arrays;
        Examples = examples;
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
    public OnnxInputs Take(long n) =>
        n >= Examples ? this : new OnnxInputs(Arrays.ToDictionary(kv => kv.Key, kv => Rows(kv.Value, 0, n)), n);

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
