using System.Runtime.CompilerServices;
using System.Text.Json;
using Repscope.Interop;
using Repscope.Interop.Onnx;
using Repscope.Models;

namespace Repscope.Tests.Models;

/// <summary>The models, inputs and reference values written by tests/fixtures/make_onnx_fixtures.py.</summary>
internal static class OnnxFixtures
{
    public static string Folder { get; } = FolderOf();

    private static string FolderOf([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "Fixtures", "onnx"));

    public static string File(string name) => Path.Combine(Folder, name);

    private static readonly JsonElement Json = JsonDocument.Parse(System.IO.File.ReadAllText(File("fixtures.json"))).RootElement;

    public static JsonElement Entry(string key) => Json.GetProperty(key);

    public static string ModelPath(string key) => File(Entry(key).GetProperty("file").GetString()!);

    public static IReadOnlyList<string> Taps(string key) => Strings(Entry(key).GetProperty("taps"));

    public static IReadOnlyList<string> DefaultTaps(string key) => Strings(Entry(key).GetProperty("defaultTaps"));

    /// <summary>The "NAME=FILE" input specs of a fixture model.</summary>
    public static IReadOnlyList<string> InputSpecs(string key) =>
        Entry(key).GetProperty("inputs").EnumerateObject().Select(p => $"{p.Name}={File(p.Value.GetString()!)}").ToList();

    public static OnnxInputs Inputs(string key) => OnnxInputs.Load(OnnxGraph.Read(ModelPath(key)), InputSpecs(key));

    /// <summary>The reference activations at the fixture's taps, in tap order.</summary>
    public static IReadOnlyList<NdArray> Expected(string key)
    {
        var arrays = Npz.Read(File(Entry(key).GetProperty("expected").GetString()!)).ToDictionary(a => a.Name);
        return Enumerable.Range(0, Taps(key).Count).Select(i => arrays[$"t{i}"]).ToList();
    }

    public static double[,] Matrix(string key, string property)
    {
        var rows = Entry(key).GetProperty(property).EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
        var m = new double[rows.Length, rows[0].Length];
        for (int i = 0; i < rows.Length; i++) { for (int j = 0; j < rows[0].Length; j++) { m[i, j] = rows[i][j]; } }
        return m;
    }

    private static List<string> Strings(JsonElement e) => e.EnumerateArray().Select(v => v.GetString()!).ToList();
}
