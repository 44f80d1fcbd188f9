using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Repscope.Interop;

namespace Repscope.Tests.Interop;

/// <summary>Shared helpers: the numpy-made fixtures, temporary folders, random arrays, hand-made .npy bytes.</summary>
internal static class NpyTestData
{
    public static string FixtureDir([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "Fixtures", "npy"));

    public static string Fixture(string file) => Path.Combine(FixtureDir(), file);

    /// <summary>A random array of the dtype: random bytes (so NaN payloads and extremes appear), bools 0/1.</summary>
    public static NdArray Random(NpyDType dtype, long[] shape, int seed, string name = "a")
    {
        var rng = new Random(seed);
        long count = 1;
        foreach (long d in shape) { count *= d; }
        var bytes = new byte[count * dtype.ItemSize()];
        rng.NextBytes(bytes);
        if (dtype == NpyDType.Bool)
        {
            for (int i = 0; i < bytes.Length; i++) { bytes[i] &= 1; }
        }
        Array data = Array.CreateInstance(dtype.ClrType(), count);
        bytes.CopyTo(NdArray.Bytes(data, 0, bytes.Length));
        return NdArray.Create(name, data, shape);
    }

    /// <summary>The bytes of a .npy file with the given header text (padded as numpy pads) and data.</summary>
    public static byte[] NpyBytes(string header, byte[] data, int version = 1)
    {
        var text = Encoding.UTF8.GetBytes(header);
        int preamble = version == 1 ? 10 : 12;
        int total = (preamble + text.Length + 1 + 63) / 64 * 64;
        int hlen = total - preamble;
        var ms = new MemoryStream();
        ms.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)version, 0]);
        if (version == 1) { ms.Write(BitConverter.GetBytes((ushort)hlen)); }
        else { ms.Write(BitConverter.GetBytes((uint)hlen)); }
        ms.Write(text);
        ms.Write(Enumerable.Repeat((byte)' ', hlen - text.Length - 1).ToArray());
        ms.WriteByte((byte)'\n');
        ms.Write(data);
        return ms.ToArray();
    }

    public static byte[] Float32Bytes(params float[] values)
    {
        var b = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, b, 0, b.Length);
        return b;
    }

    /// <summary>Every element as invariant text (integers exactly, floats as their float64 value).</summary>
    public static string[] ElementStrings(NdArray a) => a.DType switch
    {
        NpyDType.Bool => a.AsSpan<bool>().ToArray().Select(b => b ? "True" : "False").ToArray(),
        NpyDType.Int8 => Strings(a.AsSpan<sbyte>()),
        NpyDType.UInt8 => Strings(a.AsSpan<byte>()),
        NpyDType.Int16 => Strings(a.AsSpan<short>()),
        NpyDType.UInt16 => Strings(a.AsSpan<ushort>()),
        NpyDType.Int32 => Strings(a.AsSpan<int>()),
        NpyDType.UInt32 => Strings(a.AsSpan<uint>()),
        NpyDType.Int64 => Strings(a.AsSpan<long>()),
        NpyDType.UInt64 => Strings(a.AsSpan<ulong>()),
        _ => a.ToFloat64().Select(v => v.ToString("R", CultureInfo.InvariantCulture)).ToArray(),
    };

    private static string[] Strings<T>(ReadOnlySpan<T> span) where T : IFormattable
    {
        var r = new string[span.Length];
        for (int i = 0; i < span.Length; i++) { r[i] = span[i].ToString(null, CultureInfo.InvariantCulture); }
        return r;
    }
}

/// <summary>A temporary folder deleted at the end of a test.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("repscope-interop-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Write(string name, byte[] bytes)
    {
        string p = File(name);
        System.IO.File.WriteAllBytes(p, bytes);
        return p;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
