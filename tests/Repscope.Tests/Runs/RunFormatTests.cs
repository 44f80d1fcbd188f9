using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Repscope.Runs;
using Repscope.Tests.Data;
using Repscope.Training;

namespace Repscope.Tests.Runs;

/// <summary>The one reader and writer of run.json: full validation, states, the writer's lock, leftovers of killed writers.</summary>
public class RunFormatTests
{
    private static string WriteRun(TempDir dir, string name, RunInfo info)
    {
        string run = Path.Combine(dir.Path, name);
        RunFormat.Write(run, info);
        return run;
    }

    /// <summary>Sets the field at a JSON path ("config.data") of run.json to <paramref name="value"/> (null: JSON null).</summary>
    private static void Edit(string run, string path, JsonNode? value)
    {
        string file = Path.Combine(run, RunFormat.RunFile);
        var root = JsonNode.Parse(File.ReadAllText(file))!;
        var parts = path.Split('.');
        var node = root;
        foreach (string p in parts[..^1]) { node = node[p]!; }
        node[parts[^1]] = value;
        File.WriteAllText(file, root.ToJsonString());
    }

    [Fact]
    public void WriteThenReadGivesTheSameRun()
    {
        using var dir = new TempDir();
        var info = SampleRuns.Info(requestedTrainExamples: 500) with { Files = new Dictionary<string, string> { ["model.pt"] = new string('a', 64) } };
        string run = WriteRun(dir, "r", info);
        var back = RunFormat.Read(run);
        Assert.Equal(JsonSerializer.Serialize(info, JsonDefaults.Options), JsonSerializer.Serialize(back, JsonDefaults.Options));
        Assert.Contains("\"state\": \"finished\"", File.ReadAllText(Path.Combine(run, RunFormat.RunFile)));
        Assert.Equal(RunState.Broken, RunFormat.Inspect(run).State);   // finished, but no model.pt etc.
        foreach (string f in RunFormat.FinishedFiles) { File.WriteAllText(Path.Combine(run, f), "x"); }
        Assert.Equal(RunState.Finished, RunFormat.Inspect(run).State);
        Assert.Equal(RunState.Missing, RunFormat.Inspect(Path.Combine(dir.Path, "none")).State);
        Assert.Equal(RunState.Training, RunFormat.Inspect(WriteRun(dir, "t", SampleRuns.Info(RunState.Training))).State);
    }

    [Fact]
    public void ARunWrittenBeforeTheProcessorWasRecordedReadsWithoutOne()
    {
        using var dir = new TempDir();
        string run = WriteRun(dir, "r", SampleRuns.Info() with { Provenance = new Provenance { Cpu = "A, AVX2", KernelSettings = "MKL_CBWR=AVX2" } });
        Assert.Equal(("A, AVX2", "MKL_CBWR=AVX2"), (RunFormat.Read(run).Provenance.Cpu, RunFormat.Read(run).Provenance.KernelSettings));
        string file = Path.Combine(run, RunFormat.RunFile);
        var root = JsonNode.Parse(File.ReadAllText(file))!;
        var provenance = root["provenance"]!.AsObject();
        Assert.True(provenance.Remove("cpu") && provenance.Remove("kernelSettings"));
        File.WriteAllText(file, root.ToJsonString());
        Assert.Equal(("", ""), (RunFormat.Read(run).Provenance.Cpu, RunFormat.Read(run).Provenance.KernelSettings));
        Assert.Empty(Repscope.Reproduce.Reproducer.TrainedOn([run]));
    }

