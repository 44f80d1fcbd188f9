using System.Runtime.CompilerServices;
using System.Text.Json;
using Repscope.Interop;
using Repscope.Similarity;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Tests.Similarity;

/// <summary>The published values of Kornblith et al. 2019's reference notebook, in float64, to 1e-9.</summary>
public class KornblithFixtureTests
{
    internal static string FixtureDir([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "Fixtures", "kornblith"));

    internal static string Fixture(string file) => Path.Combine(FixtureDir(), file);

    private static readonly Lazy<Dictionary<string, double>> Expected = new(() =>
        JsonDocument.Parse(File.ReadAllText(Fixture("kornblith_expected.json"))).RootElement.GetProperty("values")
            .EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble()));

    private static (Tensor X, Tensor Y) Data()
    {
        var x = Npy.Read(Fixture("kornblith_x.npy")).ToTensor(ScalarType.Float64);
        var y = Npy.Read(Fixture("kornblith_y.npy")).ToTensor(ScalarType.Float64);
        Assert.Equal([100L, 10L], x.shape);
        return (x, y);
    }

    private static void Close(double expected, double actual) =>
        Assert.True(Math.Abs(expected - actual) < 1e-9, $"expected {expected:R}, got {actual:R}");

    [Fact]
    public void LinearCka()
    {
        var (x, y) = Data();
        Close(Expected.Value["linear_biased"], Cka.Linear(x, y));
        Close(Expected.Value["linear_biased"], Repscope.Similarity.LinearCka.FeatureSpace(x, y));
        Close(Expected.Value["linear_biased"], Repscope.Similarity.LinearCka.GramSpace(x, y));
        Close(0.5576132566117582, Cka.Linear(x, y)); // as printed in the notebook
    }

    [Fact]
    public void DebiasedLinearCka()
    {
        var (x, y) = Data();
        Close(Expected.Value["linear_debiased"], Cka.Compute(x, y, new CkaOptions(KernelKind.Linear, HsicEstimator.Unbiased)));
        Close(0.5134564895055255, Cka.Compute(x, y, new CkaOptions(KernelKind.Linear, HsicEstimator.Unbiased)));
    }

    [Fact]
    public void RbfCka()
    {
        var (x, y) = Data();
        Close(Expected.Value["rbf_threshold0.5_biased"], Cka.Compute(x, y, new CkaOptions(KernelKind.Rbf, HsicEstimator.Biased, 0.5)));
    }

    [Fact]
    public void MinibatchCka()
    {
        var (x, y) = Data();
        Close(Expected.Value["minibatch_unbiased_batch25"], Cka.Minibatch(x, y, 25));
        var m = AllPairsCka.Minibatch([x, y], ["x", "y"], null, null, 25, KernelKind.Linear, 0.5, null, out _);
        Close(Expected.Value["minibatch_unbiased_batch25"], m[0, 1]);
    }

    [SkippableFact]
    public void CopyIsIdenticalToTheSharedFixtures()
    {
        string shared = Path.GetFullPath(Path.Combine(FixtureDir(), "..", "..", "..", "..", "..", "shared", "fixtures"));
        Skip.If(!Directory.Exists(shared), $"{shared} does not exist: the team's shared folder sits beside the repo only in the team's checkouts");
        foreach (string file in Directory.GetFiles(shared))
        {
            string copy = Fixture(Path.GetFileName(file));
            Assert.True(File.Exists(copy), $"{copy} is missing");
            Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(copy));
        }
    }
}
