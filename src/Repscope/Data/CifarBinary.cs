namespace Repscope.Data;

public enum Cifar100Labels { Fine, Coarse }

/// <summary>
/// The CIFAR binary format: fixed-size records of label byte(s) followed by 3072 pixel bytes
/// (3 x 32 x 32, channel planes R, G, B). CIFAR-10 (<c>data_batch_*.bin</c>, <c>test_batch.bin</c>) has one
/// label byte; CIFAR-100 (<c>train.bin</c>, <c>test.bin</c>) has two: coarse (20 classes) then fine (100).
/// </summary>
public static class CifarBinary
{
    public const int Side = 32;
    public const int ImageBytes = 3 * Side * Side;

    public static RawImages ReadCifar10(IReadOnlyList<string> files) => Read(files, labelBytes: 1, labelIndex: 0, classes: 10);

    public static RawImages ReadCifar100(IReadOnlyList<string> files, Cifar100Labels labels) =>
        Read(files, labelBytes: 2, labelIndex: labels == Cifar100Labels.Coarse ? 0 : 1, classes: labels == Cifar100Labels.Coarse ? 20 : 100);

    private static RawImages Read(IReadOnlyList<string> files, int labelBytes, int labelIndex, int classes)
    {
        int record = labelBytes + ImageBytes;
        var parts = new List<(byte[] Bytes, string Path)>();
        long n = 0;
        foreach (string f in files)
        {
            if (!File.Exists(f)) { throw new RepscopeException($"{f}: file not found"); }
            byte[] b = File.ReadAllBytes(f);
            if (b.Length == 0 || b.Length % record != 0)
            {
                throw new RepscopeException($"{f}: {b.Length} bytes is not a whole number of {record}-byte CIFAR records ({labelBytes} label byte(s) + {ImageBytes} pixels): truncated or not this format");
            }
            parts.Add((b, f));
            n += b.Length / record;
        }
        var pixels = new byte[n * ImageBytes];
        var labels = new long[n];
        long i = 0;
        foreach (var (b, f) in parts)
        {
            for (int o = 0; o < b.Length; o += record, i++)
            {
                int label = b[o + labelIndex];
                if (label >= classes)
                {
                    throw new RepscopeException($"{f}: label {label} of record {o / record} is outside 0..{classes - 1} (wrong CIFAR variant?)");
                }
                labels[i] = label;
                Buffer.BlockCopy(b, o + labelBytes, pixels, (int)(i * ImageBytes), ImageBytes);
            }
        }
        return new RawImages(pixels, labels, 3, Side, Side);
    }

    /// <summary>Class names from a text file with one name per line (batches.meta.txt, fine_label_names.txt), or null when absent.</summary>
    public static IReadOnlyList<string>? ReadNames(string path, int classes)
    {
        if (!File.Exists(path)) { return null; }
        var names = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        if (names.Count != classes) { throw new RepscopeException($"{path}: {names.Count} class names, expected {classes}"); }
        return names;
    }
}
