using System.Text.Json;
using Repscope.Interop;

namespace Repscope.Tests.Interop;

/// <summary>
/// Files written by numpy 1.24 (tests/fixtures/make_npy_fixtures.py) read to the values numpy
/// recorded in expected.json, and Repscope writes the same arrays byte for byte as numpy did.
/// </summary>
public class NumpyFixtureTests
{
    private static readonly JsonElement Expected =
        JsonDocument.Parse(File.ReadAllText(NpyTestData.Fixture("expected.json"))).RootElement;

    public static TheoryData<string> NpyFiles()
    {
        var data = new TheoryData<string>();
        foreach (var p in Expected.EnumerateObject().Where(p => p.Name.EndsWith(".npy", StringComparison.Ordinal)))
        {
            data.Add(p.Name);
        }
        return data;
    }

    [Fact]
    public void FixturesCoverEveryDtypeBothByteOrdersAndAllVersions()
    {
        var files = Expected.EnumerateObject().Select(p => p.Name).ToHashSet();
        foreach (var t in Enum.GetValues<NpyDType>())
        {
            Assert.Contains($"le_{t.NumpyName()}.npy", files);
            if (t.ItemSize() > 1) { Assert.Contains($"be_{t.NumpyName()}.npy", files); }
        }
        Assert.Contains("v1_f8.npy", files);
        Assert.Contains("v2_f8.npy", files);
        Assert.Contains("v3_f8.npy", files);
        Assert.Equal(2, File.ReadAllBytes(NpyTestData.Fixture("v2_f8.npy"))[6]);
        Assert.Equal(3, File.ReadAllBytes(NpyTestData.Fixture("v3_f8.npy"))[6]);
        Assert.Contains("'fortran_order': True", File.ReadAllText(NpyTestData.Fixture("fortran_f4.npy")));
    }

    [Theory]
    [MemberData(nameof(NpyFiles))]
    public void NumpyFileReadsToNumpysValues(string file)
    {
        var a = Npy.Read(NpyTestData.Fixture(file));
        AssertMatches(Expected.GetProperty(file), a);
    }

    [Theory]
    [MemberData(nameof(NpyFiles))]
    public void WritingGivesNumpysBytes(string file)
    {
        string path = NpyTestData.Fixture(file);
        byte[] original = File.ReadAllBytes(path);
        var a = Npy.Read(path);
        string header = System.Text.Encoding.Latin1.GetString(original, 0, Math.Min(original.Length, 128));
        var options = new NpyWriteOptions
        {
            Version = original[6],
            FortranOrder = header.Contains("'fortran_order': True"),
            ByteOrder = header.Contains("'descr': '>") ? NpyByteOrder.Big : NpyByteOrder.Little,
        };
        var ms = new MemoryStream();
        Npy.Write(ms, a, options);
        Assert.Equal(original, ms.ToArray());
    }

    [Theory]
    [InlineData("stored.npz", "stored")]
    [InlineData("deflated.npz", "deflated")]
    public void NumpyNpzReadsInOrderWithNames(string file, string compression)
    {
        var expected = Expected.GetProperty(file);
        Assert.Equal([compression], expected.GetProperty("compression").EnumerateArray().Select(e => e.GetString()));
        var arrays = Npz.Read(NpyTestData.Fixture(file));
        var members = expected.GetProperty("members").EnumerateArray().ToList();
        Assert.Equal(members.Select(m => m.GetProperty("name").GetString()), arrays.Select(a => a.Name));
        for (int i = 0; i < members.Count; i++) { AssertMatches(members[i], arrays[i]); }
    }

    [Fact]
    public void LayerViewOfA4dArrayIsRowsByFlattenedFeatures()
    {
        var a = Npy.Read(NpyTestData.Fixture("acts_f4_4d.npy"));
        Assert.Equal([5L, 3, 2, 2], a.Shape);
        Assert.Equal(5, a.Rows);
        Assert.Equal(12, a.FeaturesPerRow);
        using var t = a.ToTensor();
        Assert.Equal([5L, 12], t.shape);
        var values = Expected.GetProperty("acts_f4_4d.npy").GetProperty("values").EnumerateArray().Select(v => (float)v.GetDouble()).ToArray();
        Assert.Equal(values, t.data<float>().ToArray());
    }

    internal static void AssertMatches(JsonElement expected, NdArray a)
    {
        Assert.Equal(expected.GetProperty("name").GetString(), a.Name);
        Assert.Equal(expected.GetProperty("dtype").GetString(), a.DType.NumpyName());
        Assert.Equal(expected.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()), a.Shape);
        var values = expected.GetProperty("values").EnumerateArray().ToList();
        Assert.Equal(values.Count, a.Length);
        if (a.DType.IsFloatingPoint())
        {
            double[] actual = a.ToFloat64();
            for (int i = 0; i < values.Count; i++)
            {
                double want = values[i].ValueKind == JsonValueKind.String
                    ? values[i].GetString() switch { "nan" => double.NaN, "inf" => double.PositiveInfinity, _ => double.NegativeInfinity }
                    : values[i].GetDouble();
                // Bitwise for finite values (so -0.0 and subnormals count); NaN is any NaN.
                Assert.True(double.IsNaN(want) ? double.IsNaN(actual[i])
                    : BitConverter.DoubleToInt64Bits(want) == BitConverter.DoubleToInt64Bits(actual[i]),
                    $"{a.Name}[{i}]: expected {want}, got {actual[i]}");
            }
        }
        else if (a.DType == NpyDType.Bool)
        {
            Assert.Equal(values.Select(v => v.GetBoolean()), a.AsSpan<bool>().ToArray());
        }
        else
        {
            Assert.Equal(values.Select(v => v.GetString()), NpyTestData.ElementStrings(a));
        }
    }
}
