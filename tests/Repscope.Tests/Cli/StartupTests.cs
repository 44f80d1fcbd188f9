using System.Diagnostics;
using System.Text.Json;
using Repscope.Interop;

namespace Repscope.Tests.Cli;

/// <summary>
/// Startup (issue 15, item 12): commands that do not compute with libtorch must not load it (about half a second per
/// call). The CLI runs as a user runs it, in a child process; glibc's loader reports every library it opens
/// (LD_DEBUG=files), and the test looks for libtorch_cpu.so among them. A command that does need libtorch is the
/// control that the check sees a load when there is one.
/// </summary>
public sealed class StartupTests : IDisposable
{
    private readonly string _dir = CliRunner.TempDir();

    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>Runs the CLI in a child process; returns its exit code, stdout and whether it loaded libtorch_cpu.so.</summary>
    private (int Code, string Out, bool LibTorch) Run(IReadOnlyDictionary<string, string>? env, params string[] args)
    {
        string trace = Path.Combine(_dir, $"ld-{Guid.NewGuid():N}");
        var withTrace = new Dictionary<string, string>(env ?? new Dictionary<string, string>())
        {
            ["LD_DEBUG"] = "files",
            ["LD_DEBUG_OUTPUT"] = trace,   // the loader appends ".PID"
        };
        var (code, stdout, stderr) = CliRunner.RunProcess(_dir, withTrace, args);
        var traces = Directory.GetFiles(_dir, Path.GetFileName(trace) + ".*");
        Assert.True(traces.Length > 0, $"no loader trace from LD_DEBUG (stderr: {stderr})");
        bool libtorch = traces.Any(f => File.ReadAllText(f).Contains("libtorch_cpu.so", StringComparison.Ordinal));
        return (code, stdout, libtorch);
    }

    private string Matrix(string name, int rows, int columns, int seed)
    {
        var r = new Random(seed);
        string path = Path.Combine(_dir, name);
        Npy.Write(path, NdArray.FromFloat32(name, Enumerable.Range(0, rows * columns).Select(_ => (float)r.NextDouble()).ToArray(), rows, columns));
        return path;
    }

    [SkippableFact]
    public void VersionHelpAndSmallCkaDoNotLoadLibTorch()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "LD_DEBUG is glibc's (Linux)");
        string x = Matrix("x.npy", 200, 16, 1), y = Matrix("y.npy", 200, 8, 2);
        // the control: the RBF kernel computes with libtorch, and the check sees it load
        var rbf = Run(null, "cka", x, y, "--kernel", "rbf");
        Assert.Equal(0, rbf.Code);
        Assert.True(rbf.LibTorch, "the loader trace does not show libtorch for a command that computes with it: the check is blind");
        foreach (var args in new[] { new[] { "version" }, ["--help"], ["cka", "--help"], ["heatmap", "--help"], ["cka", x, y], ["cka", x, "missing.npy"] })
        {
            var r = Run(null, args);
            Assert.False(r.LibTorch, $"repscope {string.Join(' ', args)} loaded libtorch");
        }
        var version = Run(null, "version");
        Assert.Equal(0, version.Code);
        Assert.Matches(@"^repscope \S+.*\nTorchSharp 0\.107\.\S+, libtorch 2\.10\.\d+\n$", version.Out);
    }

    [SkippableFact]
    public void SmallCkaIsTheSameNumberWhateverTheThreadCount()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "LD_DEBUG is glibc's (Linux)");
        string x = Matrix("x.npy", 300, 40, 3), y = Matrix("y.npy", 300, 70, 4);
        var values = new[] { "1", "2" }.Select(t => Run(new Dictionary<string, string> { ["OMP_NUM_THREADS"] = t, ["DOTNET_PROCESSOR_COUNT"] = t }, "cka", x, y, "--json"))
                                        .Select(r => { Assert.Equal(0, r.Code); return JsonDocument.Parse(r.Out).RootElement.GetProperty("cka").GetDouble(); })
                                        .ToArray();
        Assert.Equal(BitConverter.DoubleToInt64Bits(values[0]), BitConverter.DoubleToInt64Bits(values[1]));
        Assert.InRange(values[0], 0.01, 0.99);
    }

    /// <summary>
    /// The CLI ends with _exit once a command has returned (ProcessExit: no runtime shutdown, no static destructors). The
    /// same commands with the normal exit (REPSCOPE_FULL_EXIT=1) must give the same exit codes, every line on stdout and
    /// stderr, and the same files: a streamed minibatch heatmap (libtorch loaded, threads running), its cka.json values,
    /// and a bad input's one-line error with exit 2.
    /// </summary>
    [SkippableFact]
    public void TheFastExitKeepsExitCodesOutputAndFiles()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "_exit is used on Linux only");
        var r = new Random(5);
        float[] Rand(int count) => Enumerable.Range(0, count).Select(_ => (float)r.NextDouble()).ToArray();
        string npz = Path.Combine(_dir, "acts.npz");
        Npz.Write(npz, [NdArray.FromFloat32("a", Rand(400 * 12), 400, 12), NdArray.FromFloat32("b", Rand(400 * 6), 400, 6)]);
        var full = new Dictionary<string, string> { ["REPSCOPE_FULL_EXIT"] = "1" };
        var outcomes = new[] { null, full }.Select(env =>
        {
            string outDir = Path.Combine(_dir, env is null ? "fast" : "full");
            var map = CliRunner.RunProcess(_dir, env, "heatmap", npz, "--out", outDir, "--batch-size", "100");
            var bad = CliRunner.RunProcess(_dir, env, "heatmap", Path.Combine(_dir, "missing.npz"), "--out", outDir);
            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "cka.json")));
            string values = json.RootElement.GetProperty("values").GetRawText();
            return (map, bad, values, Png: File.Exists(Path.Combine(outDir, "cka.png")));
        }).ToArray();
        foreach (var o in outcomes)
        {
            Assert.True(o.map.ExitCode == 0, o.map.Err);
            Assert.Contains("wrote ", o.map.Out);
            Assert.True(o.Png);
            Assert.Equal(2, o.bad.ExitCode);
            Assert.StartsWith("repscope: error: ", o.bad.Err);
        }
        Assert.Equal(outcomes[1].map.Out.Replace("/full/", "/fast/"), outcomes[0].map.Out);
        Assert.Equal(outcomes[1].bad.Err, outcomes[0].bad.Err);
        Assert.Equal(outcomes[1].values, outcomes[0].values);
    }
}
