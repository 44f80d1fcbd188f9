using System.Globalization;
using Repscope.Interop;

namespace Repscope.Cli.Commands;

/// <summary>--max-npz-bytes: the limit on an .npz's total decompressed size (<see cref="Npz.DefaultMaxTotalBytes"/>), e.g. 16G, 500M or bytes.</summary>
internal static class NpzLimit
{
    public const string Option = "--max-npz-bytes";
    public const string Help = "Refuse an .npz whose arrays add up to more than SIZE decompressed (all members together; bytes, or with K, M, G, T: 16G). Default 4G: guards against zip bombs; raise it for large trusted files.";

    public static long Parse(string? text)
    {
        if (text is null) { return Npz.DefaultMaxTotalBytes; }
        string t = text.Trim().ToUpperInvariant().TrimEnd('B').TrimEnd('I');
        int shift = t.Length > 0 ? "KMGT".IndexOf(t[^1]) : -1;
        string number = shift >= 0 ? t[..^1] : t;
        if (double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v >= 1 && double.IsFinite(v))
        {
            double bytes = v * Math.Pow(1024, shift + 1);
            if (bytes < long.MaxValue) { return (long)bytes; }
        }
        throw new RepscopeException($"{Option}: expected a size such as 16G, 500M or a number of bytes, got '{text}'");
    }
}
