using Repscope.Interop;

namespace Repscope.Tests.Interop;

/// <summary>Every malformed or unsupported file gives a one-line RepscopeException naming the file and the problem.</summary>
public class NpyErrorTests
{
    private const string F4Header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";

    private static string ReadError(byte[] bytes, string file = "bad.npy")
    {
        using var dir = new TempDir();
        string path = dir.Write(file, bytes);
        var e = Assert.Throws<RepscopeException>(() => Npy.Read(path));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        return e.Message[(path.Length + 2)..];
    }

    [Theory]
    [InlineData("bad_complex.npy", "unsupported dtype '<c16' (complex numbers are not supported; supported: bool, int8-int64, uint8-uint64, float16, float32, float64)")]
    [InlineData("bad_object.npy", "unsupported dtype '|O' (Python objects are not supported")]
    [InlineData("bad_unicode.npy", "unsupported dtype '<U2' (strings are not supported")]
    [InlineData("bad_datetime.npy", "unsupported dtype '<M8[D]' (dates and times are not supported")]
    [InlineData("bad_structured.npy", "unsupported dtype [('x', '<f4'), ('y', '<i4')] (structured arrays are not supported")]
    public void UnsupportedNumpyDtypesAreNamed(string file, string expected)
    {
        string path = NpyTestData.Fixture(file);
        var e = Assert.Throws<RepscopeException>(() => Npy.Read(path));
        Assert.StartsWith($"{path}: {expected}", e.Message);
    }

    [Theory]
    [InlineData("'<f16'", "unsupported dtype '<f16' (float128 is not supported")]
    [InlineData("'<c8'", "unsupported dtype '<c8' (complex numbers")]
    [InlineData("'>S3'", "unsupported dtype '>S3' (strings")]
    [InlineData("'|V8'", "unsupported dtype '|V8' (raw or structured records")]
    [InlineData("'<q8'", "unsupported dtype '<q8' (unknown type")]
    public void UnsupportedDescrStrings(string descr, string expected)
    {
        string header = $"{{'descr': {descr}, 'fortran_order': False, 'shape': (1,), }}";
        Assert.StartsWith(expected, ReadError(NpyTestData.NpyBytes(header, new byte[16])));
    }

    [Fact]
    public void TruncatedData()
    {
        byte[] good = File.ReadAllBytes(NpyTestData.Fixture("le_float32.npy"));
        Assert.Equal("truncated: shape (3, 4) of float32 needs 48 bytes of data, the file has 45", ReadError(good[..^3]));
        Assert.Equal("truncated: shape (3, 4) of float32 needs 48 bytes of data, the file has 0", ReadError(good[..128]));
    }

    [Fact]
    public void TrailingBytes()
    {
        byte[] good = File.ReadAllBytes(NpyTestData.Fixture("le_float32.npy"));
        Assert.Equal("4 unexpected bytes after the data (shape (3, 4) of float32 needs 48 bytes, the file has 52)",
            ReadError([.. good, 1, 2, 3, 4]));
    }

    [Fact]
    public void BadMagicEmptyAndTooShort()
    {
        Assert.StartsWith("not a .npy file (bad magic bytes", ReadError("hello, this is text\n"u8.ToArray()));
        Assert.StartsWith("not a .npy file (bad magic bytes", ReadError([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'X', 1, 0, 0, 0]));
        Assert.Equal("empty file, not a .npy array", ReadError([]));
        Assert.StartsWith("truncated .npy file: 4 bytes", ReadError([0x93, (byte)'N', (byte)'U', (byte)'M']));
        Assert.StartsWith("truncated .npy file", ReadError([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, 10]));
        byte[] zip = File.ReadAllBytes(NpyTestData.Fixture("stored.npz"));
        Assert.Equal("not a .npy file: it is a zip archive (an .npz?)", ReadError(zip));
    }

    [Fact]
    public void HeaderLengthBeyondTheFile()
    {
        byte[] good = File.ReadAllBytes(NpyTestData.Fixture("le_float32.npy"));
        Assert.Equal("header length 118 runs past the end of the file (40 bytes): truncated or corrupt", ReadError(good[..40]));
        byte[] v2 = NpyTestData.NpyBytes(F4Header, new byte[12], version: 2);
        BitConverter.GetBytes(0x7FFF_FFF0u).CopyTo(v2, 8);
        Assert.StartsWith("header length 2147483632 runs past the end of the file", ReadError(v2));
    }

