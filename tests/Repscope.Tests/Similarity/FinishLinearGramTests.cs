using Repscope.Similarity;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Tests.Similarity;

/// <summary>
/// <see cref="Gram.FinishLinearGram"/> (one pass over a product's upper triangle) against the tensor operations it
/// replaced: the upper triangle mirrored, the diagonal summed then zeroed, the squared entries summed, the rows summed.
/// </summary>
public class FinishLinearGramTests
{
    public static TheoryData<bool, int, bool> Cases()
    {
        var data = new TheoryData<bool, int, bool>();
        foreach (bool wide in new[] { false, true })
        {
            foreach (int b in new[] { 1, 2, 3, 17, 256 })
            {
                data.Add(wide, b, false);
                if (wide) { data.Add(wide, b, true); }   // in place: the float64 product is k itself
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void OnePassGivesTheMirroredGramWithAZeroDiagonalItsRowSumsSquaresAndTrace(bool wide, int b, bool inPlace)
    {
        using var scope = NewDisposeScope();
        var type = wide ? ScalarType.Float64 : ScalarType.Float32;
        var gen = new Generator((ulong)b);
        var x = torch.randn([b, 5], dtype: type, generator: gen);
        // The product's upper triangle; the lower one holds values that must be ignored.
        var upper = x.mm(x.t()).triu().add_(torch.full([b, b], 1e6, dtype: type).tril(-1));
        var expected = upper.triu().to_type(ScalarType.Float64);
        expected = expected.add(expected.triu(1).t());
        double trace = expected.diagonal().sum().item<double>();
        expected.diagonal().zero_();

        var k = inPlace ? upper : torch.full([b, b], double.NaN, dtype: ScalarType.Float64);
        var r = torch.full([b], double.NaN, dtype: ScalarType.Float64);
        double gotTrace = Gram.FinishLinearGram(upper, k, r, out double selfDot);

        Assert.Equal(0, k.sub(expected).abs().max().item<double>(), 12);
        Assert.Equal(0, k.sub(k.t()).abs().max().item<double>());   // exactly symmetric
        Assert.Equal(0, k.diagonal().abs().sum().item<double>());
        Assert.Equal(trace, gotTrace, 1e-9 * Math.Max(1, Math.Abs(trace)));
        double squares = expected.pow(2).sum().item<double>();
        Assert.Equal(squares, selfDot, 1e-9 * Math.Max(1, squares));
        Assert.Equal(0, r.sub(expected.sum(1)).abs().max().item<double>(), 9);
    }

    [Fact]
    public void ANonFiniteProductShowsInTheTraceOrTheSquares()
    {
        var upper = torch.zeros([3, 3], dtype: ScalarType.Float32);
        upper[0, 2] = float.NaN;
        Assert.True(double.IsNaN(Gram.FinishLinearGram(upper, torch.zeros([3, 3], dtype: ScalarType.Float64), torch.zeros([3], dtype: ScalarType.Float64), out double selfDot)) is false
                    && double.IsNaN(selfDot));
        upper.zero_();
        upper[1, 1] = float.PositiveInfinity;
        Assert.True(double.IsInfinity(Gram.FinishLinearGram(upper, torch.zeros([3, 3], dtype: ScalarType.Float64), torch.zeros([3], dtype: ScalarType.Float64), out _)));
    }
}
