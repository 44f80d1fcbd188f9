using System.Runtime.Intrinsics.X86;

namespace Repscope;

/// <summary>
/// What decides which of libtorch's kernels a run uses besides its thread count: the processor's vector instructions
/// (libtorch, oneDNN and MKL pick AVX2 or AVX-512 kernels by them, and the two give different bits) and the three
/// settings that cap that choice when set in the environment (docs/reproduce.md, "Comparing machines with different
/// instruction sets"). Recorded in run.json and in the reproduce report, so that two runs that differ can be told apart.
/// </summary>
public static class CpuKernels
{
    /// <summary>The environment settings libtorch's libraries read when they load: ATen's, oneDNN's, MKL's.</summary>
    public static readonly IReadOnlyList<string> SettingNames = ["ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR"];

    private static readonly Lazy<string> Processor = new(() => FromCpuInfo(ReadCpuInfo()));

    /// <summary>"Intel(R) Xeon(R) Processor, AVX-512": the processor's model and the widest vector instructions it has.</summary>
    public static string Cpu => Processor.Value;

    /// <summary>The settings of <see cref="SettingNames"/> that are set, as "NAME=value" separated by spaces; empty when none is.</summary>
    public static string Settings => SettingsOf(Environment.GetEnvironmentVariable);

    /// <summary>"Intel(R) Xeon(R) Processor, AVX-512", with ", kernels capped by ATEN_CPU_CAPABILITY=avx2 ..." when settings were set.</summary>
    public static string Describe(string cpu, string settings) => settings.Length > 0 ? $"{cpu}, kernels capped by {settings}" : cpu;

    /// <summary>
    /// What a run continued with --resume records: <paramref name="now"/> when nothing was recorded before (a new run, or
    /// one written before Repscope recorded it) or the same holds now; otherwise the earlier record followed by
    /// "; resumed on NOW" (settings: "; resumed with NOW", <paramref name="none"/> for no settings), so that a run made
    /// on two machines says so.
    /// </summary>
    internal static string Resumed(string? before, string now, string joiner, string none = "")
    {
        if (before is null) { return now; }
        string said = $"; {joiner} {(now.Length > 0 ? now : none)}";
        return before == now || before.EndsWith(said, StringComparison.Ordinal) ? before : (before.Length > 0 ? before : none) + said;
    }

    internal static string SettingsOf(Func<string, string?> lookup) =>
        string.Join(" ", SettingNames.Select(n => (Name: n, Value: lookup(n))).Where(s => !string.IsNullOrEmpty(s.Value)).Select(s => $"{s.Name}={s.Value}"));

    /// <summary>
    /// The description from the text of /proc/cpuinfo (its first "model name" and "flags" lines), or, without it, from the
    /// architecture and what the runtime reports of the instructions.
    /// </summary>
    internal static string FromCpuInfo(string? cpuinfo)
    {
        string? model = null;
        HashSet<string>? flags = null;
        foreach (var line in (cpuinfo ?? "").Split('\n'))
        {
            int colon = line.IndexOf(':');
            if (colon < 0) { continue; }
            string key = line[..colon].Trim(), value = line[(colon + 1)..].Trim();
            if (model is null && key == "model name" && value.Length > 0) { model = value; }
            if (flags is null && key == "flags") { flags = [.. value.Split(' ', StringSplitOptions.RemoveEmptyEntries)]; }
        }
        var architecture = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture;
        model ??= architecture.ToString();
        if (flags is null && architecture is not (System.Runtime.InteropServices.Architecture.X64 or System.Runtime.InteropServices.Architecture.X86))
        {
            return $"{model}, {architecture}";
        }
        bool avx512 = flags?.Contains("avx512f") ?? Avx512F.IsSupported;
        bool avx2 = flags?.Contains("avx2") ?? Avx2.IsSupported;
        return $"{model}, {(avx512 ? "AVX-512" : avx2 ? "AVX2" : "without AVX2")}";
    }

    private static string? ReadCpuInfo()
    {
        // The first processor's block (the machine's processors are alike; a large machine's whole file is hundreds of KB).
        try { return OperatingSystem.IsLinux() ? string.Join('\n', File.ReadLines("/proc/cpuinfo").TakeWhile(l => l.Length > 0)) : null; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }
}