    [Fact]
    public void UnsupportedFormatVersion()
    {
        byte[] bytes = NpyTestData.NpyBytes(F4Header, new byte[12]);
        bytes[6] = 4;
        Assert.Equal("unsupported .npy format version 4.0 (supported: 1.0, 2.0, 3.0)", ReadError(bytes));
        bytes[6] = 1;
        bytes[7] = 1;
        Assert.StartsWith("unsupported .npy format version 1.1", ReadError(bytes));
    }

    [Theory]
    [InlineData("(-3, 4)", "invalid shape (-3, 4): negative dimension -3")]
    [InlineData("(1099511627776, 1099511627776)", "shape (1099511627776, 1099511627776) of float32 has too many elements")]
    [InlineData("(1000000000000,)", "truncated: shape (1000000000000,) of float32 needs 4000000000000 bytes of data, the file has 12")]
    [InlineData("(99999999999999999999,)", "malformed .npy header (integer 99999999999999999999 is out of range")]
    [InlineData("(3.5,)", "malformed .npy header (expected an integer")]
    [InlineData("(None,)", "malformed .npy header (shape (None,) has a non-integer entry None)")]
    [InlineData("{'n': 3}", "malformed .npy header ('shape' is {'n': 3}, expected a tuple of integers)")]
    [InlineData("3", "malformed .npy header ('shape' is 3, expected a tuple of integers)")]
    public void BadShapes(string shape, string expected)
    {
        string header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}";
        Assert.StartsWith(expected, ReadError(NpyTestData.NpyBytes(header, new byte[12])));
    }

    [Theory]
    [InlineData("{'descr': '<f4', 'fortran_order': False}", "malformed .npy header (no 'shape' key)")]
    [InlineData("{'descr': '<f4', 'shape': (3,)}", "malformed .npy header (no 'fortran_order' key)")]
    [InlineData("{'fortran_order': False, 'shape': (3,)}", "malformed .npy header (no 'descr' key)")]
    [InlineData("{'descr': '<f4' 'fortran_order': False, 'shape': (3,)}", "malformed .npy header (expected ',' or '}' at character 17)")]
    [InlineData("{'descr': '<f4', 'fortran_order': 'no', 'shape': (3,)}", "malformed .npy header ('fortran_order' is 'no', expected True or False)")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (3,)", "malformed .npy header (unexpected end at character")]
    [InlineData("['descr', '<f4']", "malformed .npy header (not a dict)")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (3,)} junk", "malformed .npy header (unexpected text after the dict")]
    [InlineData("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", "malformed .npy header (duplicate key 'descr'")]
    [InlineData("{'descr: '<f4', 'fortran_order': False, 'shape': (3,)}", "malformed .npy header (")]
    [InlineData("", "malformed .npy header (unexpected end at character")]
    public void MalformedHeaders(string header, string expected)
    {
        Assert.StartsWith(expected, ReadError(NpyTestData.NpyBytes(header, new byte[12])));
    }

    [Fact]
    public void MoreElementsThanAnArrayCanHold()
    {
        byte[] header = NpyTestData.NpyBytes("{'descr': '|u1', 'fortran_order': False, 'shape': (3000000000,), }", []);
        var e = Assert.Throws<RepscopeException>(() =>
            Npy.Read(new MemoryStream(header), header.Length + 3_000_000_000L, "huge.npy", "huge"));
        Assert.Equal($"huge.npy: shape (3000000000,) of uint8 has 3000000000 elements, more than can be loaded at once ({Array.MaxLength})", e.Message);
    }

    [Fact]
    public void InvalidUtf8InAVersion3Header()
    {
        byte[] bytes = NpyTestData.NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 'ab'}", new byte[12], version: 3);
        int at = Array.IndexOf(bytes, (byte)'a', 70);
        bytes[at] = 0xFF;
        Assert.Equal("malformed .npy header (version 3.0 header is not valid UTF-8)", ReadError(bytes));
    }

    [Fact]
    public void MissingFileAndFolder()
    {
        using var dir = new TempDir();
        string missing = dir.File("nope.npy");
        Assert.Equal($"{missing}: no such file", Assert.Throws<RepscopeException>(() => Npy.Read(missing)).Message);
        Assert.Equal($"{dir.Path}: is a folder, not a file", Assert.Throws<RepscopeException>(() => Npy.Read(dir.Path)).Message);
    }
}
