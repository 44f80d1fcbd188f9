using System.Text.Json;
using Repscope.Similarity;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Tests.Similarity;

/// <summary>
/// Agreement with numpy/scipy implementations of the definitions (tests/fixtures/measures_reference.json,
/// written by tests/fixtures/make_measures_reference.py), every measure in both orders, null where undefined.
/// </summary>
public class MeasuresReferenceTests
{
    private static readonly JsonElement Reference = ReferenceFiles.Load("measures_reference.json");

    private static Tensor Array(JsonElement values, JsonElement shape) =>
        torch.tensor(values.EnumerateArray().Select(v => v.GetDouble()).ToArray(), dtype: ScalarType.Float64)
             .reshape(shape.EnumerateArray().Select(v => v.GetInt64()).ToArray());

    public static TheoryData<string, SimilarityMeasure> Cases()
    {
        var data = new TheoryData<string, SimilarityMeasure>();
        foreach (var c in Reference.GetProperty("cases").EnumerateArray())
        {
            foreach (var m in new[] { SimilarityMeasure.Cca, SimilarityMeasure.Svcca, SimilarityMeasure.Pwcca, SimilarityMeasure.Procrustes, SimilarityMeasure.Rsa })
            {
                data.Add(c.GetProperty("name").GetString()!, m);
            }
        }
        return data;
    }

    [Theory, MemberData(nameof(Cases))]
    public void MatchesNumpyInBothOrders(string name, SimilarityMeasure measure)
    {
        var c = Reference.GetProperty("cases").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        using var x = Array(c.GetProperty("x"), c.GetProperty("xShape"));
        using var y = Array(c.GetProperty("y"), c.GetProperty("yShape"));
        var expected = c.GetProperty("values").GetProperty(measure.ToString().ToLowerInvariant());
        foreach (var (a, b, key) in new[] { (x, y, "xy"), (y, x, "yx") })
        {
            var r = Measures.Compute(measure, a, b);
            var e = expected.GetProperty(key);
            if (e.ValueKind == JsonValueKind.Null)
            {
                Assert.True(double.IsNaN(r.Value), $"{name} {measure} {key}: expected undefined, got {r.Value}");
                Assert.Contains("features >=", r.Reason);
                Assert.Contains("svcca", r.Reason);
            }
            else
            {
                Assert.Null(r.Reason);
                Assert.True(Math.Abs(e.GetDouble() - r.Value) < 1e-10, $"{name} {measure} {key}: numpy {e.GetDouble():R}, Repscope {r.Value:R}");
            }
        }
    }

    [Fact]
    public void SpearmanWithTiesMatchesScipy()
    {
        var t = Reference.GetProperty("spearmanTies");
        long n = t.GetProperty("n").GetInt64();
        var shape = JsonDocument.Parse($"[{n}, {n}]").RootElement;
        using var d1 = Array(t.GetProperty("d1"), shape);
        using var d2 = Array(t.GetProperty("d2"), shape);
        Assert.Equal(t.GetProperty("spearman").GetDouble(), Rsa.OfDissimilarities(d1, d2), 12);
    }
}
