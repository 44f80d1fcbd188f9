using Microsoft.Win32.SafeHandles;
using static TorchSharp.torch;

namespace Repscope.Spectral;

/// <summary>
/// Where a <see cref="FirstComponentAccumulator"/> keeps its n-row float64 state (the sketch Y while a pass builds it,
/// then its orthonormal basis Q): bytes written and read back at offsets, exactly as written. By default an unlinked
/// temporary file (in <see cref="Path.GetTempPath"/>, i.e. TMPDIR or /tmp): the state then lives in the operating
/// system's page cache, written back to disk under memory pressure, not in the process; only a batch's rows are read in
/// at a time. <see cref="InMemory"/> keeps the same bytes in a managed array (tests: the two give the same bits).
/// </summary>
internal sealed class SketchRows : IDisposable
{
    private readonly SafeFileHandle? _file;
    private byte[] _memory = [];

    private SketchRows(SafeFileHandle? file) => _file = file;

    /// <summary>An unlinked temporary file in <paramref name="folder"/> (null: <see cref="Path.GetTempPath"/>): nothing is left
    /// behind, even when the process dies.</summary>
    public static SketchRows TemporaryFile(string? folder = null)
    {
        folder ??= Path.GetTempPath();
        string path = Path.Combine(folder, $"repscope-sketch-{Environment.ProcessId}-{Guid.NewGuid():N}.bin");
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Delete, FileOptions.DeleteOnClose);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RepscopeException($"{folder}: cannot make a temporary file for the first principal components' sketch ({e.Message}); set TMPDIR to a writable folder");
        }
        if (!OperatingSystem.IsWindows())
        {
            try { File.Delete(path); } catch (IOException) { } // unlinked now; DeleteOnClose removes it where this fails
        }
        return new SketchRows(handle);
    }

    /// <summary>The same bytes in memory.</summary>
    public static SketchRows InMemory() => new(null);

    /// <summary>Writes the storage of <paramref name="t"/> (contiguous, CPU) at byte <paramref name="offset"/>.</summary>
    public void Write(long offset, Tensor t)
    {
        if (!t.is_contiguous()) { throw new ArgumentException("tensor must be contiguous", nameof(t)); }
        ReadOnlySpan<byte> bytes = t.bytes;
        if (_file is not null)
        {
            RandomAccess.Write(_file, bytes, offset);
            return;
        }
        long end = offset + bytes.Length;
        if (end > _memory.LongLength) { Array.Resize(ref _memory, (int)Math.Max(end, Math.Min(2L * _memory.LongLength, Array.MaxLength))); }
        bytes.CopyTo(_memory.AsSpan((int)offset));
    }

    /// <summary>Fills the storage of <paramref name="into"/> (contiguous, CPU) with the bytes from byte <paramref name="offset"/> on.</summary>
    public void Read(long offset, Tensor into)
    {
        if (!into.is_contiguous()) { throw new ArgumentException("tensor must be contiguous", nameof(into)); }
        var bytes = into.bytes;
        if (_file is null)
        {
            _memory.AsSpan((int)offset, bytes.Length).CopyTo(bytes);
            return;
        }
        int done = 0;
        while (done < bytes.Length)
        {
            int n = RandomAccess.Read(_file, bytes[done..], offset + done);
            if (n <= 0) { throw new IOException($"first principal components' sketch: {bytes.Length - done} bytes missing at offset {offset + done} of the temporary file"); }
            done += n;
        }
    }

    public void Dispose()
    {
        _file?.Dispose();
        _memory = [];
    }
}
