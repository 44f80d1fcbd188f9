using Repscope.Data;
using Repscope.Interop;
using Repscope.Models;
using Repscope.Runs;
using Repscope.Tests.Data;
using Repscope.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Tests.Training;

/// <summary>Trains ResNet-8 at width 0.5 on a small learnable task (bright quadrant = class), 12x12 images.</summary>
public class TrainerTests : IClassFixture<TrainerTests.QuadrantData>
{
    public sealed class QuadrantData : IDisposable
    {
        public QuadrantData()
        {
            DataFiles.WriteIdxDataSet(Dir.Path, DataFiles.Quadrants(256, 12, seed: 1), DataFiles.Quadrants(128, 12, seed: 2));
        }
        public TempDir Dir { get; } = new();
        public void Dispose() => Dir.Dispose();
    }

    private readonly QuadrantData _data;
    public TrainerTests(QuadrantData data) { _data = data; }

    private TrainOptions Options(string outDir, int epochs = 3) => new()
    {
        Depth = 8, Width = 0.5, Data = new DataSpec { Name = DataName.Mnist, Path = _data.Dir.Path },
        Epochs = epochs, BatchSize = 32, Lr = 0.05, Seed = 7, Threads = 1, Out = outDir, Flip = false, WarmupEpochs = 0.5,
    };

