using Repscope.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Tests.Interop;

public class NpyRoundTripTests
{
    public static TheoryData<NpyDType, bool, NpyByteOrder, int> AllLayouts()
    {
        var data = new TheoryData<NpyDType, bool, NpyByteOrder, int>();
        foreach (var t in Enum.GetValues<NpyDType>())
        {
            foreach (bool fortran in new[] { false, true })
            {
                foreach (var order in Enum.GetValues<NpyByteOrder>())
                {
                    foreach (int version in new[] { 1, 2, 3 }) { data.Add(t, fortran, order, version); }
                }
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(AllLayouts))]
    public void EveryDtypeOrderAndVersionRoundTrips(NpyDType dtype, bool fortran, NpyByteOrder order, int version)
    {
        using var dir = new TempDir();
        var options = new NpyWriteOptions { FortranOrder = fortran, ByteOrder = order, Version = version };
        foreach (long[] shape in new[] { new long[] { 4, 3 }, [37, 70], [2, 3, 5], [7], [], [0, 3], [3, 1, 2, 1] })
        {
            var a = NpyTestData.Random(dtype, shape, seed: shape.Length * 31 + (int)dtype);
            string path = dir.File("x.npy");
            Npy.Write(path, a, options);
            byte[] bytes = File.ReadAllBytes(path);
            Assert.Equal(version, bytes[6]);
            Assert.Equal(0, (8 + (version == 1 ? 2 : 4) + BitConverter.ToUInt16(bytes, 8)) % 64);
            var b = Npy.Read(path);
            Assert.Equal("x", b.Name);
            Assert.True(a.ContentEquals(b), $"{dtype} {NdArray.ShapeText(shape)} fortran={fortran} {order} v{version}");
        }
    }

    [Fact]
    public void FortranAndBigEndianLayoutsAreWhatTheyClaim()
    {
        // Element (i, j) of a 2 x 3 int16 array is 10 i + j. In Fortran order the file holds the
        // columns one after the other; big-endian puts the high byte first.
        var a = NdArray.FromInt16("a", [0, 1, 2, 10, 11, 12], 2, 3);
        var ms = new MemoryStream();
        Npy.Write(ms, a, new NpyWriteOptions { FortranOrder = true, ByteOrder = NpyByteOrder.Big });
        byte[] bytes = ms.ToArray();
        Assert.Equal(128 + 12, bytes.Length);
        Assert.Equal(new byte[] { 0, 0, 0, 10, 0, 1, 0, 11, 0, 2, 0, 12 }, bytes[128..]);
        string header = System.Text.Encoding.ASCII.GetString(bytes, 10, 118);
        Assert.StartsWith("{'descr': '>i2', 'fortran_order': True, 'shape': (2, 3), }", header);
    }

    [Fact]
    public void ZeroDimensionalAndOneDimensionalArrays()
    {
        using var dir = new TempDir();
        var scalar = NdArray.Create("s", new double[] { 2.5 }, []);
        Npy.Write(dir.File("s.npy"), scalar);
        var s = Npy.Read(dir.File("s.npy"));
        Assert.Empty(s.Shape);
        Assert.Equal(0, s.Rank);
        Assert.Equal((1L, 1L), (s.Rows, s.FeaturesPerRow));
        Assert.Equal([2.5], s.ToFloat64());
        Assert.Contains("'shape': ()", File.ReadAllText(dir.File("s.npy")));

        var v = NdArray.FromInt64("v", [5, -6, 7]);
        Npy.Write(dir.File("v.npy"), v);
        Assert.Contains("'shape': (3,)", File.ReadAllText(dir.File("v.npy")));
        var w = Npy.Read(dir.File("v.npy"));
        Assert.Equal([3L], w.Shape);
        Assert.Equal((3L, 1L), (w.Rows, w.FeaturesPerRow));
        Assert.Equal([5L, -6, 7], w.ToInt64());
    }

    [Fact]
    public void ToTensorGivesRowsByFeaturesAndOwnsItsData()
    {
        float[] values = Enumerable.Range(0, 24).Select(i => i * 0.5f - 3).ToArray();
        var a = NdArray.FromFloat32("a", values, 2, 3, 4);
        using var t = a.ToTensor();
        Assert.Equal(ScalarType.Float32, t.dtype);
        Assert.Equal([2L, 12], t.shape);
        Assert.Equal(values, t.data<float>().ToArray());
        t.mul_(0);                                  // the tensor is a copy: the array stays as it was
        Assert.Equal(values, a.ToFloat32());

        using var d = a.ToTensor(ScalarType.Float64);
        Assert.Equal(ScalarType.Float64, d.dtype);
        Assert.Equal(values.Select(v => (double)v), d.data<double>().ToArray());

        var labels = NdArray.FromUInt8("y", [3, 0, 255]);
        using var l = labels.ToTensor(ScalarType.Int64);
        Assert.Equal([3L, 1], l.shape);
        Assert.Equal([3L, 0, 255], l.data<long>().ToArray());

        var half = NdArray.FromFloat16("h", [(Half)1.5, (Half)(-2)], 2);
        using var h = half.ToTensor(ScalarType.Float16);
        Assert.Equal(ScalarType.Float16, h.dtype);
        Assert.Equal([1.5f, -2f], h.to_type(ScalarType.Float32).data<float>().ToArray());

        var u16 = NdArray.FromUInt16("u", [65535, 1], 2);
        using var u = u16.ToTensor(ScalarType.Int32);
        Assert.Equal([65535, 1], u.data<int>().ToArray());

        using var empty = NdArray.FromFloat32("e", [], 0, 5).ToTensor();
        Assert.Equal([0L, 5], empty.shape);
        using var scalar = NdArray.Create("s", new int[] { 7 }, []).ToTensor();
        Assert.Equal([1L, 1], scalar.shape);
        Assert.Equal(7f, scalar.item<float>());
    }

    [Fact]
    public void AsTensorViewSharesTheDataForEveryTorchType()
    {
        foreach (var dtype in Enum.GetValues<NpyDType>().Where(t => t.TorchType() is not null))
        {
            var a = NpyTestData.Random(dtype, [6, 2, 5], seed: (int)dtype);
            using var view = a.AsTensorView();
            Assert.Equal(dtype.TorchType(), view.dtype);
            Assert.Equal([6L, 10], view.shape);
            Assert.True(a.ContentEquals(NdArray.FromTensor("v", view).Reshape(6, 2, 5)), dtype.ToString());
        }
        Assert.Throws<InvalidOperationException>(() => NdArray.FromUInt32("u", [1]).AsTensorView());

        var big = NpyTestData.Random(NpyDType.Float32, [256, 1024], seed: 9);
        long before = GC.GetAllocatedBytesForCurrentThread();
        using (var t = big.AsTensorView())
        {
            Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 100_000);   // no copy of the 1 MiB
            Assert.Equal(big.ToFloat32()[777], t[0, 777].item<float>());
        }
        using var empty = NdArray.FromFloat32("e", [], 0, 4).AsTensorView();
        Assert.Equal([0L, 4], empty.shape);
    }

