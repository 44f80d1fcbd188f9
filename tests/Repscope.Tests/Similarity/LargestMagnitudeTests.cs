using System.Runtime.InteropServices;
using Repscope.Interop;
using Repscope.Similarity;
using TorchSharp;

namespace Repscope.Tests.Similarity;

/// <summary>
/// The batch reader's one pass (<see cref="StoredArray.LargestMagnitude"/>: the largest magnitude from the values' bits)
/// gives the scale that <see cref="Gram.ScaleExponent"/> finds with libtorch's aminmax, at every scale, and NaN exactly
/// when a value is not finite.
/// </summary>
public class LargestMagnitudeTests
{
    private static StoredArray Array(NpyDType type, long rows, long features) =>
        new("x.npy", "x", "x.npy", type, [rows, features], 0);

    public static TheoryData<bool, double, int> Cases()
    {
        var data = new TheoryData<bool, double, int>();
        foreach (bool wide in new[] { false, true })
        {
            foreach (double scale in wide ? new[] { 1e-300, 1e-30, 1e-7, 1, 3e5, 1e30, 1e200 } : new[] { 1e-38, 1e-30, 1e-7, 1, 3e5, 1e19, 1e30 })
            {
                foreach (int length in new[] { 1, 7, 64, 1001 }) { data.Add(wide, scale, length); }
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_scale_from_the_bits_is_the_scale_from_aminmax(bool wide, double scale, int length)
    {
        var rng = new Random(length + (int)Math.Log10(scale) * 7 + (wide ? 1 : 0));
        var values = Enumerable.Range(0, length).Select(_ => (rng.NextDouble() - 0.6) * scale).ToArray();
        values[rng.Next(length)] = -1.5 * scale;       // the largest magnitude is negative
        if (length > 2) { values[1] = -0.0; }
        byte[] bytes = wide ? MemoryMarshal.AsBytes(values.AsSpan()).ToArray() : MemoryMarshal.AsBytes(values.Select(v => (float)v).ToArray().AsSpan()).ToArray();
        var array = Array(wide ? NpyDType.Float64 : NpyDType.Float32, 1, length);
        double largest = array.LargestMagnitude(bytes);
        using var t = wide ? torch.tensor(values) : torch.tensor(values.Select(v => (float)v).ToArray());
        double expected = t.abs().max().to_type(torch.ScalarType.Float64).item<double>();
        Assert.Equal(expected, largest);
        Assert.Equal(Gram.ScaleExponent(t), Gram.ScaleExponentOfLargest(largest));
        if (scale is >= 1e19 or <= 1e-25) { Assert.NotEqual(0, Gram.ScaleExponentOfLargest(largest)); }   // the extreme scales are rescaled
    }

    [Theory]
    [InlineData(false, float.NaN)]
    [InlineData(false, float.PositiveInfinity)]
    [InlineData(false, float.NegativeInfinity)]
    [InlineData(true, double.NaN)]
    [InlineData(true, double.NegativeInfinity)]
    public void A_value_that_is_not_finite_gives_NaN_wherever_it_is(bool wide, double bad)
    {
        foreach (int at in new[] { 0, 5, 16, 99 })
        {
            var values = Enumerable.Range(0, 100).Select(i => (double)i).ToArray();
            values[at] = bad;
            byte[] bytes = wide ? MemoryMarshal.AsBytes(values.AsSpan()).ToArray() : MemoryMarshal.AsBytes(values.Select(v => (float)v).ToArray().AsSpan()).ToArray();
            Assert.True(double.IsNaN(Array(wide ? NpyDType.Float64 : NpyDType.Float32, 1, 100).LargestMagnitude(bytes)), $"a non-finite value at {at}");
        }
        Assert.Equal(99.0, Array(NpyDType.Float32, 1, 100).LargestMagnitude(MemoryMarshal.AsBytes(Enumerable.Range(0, 100).Select(i => (float)i).ToArray().AsSpan())));
        Assert.Equal(0.0, Array(NpyDType.Float32, 1, 0).LargestMagnitude([]));
    }
}
