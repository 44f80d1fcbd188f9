using Repscope.Interop;

namespace Repscope.Tests.Interop;

/// <summary>The header is a Python literal: any key order, either quote, spaces, trailing commas, Python 2 longs.</summary>
public class NpyHeaderTests
{
    private static NdArray ReadBytes(byte[] bytes)
    {
        using var dir = new TempDir();
        return Npy.Read(dir.Write("h.npy", bytes));
    }

    [Theory]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }")]
    [InlineData("{'shape': (2, 2), 'fortran_order': False, 'descr': '<f4'}")]
    [InlineData("{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2,2)}")]
    [InlineData("{  'descr' :'<f4' ,'fortran_order':False,'shape':( 2 , 2 , ) , }")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 2L), }")]
    [InlineData("{'descr': '=f4', 'fortran_order': False, 'shape': (2, 2), 'extra': [1, 'x', None], }")]
    [InlineData("{'descr': 'f4', 'fortran_order': False, 'shape': (+2, 2)}")]
    [InlineData("{'descr':\t'<f4',\n'fortran_order': False, 'shape': (2, 2)}")]
    public void HeaderSpellingsAllRead(string header)
    {
        var a = ReadBytes(NpyTestData.NpyBytes(header, NpyTestData.Float32Bytes(1, 2, 3, 4)));
        Assert.Equal(NpyDType.Float32, a.DType);
        Assert.Equal([2L, 2], a.Shape);
        Assert.Equal([1f, 2, 3, 4], a.ToFloat32());
    }

    [Fact]
    public void FortranFlagReordersToCOrder()
    {
        // Fortran data of [[1, 2, 3], [4, 5, 6]] is 1 4 2 5 3 6.
        var a = ReadBytes(NpyTestData.NpyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
            NpyTestData.Float32Bytes(1, 4, 2, 5, 3, 6)));
        Assert.Equal([1f, 2, 3, 4, 5, 6], a.ToFloat32());
        var v = ReadBytes(NpyTestData.NpyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (3,), }",
            NpyTestData.Float32Bytes(1, 2, 3)));
        Assert.Equal([1f, 2, 3], v.ToFloat32());
    }

    [Fact]
    public void SingleByteTypesIgnoreTheByteOrderMark()
    {
        foreach (string prefix in new[] { "|", "<", ">", "=", "" })
        {
            var a = ReadBytes(NpyTestData.NpyBytes($"{{'descr': '{prefix}u1', 'fortran_order': False, 'shape': (3,), }}", [1, 2, 255]));
            Assert.Equal([1L, 2, 255], a.ToInt64());
        }
    }

    [Fact]
    public void NonZeroBoolBytesAreTrue()
    {
        var a = ReadBytes(NpyTestData.NpyBytes("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", [0, 1, 7]));
        Assert.Equal([false, true, true], a.AsSpan<bool>().ToArray());
        Assert.Equal([0L, 1, 1], a.ToInt64());
    }

    [Fact]
    public void Utf8InAVersion3Header()
    {
        var a = ReadBytes(NpyTestData.NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'note': 'Größe ✓'}",
            NpyTestData.Float32Bytes(5), version: 3));
        Assert.Equal([5f], a.ToFloat32());
    }
}