    [Fact]
    public void FromTensorCopiesShapeTypeAndValues()
    {
        using var t = torch.arange(0, 12, dtype: ScalarType.Float32).reshape(3, 4).t();   // not contiguous
        var a = NdArray.FromTensor("t", t);
        Assert.Equal(NpyDType.Float32, a.DType);
        Assert.Equal([4L, 3], a.Shape);
        Assert.Equal([0f, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11], a.ToFloat32());
        for (long chunk = 4; chunk <= 64; chunk *= 2)     // copies in pieces land at the right offsets
        {
            using var big = torch.arange(0, 1000, dtype: ScalarType.Float64).reshape(10, 100);
            Assert.Equal(Enumerable.Range(0, 1000).Select(i => (double)i), NdArray.FromTensor("x", big, chunk).ToFloat64());
        }
        using var b = torch.tensor(new[] { true, false, true });
        Assert.Equal([true, false, true], NdArray.FromTensor("b", b).AsSpan<bool>().ToArray());
    }

    [Fact]
    public void ConversionsBetweenTypes()
    {
        var i16 = NdArray.FromInt16("a", [-32768, 0, 32767]);
        Assert.Equal([-32768f, 0, 32767], i16.ToFloat32());
        Assert.Equal([-32768.0, 0, 32767], i16.ToFloat64());
        Assert.Equal([-32768L, 0, 32767], i16.ToInt64());
        var b = NdArray.FromBool("b", [true, false]);
        Assert.Equal([1L, 0], b.ToInt64());
        Assert.Equal([1f, 0f], b.ToFloat32());
        var d = NdArray.FromFloat64("d", [1e300, 0.1]);
        Assert.Equal([float.PositiveInfinity, 0.1f], d.ToFloat32());
        var u = NdArray.FromUInt64("u", [ulong.MaxValue, 1]);
        Assert.Equal(1.8446744073709552e19, u.ToFloat64()[0]);
        var e = Assert.Throws<RepscopeException>(() => u.ToInt64());
        Assert.Contains("18446744073709551615", e.Message);
        var f = Assert.Throws<RepscopeException>(() => d.ToInt64());
        Assert.Equal("d: expected integers, found float64 values", f.Message);
        Assert.Throws<InvalidOperationException>(() => d.AsSpan<float>());
    }

