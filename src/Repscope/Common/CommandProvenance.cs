using System.Reflection;
using System.Security.Cryptography;

namespace Repscope;

/// <summary>
/// Where a result came from: Repscope's version and the git commit it was built from (the SDK
/// records it in the assembly's informational version, "1.0.0+COMMIT"), the command line that
/// made it, and the input files with their SHA-256. Written into every result file that records
/// its settings, and shown in the report instead of a bare assembly version.
/// </summary>
public sealed record CommandProvenance(string Version, string? GitCommit, string? CommandLine)
{
    /// <summary>This build's version and commit, with <paramref name="args"/> as the command line (after "repscope").</summary>
    public static CommandProvenance Of(IEnumerable<string>? args = null)
    {
        var (version, commit) = Build;
        return new CommandProvenance(version, commit, args is null ? null : CommandLineText(args));
    }

    /// <summary>Repscope's version and the git commit of the build (null when it was built outside git).</summary>
    public static (string Version, string? GitCommit) Build { get; } = ReadBuild();

    /// <summary>"repscope ARG ..." with arguments quoted for a POSIX shell where they need it.</summary>
    public static string CommandLineText(IEnumerable<string> args) =>
        string.Join(' ', new[] { "repscope" }.Concat(args.Select(Quote)));

    private static string Quote(string a) =>
        a.Length > 0 && a.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,+@%".Contains(c)) ? a : "'" + a.Replace("'", "'\\''") + "'";

    private static (string, string?) ReadBuild()
    {
        var assembly = typeof(CommandProvenance).Assembly;
        string info = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                      ?? assembly.GetName().Version?.ToString() ?? "unknown";
        int plus = info.IndexOf('+');
        return plus < 0 ? (info, null) : (info[..plus], info[(plus + 1)..]);
    }
}

/// <summary>An input file as a result records it: its path and the SHA-256 of its bytes.</summary>
public sealed record InputFile(string Path, long Bytes, string Sha256)
{
    public static InputFile Of(string path)
    {
        using var s = File.OpenRead(path);
        byte[] hash = SHA256.HashData(s);
        return new InputFile(path, s.Length, Convert.ToHexStringLower(hash));
    }
}
