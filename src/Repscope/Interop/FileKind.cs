using System.IO.Compression;

namespace Repscope.Interop;

/// <summary>
/// Recognises the files users pass by mistake where a .npy or .npz is expected, so that the error
/// says what the file is and what to do: a PyTorch file (torch.save: a zip archive holding
/// <c>data.pkl</c>, or a bare pickle in the legacy format), a .npy where an .npz is needed.
/// </summary>
internal static class FileKind
{
    public const string PyTorchFile = "a PyTorch file (torch.save), not numpy: save the arrays with numpy.save (.npy) or numpy.savez (.npz), e.g. np.save('x.npy', t.numpy())";
    public const string PickleFile = "a Python pickle (a PyTorch file from torch.save?), not numpy: save the arrays with numpy.save (.npy) or numpy.savez (.npz)";

    /// <summary>torch.save's zip layout: every member under one folder, one of them <c>FOLDER/data.pkl</c>.</summary>
    public static bool IsPyTorchZip(ZipArchive zip) =>
        zip.Entries.Any(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) || e.FullName == "data.pkl")
        && !zip.Entries.Any(e => e.FullName.EndsWith(".npy", StringComparison.Ordinal));

    /// <summary>Whether the zip archive in a seekable stream is a PyTorch file; null when it cannot tell.</summary>
    public static bool? IsPyTorchZip(Stream stream, string source)
    {
        if (!stream.CanSeek) { return null; }
        try
        {
            stream.Position = 0;
            using var zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
            return IsPyTorchZip(zip);
        }
        catch (InvalidDataException) { return null; }
    }

    /// <summary>A pickle starts with the PROTO opcode (0x80) and a protocol number from 2 to 5.</summary>
    public static bool IsPickle(ReadOnlySpan<byte> start) => start.Length >= 2 && start[0] == 0x80 && start[1] is >= 2 and <= 5;

    /// <summary>Refuses a file that is certainly not a zip archive (a .npy, a pickle) with a message that says what it is.</summary>
    public static void RefuseNonZip(Stream stream, string path)
    {
        if (!stream.CanSeek) { return; }
        Span<byte> start = stackalloc byte[6];
        int got = stream.ReadAtLeast(start, start.Length, throwOnEndOfStream: false);
        stream.Position = 0;
        if (got == 6 && start.SequenceEqual(Npy.Magic))
        {
            throw new RepscopeException($"{path}: a single .npy array, not an .npz archive: save the layers with numpy.savez('layers.npz', conv1=a, block1=b, ...)");
        }
        if (IsPickle(start[..got])) { throw new RepscopeException($"{path}: {PickleFile}"); }
    }

    /// <summary>
    /// What a file given where a run directory or an ONNX model is expected is, when it is certainly neither: a .npy,
    /// an .npz of activations, a PyTorch file or a pickle (from its first bytes, and a zip archive's member names); null
    /// otherwise (an ONNX model, or anything ONNX's own reader will name).
    /// </summary>
    public static string? ArraysNotModel(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
        Span<byte> start = stackalloc byte[6];
        int got = f.ReadAtLeast(start, start.Length, throwOnEndOfStream: false);
        const string Arrays = "activations in numpy files go to `cka`, `heatmap` and `layers` as they are";
        if (got == 6 && start.SequenceEqual(Npy.Magic)) { return $"a numpy .npy array, not a run directory or an ONNX model: {Arrays}"; }
        if (IsPickle(start[..got])) { return PickleFile; }
        if (got >= 4 && start[..4].SequenceEqual("PK\u0003\u0004"u8))
        {
            return IsPyTorchZip(f, path) == true ? $"{PyTorchFile}; export the model with torch.onnx.export for Repscope (docs/onnx.md)"
                                                   : $"a zip archive (an .npz of activations?), not a run directory or an ONNX model: {Arrays}";
        }
        return null;
    }
}
