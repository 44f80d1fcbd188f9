namespace Repscope.Tests.Common;

/// <summary>
/// What run.json and the reproduce report record of the processor, whose vector instructions pick libtorch's kernels (and
/// so a run's bits), and of the settings that cap that choice (docs/reproduce.md).
/// </summary>
public class CpuKernelsTests
{
    private const string TwoProcessors =
        "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Example Xeon 1\nflags\t\t: fpu sse2 avx avx2 avx512f avx512bw\n\n" +
        "processor\t: 1\nmodel name\t: Another Model\nflags\t\t: fpu sse2\n";

    [Theory]
    [InlineData(TwoProcessors, "Example Xeon 1, AVX-512")]
    [InlineData("model name\t: Plain\nflags\t\t: fpu sse2 avx avx2 fma\n", "Plain, AVX2")]
    [InlineData("model name\t: Old\nflags\t\t: fpu sse2 sse4_2 avx\n", "Old, without AVX2")]
    [InlineData("model name\t: Spaced  Name \nflags\t\t: avx2\n", "Spaced  Name, AVX2")]
    public void TheModelAndTheWidestVectorInstructionsComeFromTheFirstProcessor(string cpuinfo, string expected) =>
        Assert.Equal(expected, CpuKernels.FromCpuInfo(cpuinfo));

    [Fact]
    public void WithoutCpuInfoTheRuntimeTellsTheInstructions()
    {
        var architecture = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture;
        string expected = architecture switch
        {
            System.Runtime.InteropServices.Architecture.X64 or System.Runtime.InteropServices.Architecture.X86 =>
                $"{architecture}, {(System.Runtime.Intrinsics.X86.Avx512F.IsSupported ? "AVX-512" : System.Runtime.Intrinsics.X86.Avx2.IsSupported ? "AVX2" : "without AVX2")}",
            var other => $"{other}, {other}",
        };
        Assert.Equal(expected, CpuKernels.FromCpuInfo(null));
        Assert.Equal(expected, CpuKernels.FromCpuInfo("no colon here\n"));
    }

    [SkippableFact]
    public void OnLinuxTheProcessorIsTheOneProcCpuInfoNames()
    {
        Skip.IfNot(OperatingSystem.IsLinux() && File.Exists("/proc/cpuinfo"), "needs Linux's /proc/cpuinfo");
        var lines = File.ReadAllLines("/proc/cpuinfo");
        string? model = lines.FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim();
        var flags = lines.First(l => l.StartsWith("flags", StringComparison.Ordinal)).Split(':', 2)[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string width = flags.Contains("avx512f") ? "AVX-512" : flags.Contains("avx2") ? "AVX2" : "without AVX2";
        Assert.Equal($"{model ?? System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString()}, {width}", CpuKernels.Cpu);
    }

    [Fact]
    public void TheSettingsAreTheOnesSetInTheirFixedOrder()
    {
        Assert.Equal("", CpuKernels.SettingsOf(_ => null));
        Assert.Equal("", CpuKernels.SettingsOf(_ => ""));
        var set = new Dictionary<string, string> { ["MKL_CBWR"] = "AVX2", ["ATEN_CPU_CAPABILITY"] = "avx2", ["OTHER"] = "x" };
        Assert.Equal("ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=AVX2", CpuKernels.SettingsOf(n => set.GetValueOrDefault(n)));
        Assert.Equal(["ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR"], CpuKernels.SettingNames);
    }

    [Fact]
    public void TheDescriptionNamesCappedKernels()
    {
        Assert.Equal("A, AVX2", CpuKernels.Describe("A, AVX2", ""));
        Assert.Equal("A, AVX-512, kernels capped by MKL_CBWR=AVX2", CpuKernels.Describe("A, AVX-512", "MKL_CBWR=AVX2"));
    }

    [Theory]
    [InlineData(null, "B, AVX2", "B, AVX2")]
    [InlineData("B, AVX2", "B, AVX2", "B, AVX2")]
    [InlineData("A, AVX-512", "B, AVX2", "A, AVX-512; resumed on B, AVX2")]
    [InlineData("A, AVX-512; resumed on B, AVX2", "B, AVX2", "A, AVX-512; resumed on B, AVX2")]
    [InlineData("A, AVX-512; resumed on B, AVX2", "A, AVX-512", "A, AVX-512; resumed on B, AVX2; resumed on A, AVX-512")]
    public void ARunResumedOnAnotherProcessorSaysSo(string? before, string now, string expected) =>
        Assert.Equal(expected, CpuKernels.Resumed(before, now, "resumed on"));

    [Theory]
    [InlineData(null, "", "")]
    [InlineData("", "", "")]
    [InlineData("", "MKL_CBWR=AVX2", "none; resumed with MKL_CBWR=AVX2")]
    [InlineData("MKL_CBWR=AVX2", "", "MKL_CBWR=AVX2; resumed with none")]
    public void ARunResumedWithOtherSettingsSaysSo(string? before, string now, string expected) =>
        Assert.Equal(expected, CpuKernels.Resumed(before, now, "resumed with", "none"));
}