    private static Dictionary<string, float[]> Weights(string run)
    {
        using var model = RunDirectory.Open(run).LoadModel();
        return model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.to_type(ScalarType.Float32).data<float>().ToArray());
    }

    [Fact]
    public void TrainingReducesTheLossBeatsChanceAndWritesAFinishedRun()
    {
        using var outDir = new TempDir();
        string run = Path.Combine(outDir.Path, "run");
        var info = Trainer.Train(Options(run));
        Assert.Equal(RunState.Finished, info.State);
        Assert.Equal(3, info.Epochs.Count);
        Assert.True(info.Epochs[^1].TrainLoss < 0.7 * info.Epochs[0].TrainLoss, $"loss {info.Epochs[0].TrainLoss} -> {info.Epochs[^1].TrainLoss}");
        Assert.True(info.FinalTestAccuracy > 0.7, $"test accuracy {info.FinalTestAccuracy} (chance 0.25)");
        Assert.Equal(256, info.Config.TrainExamples);
        Assert.Equal("full", info.Config.DataSource);

        var dir = RunDirectory.Open(run);
        Assert.Equal(info.TestSet.Fingerprint, dir.Info.TestSet.Fingerprint);
        var labels = dir.TestLabels();
        var preds = dir.TestPredictions();
        var probs = dir.TestProbabilities();
        Assert.Equal(new long[] { 128, 10 }, probs.Shape);
        Assert.Equal(NpyDType.Float32, probs.DType);
        Assert.Equal(info.FinalTestAccuracy!.Value, labels.Zip(preds).Count(p => p.First == p.Second) / 128.0, 12);
        var p = probs.ToFloat32();
        for (int i = 0; i < 128; i++)
        {
            var row = p.AsSpan(i * 10, 10);
            Assert.Equal(1.0, row.ToArray().Sum(), 4);
            Assert.Equal(preds[i], row.IndexOf(row.ToArray().Max()));
        }

        // The loaded model on the reloaded test set reproduces the stored predictions.
        using var model = dir.LoadModel();
        using var test = dir.LoadTestSet();
        Assert.Equal(labels, test.Labels);
        var again = Trainer.Evaluate(model, test, withPredictions: true);
        Assert.Equal(preds, again.Predictions);
        Assert.Equal(info.FinalTestAccuracy!.Value, again.Accuracy, 12);
    }

    /// <summary>Cancels training part-way through an epoch, as a kill would, then resumes: the curve and final weights
    /// are those of an uninterrupted run, bit for bit (same seed, one thread).</summary>
    [Fact]
    public void ResumeAfterACrashEqualsAnUninterruptedRun()
    {
        using var outDir = new TempDir();
        string straight = Path.Combine(outDir.Path, "straight");
        string crashed = Path.Combine(outDir.Path, "crashed");
        var reference = Trainer.Train(Options(straight));

        using var cts = new CancellationTokenSource();
        var crashAt = new CancelAfter(cts, epochTasks: 2, advances: 3);  // in epoch 2, after 3 batches
        Assert.ThrowsAny<OperationCanceledException>(() => Trainer.Train(Options(crashed), crashAt, cts.Token));
        var partial = RunFormat.Read(crashed);
        Assert.Equal(RunState.Training, partial.State);
        Assert.Single(partial.Epochs);
        var e = Assert.Throws<RepscopeException>(() => RunDirectory.Open(crashed));
        Assert.Contains("not finished", e.Message);
        Assert.Equal(RunState.Training, RunFormat.Inspect(crashed).State);
        var refused = Assert.Throws<RepscopeException>(() => Trainer.Train(Options(crashed)));
        Assert.Contains("continue it with resume", refused.Message);                 // the library names its parameter
        Assert.Contains("continue it with --resume", refused.MessageWith(Repscope.Cli.App.Flag));   // the command line its flag

        var resumed = Trainer.Train(TrainOptions.ResumeOf(crashed));   // keeps the run's 1 thread
        Assert.Equal(RunState.Finished, resumed.State);
        Assert.Equal(1, resumed.Provenance.Resumes);
        // The processor and any settings capping libtorch's kernels are recorded (docs/reproduce.md), read back as written.
        Assert.Equal((CpuKernels.Cpu, CpuKernels.Settings), (resumed.Provenance.Cpu, resumed.Provenance.KernelSettings));
        Assert.Equal((CpuKernels.Cpu, CpuKernels.Settings), (RunFormat.Read(crashed).Provenance.Cpu, RunFormat.Read(crashed).Provenance.KernelSettings));
        Assert.StartsWith(CpuKernels.Cpu.Split(", ")[0], resumed.Provenance.Cpu);
        Assert.Equal(reference.Epochs.Select(m => (m.TrainLoss, m.TrainAccuracy, m.TestLoss, m.TestAccuracy)),
                     resumed.Epochs.Select(m => (m.TrainLoss, m.TrainAccuracy, m.TestLoss, m.TestAccuracy)));
        var a = Weights(straight);
        var b = Weights(crashed);
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (key, values) in a) { Assert.True(values.SequenceEqual(b[key]), $"{key} differs"); }
        Assert.Equal(File.ReadAllBytes(Path.Combine(straight, RunFormat.ProbabilitiesFile)), File.ReadAllBytes(Path.Combine(crashed, RunFormat.ProbabilitiesFile)));

        // Resuming a finished run changes nothing; training over it is refused.
        Assert.Equal(resumed.FinalTestAccuracy, Trainer.Train(TrainOptions.ResumeOf(crashed)).FinalTestAccuracy);
        Assert.Contains("already holds a finished run", Assert.Throws<RepscopeException>(() => Trainer.Train(Options(crashed))).Message);
    }

    [Fact]
    public void RunDirectoryRejectsMissingAndHalfWrittenRuns()
    {
        using var outDir = new TempDir();
        string run = Path.Combine(outDir.Path, "run");
        Trainer.Train(Options(run, epochs: 1));
        Assert.Equal(RunState.Finished, RunFormat.Inspect(run).State);

        // The test set found now must be the one the run was evaluated on.
        string json = File.ReadAllText(Path.Combine(run, RunFormat.RunFile));
        var info = RunDirectory.Open(run).Info;
        File.WriteAllText(Path.Combine(run, RunFormat.RunFile), json.Replace(info.TestSet.Fingerprint, "0123456789abcdef0123456789abcdef"));
        var changed = Assert.Throws<RepscopeException>(() => RunDirectory.Open(run).LoadTestSet());
        Assert.Contains("is not the one the run used", changed.Message);
        File.WriteAllText(Path.Combine(run, RunFormat.RunFile), json);

        File.Delete(Path.Combine(run, RunFormat.PredictionsFile));
        var e = Assert.Throws<RepscopeException>(() => RunDirectory.Open(run));
        Assert.Contains("test_predictions.npy is missing", e.Message);
        Assert.Equal(RunState.Broken, RunFormat.Inspect(run).State);

        File.WriteAllText(Path.Combine(run, RunFormat.RunFile), "{\"format\": \"repscope-run/1\", \"state\": ");
        Assert.Contains("not valid run JSON", Assert.Throws<RepscopeException>(() => RunDirectory.Open(run)).Message);
        File.WriteAllText(Path.Combine(run, RunFormat.RunFile), "{\"format\": \"other/2\"}");
        Assert.Contains("format is 'other/2'", Assert.Throws<RepscopeException>(() => RunDirectory.Open(run)).Message);
        File.Delete(Path.Combine(run, RunFormat.RunFile));
        Assert.Contains("not a run folder (no run.json)", Assert.Throws<RepscopeException>(() => RunDirectory.Open(run)).Message);
        Assert.Contains("run folder not found", Assert.Throws<RepscopeException>(() => RunDirectory.Open(Path.Combine(outDir.Path, "nope"))).Message);
        Assert.Contains("not empty", Assert.Throws<RepscopeException>(() => Trainer.Train(Options(run))).Message);
        Assert.Contains("no run to resume", Assert.Throws<RepscopeException>(() => Trainer.Train(Options(Path.Combine(outDir.Path, "new")) with { Resume = true })).Message);
    }

    /// <summary>Trains <paramref name="run"/> (3 epochs) and kills it in epoch 2: run.json says training, checkpoint.pt holds epoch 1.</summary>
    private RunInfo Crash(string run, int seed = 7)
    {
        using var cts = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() => Trainer.Train(Options(run) with { Seed = seed }, new CancelAfter(cts, epochTasks: 2, advances: 3), cts.Token));
        return RunFormat.Read(run);
    }

    /// <summary>Issue 15, hostile 1: a second `train --out R` (or --resume) while the first is still training is refused.</summary>
    [Fact]
    public async Task ASecondWriterOfARunFolderIsRefusedWhileTheFirstTrains()
    {
        using var outDir = new TempDir();
        string run = Path.Combine(outDir.Path, "run");
        using var training = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var first = Task.Run(() => Trainer.Train(Options(run, epochs: 1), new OnEpoch(() => { training.Set(); release.Wait(TimeSpan.FromMinutes(5)); })));
        try
        {
            Assert.True(training.Wait(TimeSpan.FromMinutes(5)), "the first writer never started an epoch");
            string expected = $"{run}: another process is writing this run (it holds {RunFormat.LockFile}); wait for it to finish, or choose another folder";
            Assert.Equal(expected, Assert.Throws<RepscopeException>(() => Trainer.Train(Options(run, epochs: 1))).Message);
            Assert.Equal(expected, Assert.Throws<RepscopeException>(() => Trainer.Train(TrainOptions.ResumeOf(run))).Message);
        }
        finally
        {
            release.Set();
        }
        Assert.Equal(RunState.Finished, (await first).State);
        Assert.Equal(RunState.Finished, RunFormat.Inspect(run).State);
    }

    /// <summary>Issue 15, hostile 2: a flipped bit in checkpoint.pt, a checkpoint of another run, a flipped bit in model.pt or the predictions are refused.</summary>
    [Fact]
    public void AChangedOrForeignCheckpointAndChangedWeightsAreRefused()
    {
        using var outDir = new TempDir();
        string run = Path.Combine(outDir.Path, "a");
        string other = Path.Combine(outDir.Path, "b");
        Crash(run, seed: 7);
        Crash(other, seed: 8);
        string checkpoint = Path.Combine(run, RunFormat.CheckpointFile);
        string runJson = Path.Combine(run, RunFormat.RunFile);
        byte[] good = File.ReadAllBytes(checkpoint);
        byte[] runBefore = File.ReadAllBytes(runJson);

        var flipped = (byte[])good.Clone();
        flipped[flipped.Length / 2] ^= 0x10;
        File.WriteAllBytes(checkpoint, flipped);
        Assert.Equal($"{checkpoint}: damaged checkpoint (its content does not match its SHA-256); remove it to train the run from the start",
                     Assert.Throws<RepscopeException>(() => Trainer.Train(TrainOptions.ResumeOf(run))).Message);
        Assert.Equal(runBefore, File.ReadAllBytes(runJson));

        File.Copy(Path.Combine(other, RunFormat.CheckpointFile), checkpoint, overwrite: true);
        var foreign = Assert.Throws<RepscopeException>(() => Trainer.Train(TrainOptions.ResumeOf(run))).Message;
        Assert.StartsWith($"{checkpoint}: checkpoint of another run (seed 8, configuration ", foreign);
        Assert.Contains($"this run is {RunFormat.Identity(RunFormat.Read(run).Config)}", foreign);
        Assert.Equal(runBefore, File.ReadAllBytes(runJson));

        File.WriteAllBytes(checkpoint, good);
        var finished = Trainer.Train(TrainOptions.ResumeOf(run));
        Assert.Equal(RunState.Finished, finished.State);
        Assert.Equal(RunFormat.FinishedFiles.Order(), finished.Files.Keys.Order());
        using (RunDirectory.Open(run).LoadModel()) { }

        foreach (string name in new[] { RunFormat.ModelFile, RunFormat.PredictionsFile })
        {
            string path = Path.Combine(run, name);
            byte[] bytes = File.ReadAllBytes(path);
            var changed = (byte[])bytes.Clone();
            changed[^3] ^= 0x01;
            File.WriteAllBytes(path, changed);
            string expected = $"{path}: content does not match the SHA-256 that run.json records (damaged, or copied from another run)";
            if (name == RunFormat.ModelFile) { Assert.StartsWith(expected, Assert.Throws<RepscopeException>(() => RunDirectory.Open(run).LoadModel()).Message); }
            else
            {
                Assert.StartsWith(expected, Assert.Throws<RepscopeException>(() => RunDirectory.Open(run).TestPredictions()).Message);
                Assert.StartsWith(expected, Assert.Throws<RepscopeException>(() => Repscope.Analysis.Errors.RunPredictions.Read(run)).Message);
            }
            File.WriteAllBytes(path, bytes);
        }
    }

    /// <summary>Issue 15, hostile 8: --lr 1e30 finished a run with NaN loss; training stops at the first non-finite loss and says so.</summary>
    [Fact]
    public void ANonFiniteLossStopsTrainingAndTheRunStaysUnfinished()
    {
        using var outDir = new TempDir();
        string run = Path.Combine(outDir.Path, "run");
        var e = Assert.Throws<RepscopeException>(() => Trainer.Train(Options(run, epochs: 2) with { Lr = 1e30, WarmupEpochs = 0 }));
        Assert.Matches(@"^.+/run: training diverged: the loss is (NaN|Infinity|-Infinity) at epoch 1, step \d+ \(learning rate [0-9.]+e\+(29|30)\); stopped, the run stays unfinished", e.Message);
        var info = RunFormat.Read(run);
        Assert.Equal(RunState.Training, info.State);
        Assert.Empty(info.Epochs);
        Assert.False(File.Exists(Path.Combine(run, RunFormat.ModelFile)));
    }

    /// <summary>Issue 15, hostile 8: --resume with conflicting options ignored them without a word; they are refused, naming each.</summary>
    [Fact]
    public void ResumingWithOptionsThatContradictTheRunIsRefused()
    {
        using var outDir = new TempDir();
        string run = Path.Combine(outDir.Path, "run");
        Crash(run);
        byte[] before = File.ReadAllBytes(Path.Combine(run, RunFormat.RunFile));
        var given = Assert.Throws<ResumeConflictException>(() => Trainer.Train(
            Options(run) with { Resume = true, Epochs = 9, Seed = 7, Given = new HashSet<string> { "epochs", "seed" } }));
        Assert.Equal([new ResumeConflict("epochs", "9", "3")], given.Conflicts);
        Assert.Contains("epochs 9 was asked for (the run has 3)", given.Message);
        var all = Assert.Throws<ResumeConflictException>(() => Trainer.Train(Options(run) with { Resume = true, BatchSize = 16, Lr = 0.5 }));
        Assert.Equal([new ResumeConflict("batchSize", "16", "32"), new ResumeConflict("lr", "0.5", "0.05")], all.Conflicts);
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(run, RunFormat.RunFile)));
        Assert.Equal(RunState.Finished, Trainer.Train(Options(run) with { Resume = true, Threads = 1 }).State);
    }

    /// <summary>Issue 15, hostile 6: `train --depth 6002` took 23 GB in 2 minutes; the estimate refuses it before allocating the model.</summary>
    [Fact]
    public void AModelThatCannotFitIsRefusedBeforeItIsAllocated()
    {
        using var outDir = new TempDir();
        string run = Path.Combine(outDir.Path, "deep");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var e = Assert.Throws<RepscopeException>(() => Trainer.Train(Options(run) with { Depth = 6002, Width = 1, MemoryLimitBytes = 2_000_000_000 }));
        Assert.Matches(@"^ResNet-6002 \(width 1\) needs about [0-9.]+ GB to train at batch size 32 on 12x12 images \(parameters and optimizer 1\.[0-9] GB, activations [0-9.]+ GB\), more than the 2\.0 GB available; use a smaller depth, width or batch size$", e.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"took {clock.Elapsed}");
        Assert.False(Directory.Exists(run));   // nothing of the run was written, the folder is gone

        // The parameter count the estimate starts from is the model's own, for every shape.
        foreach (var (depth, width, residual, classes, channels) in new[] { (8, 0.5, true, 4, 1), (14, 2.0, false, 10, 3), (20, 1.0, true, 100, 3), (26, 0.3, true, 2, 1) })
        {
            using var model = ResNet.Cifar(depth, width, residual, classes, channels);
            Assert.Equal(model.ParameterCount, ResNetShape.ParameterCount(depth, width, residual, classes, channels));
        }
        Assert.Equal(272_474, ResNetShape.ParameterCount(20, 1, true, 10, 3));   // README: the published 0.27 M
        // Activations: stage 1 at full resolution dominates; doubling the batch doubles them.
        var one = ResNetShape.TrainingBytes(20, 1, true, 10, 3, 32, 32, 64);
        var two = ResNetShape.TrainingBytes(20, 1, true, 10, 3, 32, 32, 128);
        Assert.Equal(2 * one.Activations, two.Activations, 1.0);
        Assert.Equal(16 * 272_474L, one.Parameters);
    }

    [Fact]
    public void AugmentationCropsAWindowOfThePaddedImageAndFlips()
    {
        using var x = arange(2 * 3 * 5 * 6, dtype: ScalarType.Float32).reshape(2, 3, 5, 6);
        using var same = Augmentation.CropAndFlip(x, 0, flip: false, new Generator(1));
        Assert.True(Same(same, x));
        for (int seed = 0; seed < 5; seed++)
        {
            using var y = Augmentation.CropAndFlip(x, 2, flip: true, new Generator((ulong)seed));
            using var padded = nn.functional.pad(x, [2, 2, 2, 2]);
            for (int i = 0; i < 2; i++)
            {
                bool found = false;
                for (int oy = 0; oy <= 4 && !found; oy++)
                {
                    for (int ox = 0; ox <= 4 && !found; ox++)
                    {
                        using var window = padded[i, TensorIndex.Colon, TensorIndex.Slice(oy, oy + 5), TensorIndex.Slice(ox, ox + 6)];
                        using var flipped = window.flip(2);
                        using var yi = y[i];
                        found = Same(yi, window) || Same(yi, flipped);
                    }
                }
                Assert.True(found, $"image {i}, seed {seed}: not a (flipped) crop");
            }
        }
    }

    [Fact]
    public void SgdMatchesPyTorchsUpdateRuleAndCosineDecays()
    {
        using var p = new TorchSharp.Modules.Parameter(tensor(new float[] { 1, -2 }));
        using var sgd = new Sgd([p], momentum: 0.9, weightDecay: 0.1);
        // Step 1: g = [0.5, 0.5]; d = g + 0.1 p = [0.6, 0.3]; b = d; p -= 0.1 b -> [0.94, -2.03].
        p.grad = tensor(new float[] { 0.5f, 0.5f });
        sgd.Step(0.1);
        Assert.Equal(new[] { 0.94f, -2.03f }, p.data<float>().ToArray().Select(v => MathF.Round(v, 5)));
        // Step 2: g = [0, 1]; d = [0.094, 0.797]; b = 0.9 [0.6, 0.3] + d = [0.634, 1.067]; p -= 0.1 b -> [0.8766, -2.1367].
        p.grad = tensor(new float[] { 0, 1 });
        sgd.Step(0.1);
        Assert.Equal(new[] { 0.8766f, -2.1367f }, p.data<float>().ToArray().Select(v => MathF.Round(v, 4)));

        Assert.Equal(0.1, CosineSchedule.At(0.1, 0, 100), 12);
        Assert.Equal(0.05, CosineSchedule.At(0.1, 50, 100), 12);
        Assert.Equal(0.1 * 0.5 * (1 + Math.Cos(Math.PI * 0.99)), CosineSchedule.At(0.1, 99, 100), 12);
        Assert.Equal(8, Trainer.StepsPerEpoch(1025, 128));   // a trailing batch of one is dropped
        Assert.Equal(9, Trainer.StepsPerEpoch(1026, 128));
        // Warm-up: 0.1 * (t+1)/4 for t < 4, then cosine over the remaining 96 steps.
        Assert.Equal(new[] { 0.025, 0.05, 0.075, 0.1 }, Enumerable.Range(0, 4).Select(t => Math.Round(CosineSchedule.At(0.1, t, 100, 4), 12)));
        Assert.Equal(0.1, CosineSchedule.At(0.1, 4, 100, 4), 12);
        Assert.Equal(0.05, CosineSchedule.At(0.1, 52, 100, 4), 12);
        Assert.NotEqual(Trainer.EpochSeed(1, 0), Trainer.EpochSeed(1, 1));
        Assert.NotEqual(Trainer.EpochSeed(1, 0), Trainer.EpochSeed(2, 0));
    }

    [Theory]
    [InlineData(0, "epochs must be at least 1")]
    [InlineData(-1, "lr must be positive")]
    public void BadOptionsAreClearErrors(int which, string expected)
    {
        using var outDir = new TempDir();
        var o = Options(Path.Combine(outDir.Path, "r"));
        o = which == 0 ? o with { Epochs = 0 } : o with { Lr = -1 };
        Assert.Contains(expected, Assert.Throws<RepscopeException>(() => Trainer.Train(o)).Message);
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    /// <summary>A progress reporter that cancels on the given advance of the given task ("a kill at that moment").</summary>
    /// <summary>Calls <paramref name="onFirstEpoch"/> when the first epoch starts (run.json already written, the lock held).</summary>
    private sealed class OnEpoch(Action onFirstEpoch) : IProgressReporter
    {
        private bool _called;
        public IProgressTask Start(string description, double total)
        {
            if (!_called && description.StartsWith("epoch", StringComparison.Ordinal)) { _called = true; onFirstEpoch(); }
            return ProgressReporter.None.Start(description, total);
        }
    }

    private sealed class CancelAfter(CancellationTokenSource cts, int epochTasks, int advances) : IProgressReporter
    {
        private int _epochs;
        public IProgressTask Start(string description, double total)
        {
            bool isEpoch = description.StartsWith("epoch", StringComparison.Ordinal);
            if (isEpoch) { _epochs++; }
            return new Task(isEpoch && _epochs == epochTasks ? () => cts.Cancel() : null, advances);
        }

        private sealed class Task(Action? onLimit, int limit) : IProgressTask
        {
            private int _count;
            public void Advance(double amount, string? status = null) { if (++_count == limit) { onLimit?.Invoke(); } }
            public void Complete(string? status = null) { }
            public void Dispose() { }
        }
    }
}