    [Fact]
    public void HasNonFiniteFindsNaNAndInfinityAnywhere()
    {
        // Lengths around the vector width so both the vector loop and the tail are exercised.
        foreach (int n in new[] { 1, 7, 8, 9, 31, 64, 1001 })
        {
            var clean = Enumerable.Range(0, n).Select(i => (float)(i - n / 2) * 1e30f).ToArray();
            Assert.False(NdArray.FromFloat32("a", clean).HasNonFinite());
            Assert.False(NdArray.FromFloat64("a", clean.Select(v => (double)v * 1e270).ToArray()).HasNonFinite());
            foreach (int at in new[] { 0, n / 2, n - 1 })
            {
                foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
                {
                    var f = (float[])clean.Clone();
                    f[at] = bad;
                    Assert.True(NdArray.FromFloat32("a", f).HasNonFinite(), $"float32 n={n} at={at} {bad}");
                    var dd = f.Select(v => (double)v).ToArray();
                    Assert.True(NdArray.FromFloat64("a", dd).HasNonFinite(), $"float64 n={n} at={at} {bad}");
                    var h = f.Select(v => float.IsFinite(v) ? (Half)0.5f : (Half)v).ToArray();
                    Assert.True(NdArray.FromFloat16("a", h).HasNonFinite(), $"float16 n={n} at={at} {bad}");
                }
            }
        }
        Assert.False(NdArray.FromFloat16("a", [Half.MaxValue, Half.MinValue, Half.Epsilon]).HasNonFinite());
        Assert.False(NdArray.FromFloat64("a", [double.MaxValue, double.Epsilon, -0.0]).HasNonFinite());
        Assert.False(NdArray.FromInt32("a", [int.MaxValue]).HasNonFinite());
    }

    [Fact]
    public void ReadingFloat32KeepsOneCopyOfTheData()
    {
        using var dir = new TempDir();
        const int rows = 512, cols = 1024;                 // 2 MiB of float32
        var a = NpyTestData.Random(NpyDType.Float32, [rows, cols], seed: 3);
        Npy.Write(dir.File("big.npy"), a);
        Npy.Read(dir.File("big.npy"));                     // warm up
        long before = GC.GetAllocatedBytesForCurrentThread();
        var b = Npy.Read(dir.File("big.npy"));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        long dataBytes = rows * cols * 4L;
        Assert.InRange(allocated, dataBytes, dataBytes + 200_000);   // the array + a file buffer, nothing more
        Assert.True(a.ContentEquals(b));

        Npy.Write(dir.File("big_f.npy"), a, new NpyWriteOptions { FortranOrder = true });
        before = GC.GetAllocatedBytesForCurrentThread();
        var c = Npy.Read(dir.File("big_f.npy"));
        allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.InRange(allocated, 2 * dataBytes, 2 * dataBytes + 200_000);   // plus one transient copy to reorder
        Assert.True(a.ContentEquals(c));
    }

    [Fact]
    public void ArraysLargerThanOneIoChunkRoundTrip()
    {
        // 72 MB of float64: reading and writing go through more than one 64 MiB chunk, with byte swapping.
        using var dir = new TempDir();
        var a = NpyTestData.Random(NpyDType.Float64, [9_000_000], seed: 11);
        Npy.Write(dir.File("big.npy"), a, new NpyWriteOptions { ByteOrder = NpyByteOrder.Big });
        Assert.True(a.ContentEquals(Npy.Read(dir.File("big.npy"))));
    }

    [Fact]
    public void FactoriesCheckShapesAndCopy()
    {
        var data = new float[] { 1, 2, 3, 4, 5, 6 };
        var a = NdArray.FromFloat32("a", data, 2, 3);
        data[0] = 99;
        Assert.Equal(1f, a.ToFloat32()[0]);
        Assert.Throws<ArgumentException>(() => NdArray.FromFloat32("a", data, 4, 2));
        Assert.Throws<ArgumentException>(() => NdArray.FromFloat32("a", data, -2, -3));
        Assert.Equal([6L], NdArray.FromFloat32("a", data).Shape);
        var r = a.Reshape(3, 2);
        Assert.Equal([3L, 2], r.Shape);
        Assert.Equal(a.ToFloat32(), r.ToFloat32());
        Assert.Equal("b", a.WithName("b").Name);
        Assert.Equal("a: float32 (2, 3)", a.ToString());
    }
}