    /// <summary>Issue 15, hostile 5: null fields crashed with a NullReferenceException (exit 3) without the file's name.</summary>
    [Theory]
    [InlineData("config", "config is missing or null")]
    [InlineData("epochs", "epochs is missing or null")]
    [InlineData("testSet", "testSet is missing or null")]
    [InlineData("trainSet", "trainSet is missing or null")]
    [InlineData("normalisation", "normalisation is missing or null")]
    [InlineData("provenance", "provenance is missing or null")]
    [InlineData("files", "files is missing or null")]
    [InlineData("provenance.cpu", "provenance.cpu is missing or null")]
    [InlineData("provenance.kernelSettings", "provenance.kernelSettings is missing or null")]
    [InlineData("architecture", "architecture is missing or null")]
    [InlineData("config.data", "config.data is missing or null")]
    [InlineData("config.dataPath", "config.dataPath is missing or null")]
    [InlineData("testSet.classNames", "testSet.classNames is missing or null")]
    [InlineData("testSet.fingerprint", "testSet.fingerprint is missing or empty")]
    [InlineData("normalisation.std", "normalisation.std is missing or null")]
    [InlineData("config.batchSize", "config.batchSize must be at least 2 (batch norm), got 0")]
    [InlineData("config.lr", "config.lr must be a positive number, got null")]
    [InlineData("config.depth", "depth 0 is not 6n+2")]
    [InlineData("state", "not valid run JSON")]
    [InlineData("finalTestAccuracy", "finalTestAccuracy must be a number in [0, 1] for a finished run, got null")]
    public void ANullOrOutOfRangeFieldIsOneLineNamingTheFileAndTheField(string field, string expected)
    {
        using var dir = new TempDir();
        string run = WriteRun(dir, "r", SampleRuns.Info());
        Edit(run, field, field == "state" ? null : field is "config.batchSize" or "config.depth" ? JsonValue.Create(0) : null);
        string file = Path.Combine(run, RunFormat.RunFile);
        var e = Assert.Throws<RepscopeException>(() => RunFormat.Read(run));
        Assert.StartsWith($"{file}: ", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain("\n", e.Message);
        var status = RunFormat.Inspect(run);
        Assert.Equal(RunState.Broken, status.State);
        Assert.Equal(e.Message, status.Problem);
    }

    [Fact]
    public void OtherBrokenDescriptionsAreRefusedToo()
    {
        using var dir = new TempDir();
        string run = WriteRun(dir, "r", SampleRuns.Info());
        string file = Path.Combine(run, RunFormat.RunFile);
        void Expect(string json, string expected)
        {
            File.WriteAllText(file, json);
            var e = Assert.Throws<RepscopeException>(() => RunFormat.Read(run));
            Assert.StartsWith($"{file}: ", e.Message);
            Assert.Contains(expected, e.Message);
        }
        string good = JsonSerializer.Serialize(SampleRuns.Info(), JsonDefaults.Options);
        Expect("null", "empty (null)");
        Expect("[1, 2]", "not valid run JSON");
        Expect("{\"format\": ", "not valid run JSON");
        Expect(good.Replace("\"finished\"", "\"missing\""), "state is 'missing', expected 'training' or 'finished'");
        Expect(good.Replace("\"finished\"", "\"done\""), "not valid run JSON");
        Expect(good.Replace("\"finished\"", "2"), "not valid run JSON");          // enums are strings, never numbers
        Expect(good.Replace("\"depth\": 8", "\"depth\": \"8\""), "not valid run JSON");
        Expect(good.Replace("\"classNames\": [\n      \"a\",", "\"classNames\": [\n      null,"), "trainSet.classNames holds a null name");
        Expect(good.Replace("\"epoch\": 2", "\"epoch\": 3"), "epochs[1].epoch is 3, expected 2");
        Expect(good.Replace("\"epochs\": 2", "\"epochs\": 3"), "epochs lists 2 epochs, but the run says finished after config.epochs = 3");
        Expect(good.Replace("\"files\": {}", "\"files\": {\"../x\": \"00\"}"), "files names '../x'");
        using (var fs = new FileStream(file, FileMode.Create)) { fs.SetLength(RunFormat.MaxRunFileBytes + 1); }   // sparse: no disk used
        Assert.Equal($"{file}: {RunFormat.MaxRunFileBytes + 1} bytes, too large for a run description (at most {RunFormat.MaxRunFileBytes})",
                     Assert.Throws<RepscopeException>(() => RunFormat.Read(run)).Message);
    }

    [Fact]
    public void WriteRefusesAnInvalidRunAndLeavesTheFileAlone()
    {
        using var dir = new TempDir();
        var info = SampleRuns.Info(RunState.Training);
        string run = WriteRun(dir, "r", info);
        byte[] before = File.ReadAllBytes(Path.Combine(run, RunFormat.RunFile));
        var e = Assert.Throws<RepscopeException>(() => RunFormat.Write(run, info with { Config = info.Config with { BatchSize = 0 } }));
        Assert.Contains("config.batchSize must be at least 2", e.Message);
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(run, RunFormat.RunFile)));
    }

    /// <summary>Issue 15, hostile 5: batchSize 0 with --resume divided by zero after run.json had been rewritten.</summary>
    [Fact]
    public void ResumingARunWithBatchSizeZeroIsRefusedBeforeAnythingIsWritten()
    {
        using var dir = new TempDir();
        string run = WriteRun(dir, "r", SampleRuns.Info(RunState.Training));
        Edit(run, "config.batchSize", JsonValue.Create(0));
        string file = Path.Combine(run, RunFormat.RunFile);
        byte[] before = File.ReadAllBytes(file);
        var entries = Directory.GetFileSystemEntries(run).Order().ToList();
        var e = Assert.Throws<RepscopeException>(() => Trainer.Train(TrainOptions.ResumeOf(run)));
        Assert.Equal($"{file}: config.batchSize must be at least 2 (batch norm), got 0", e.Message);
        Assert.Equal(before, File.ReadAllBytes(file));
        Assert.Equal(entries, Directory.GetFileSystemEntries(run).Where(f => Path.GetFileName(f) != RunFormat.LockFile).Order().ToList());
    }

    /// <summary>Issue 15, hostile 5: `runs DIR` aborted on one broken run; it lists it as broken and carries on.</summary>
    [Fact]
    public void FindAllReportsABrokenRunAndCarriesOn()
    {
        using var dir = new TempDir();
        string good = WriteRun(dir, "a/good", SampleRuns.Info());
        foreach (string f in RunFormat.FinishedFiles) { File.WriteAllText(Path.Combine(good, f), "x"); }
        string broken = WriteRun(dir, "b/broken", SampleRuns.Info());
        Edit(broken, "testSet", null);
        WriteRun(dir, "c/partial", SampleRuns.Info(RunState.Training));
        var all = RunFormat.FindAll(dir.Path);
        Assert.Equal([RunState.Finished, RunState.Broken, RunState.Training], all.Select(r => r.State));
        Assert.Contains("testSet is missing or null", all[1].Problem);
        string file = dir.File("plain.txt");
        File.WriteAllText(file, "x");
        Assert.Equal($"{file}: a file, not a folder of runs", Assert.Throws<RepscopeException>(() => RunFormat.FindAll(file)).Message);
    }

    [Fact]
    public void TheConfigurationFingerprintChangesWithAnySetting()
    {
        var c = SampleRuns.Info().Config;
        var id = RunFormat.Identity(c);
        Assert.Equal(id, RunFormat.Identity(c with { }));
        Assert.Equal(16, id.ConfigFingerprint.Length);
        Assert.NotEqual(id, RunFormat.Identity(c with { Seed = 2 }));
        Assert.NotEqual(id.ConfigFingerprint, RunFormat.Identity(c with { BatchSize = 64 }).ConfigFingerprint);
        Assert.NotEqual(id.ConfigFingerprint, RunFormat.Identity(c with { Lr = 0.1000001 }).ConfigFingerprint);
    }

    /// <summary>Issue 15, hostile 1: a second writer of a run folder is refused, in this process and from another one.</summary>
    [SkippableFact]
    public void ASecondWriterIsRefusedAndALockOfAKilledProcessDoesNotBlock()
    {
        using var dir = new TempDir();
        string run = Path.Combine(dir.Path, "r");
        using (var first = RunLock.Acquire(run))
        {
            var e = Assert.Throws<RepscopeException>(() => RunLock.Acquire(run));
            Assert.Equal($"{run}: another process is writing this run (it holds {RunFormat.LockFile}); wait for it to finish, or choose another folder", e.Message);
        }
        using (RunLock.Acquire(run)) { }   // released on dispose

        // Another process holds the lock (flock(1) takes the same flock(2) lock .NET takes), then is killed with SIGKILL.
        Skip.If(!File.Exists("/usr/bin/flock"), "flock(1) (util-linux) is not installed");
        using var holder = Process.Start(new ProcessStartInfo("/usr/bin/flock", ["-x", Path.Combine(run, RunFormat.LockFile), "sleep", "60"]))!;
        var clock = Stopwatch.StartNew();
        bool refused = false;
        while (!refused && clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            try { using (RunLock.Acquire(run)) { } Thread.Sleep(50); }
            catch (RepscopeException) { refused = true; }
        }
        Assert.True(refused, "the other process's lock was never seen");
        holder.Kill(entireProcessTree: true);
        holder.WaitForExit();
        // flock(1)'s child (sleep) shares the locked file; the OS drops the lock once that child is gone too, which on a
        // loaded machine can be a moment after the kill: the lock must be free within seconds, never stay stale.
        clock.Restart();
        while (true)
        {
            try { using (RunLock.Acquire(run)) { } break; }
            catch (RepscopeException) when (clock.Elapsed < TimeSpan.FromSeconds(20)) { Thread.Sleep(50); }
        }
    }

    /// <summary>Issue 15, hostile 8: kill -9 leaves .NAME.PID.GUID.tmp files; the next writer removes those of dead processes only.</summary>
    [Fact]
    public void TheNextWriterRemovesTemporaryFilesOfDeadWritersOnly()
    {
        using var dir = new TempDir();
        using var dead = Process.Start(new ProcessStartInfo("true"))!;
        dead.WaitForExit();
        using var alive = Process.Start(new ProcessStartInfo("sleep", ["60"]))!;
        try
        {
            string Tmp(string name, int pid) => Path.Combine(dir.Path, $".{name}.{pid}.{Guid.NewGuid():N}.tmp");
            string deadRun = Tmp("run.json", dead.Id), deadOther = Tmp("model.pt", dead.Id);
            string aliveRun = Tmp("run.json", alive.Id), mine = Tmp("run.json", Environment.ProcessId);
            string notOurs = Path.Combine(dir.Path, ".run.json.notapid.tmp");
            foreach (string f in new[] { deadRun, deadOther, aliveRun, mine, notOurs }) { File.WriteAllText(f, "partial"); }
            Assert.True(AtomicFile.IsTemporaryName(Path.GetFileName(deadRun)));
            Assert.False(AtomicFile.IsTemporaryName(Path.GetFileName(notOurs)));

            AtomicFile.WriteAllText(Path.Combine(dir.Path, "run.json"), "{}");   // the next writer of run.json
            Assert.False(File.Exists(deadRun));
            Assert.True(File.Exists(deadOther));     // another file's leftovers wait for its own writer (or the folder's)
            Assert.True(File.Exists(aliveRun));
            Assert.True(File.Exists(mine));
            Assert.True(File.Exists(notOurs));

            Assert.Equal([Path.GetFileName(deadOther)], AtomicFile.RemoveStaleTemporaries(dir.Path));
            Assert.True(File.Exists(aliveRun));
            Assert.True(RunFormat.IsEmptyFolder(Path.Combine(dir.Path, "nothing")));
        }
        finally
        {
            alive.Kill();
            alive.WaitForExit();
        }
    }
}
