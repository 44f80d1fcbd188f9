using System.Diagnostics;
using Repscope.Data;
using Repscope.Interop;
using Repscope.Models;
using Repscope.Runs;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Training;

/// <summary>Test-set evaluation: mean loss, accuracy and, when asked, the softmax outputs.</summary>
public sealed record Evaluation(double Loss, double Accuracy, float[]? Probabilities, long[]? Predictions);

/// <summary>
/// Trains a ResNet into a run directory (docs/ARCHITECTURE.md): run.json is rewritten atomically after every
/// epoch with state "training", checkpoint.pt holds the state of the last whole epoch, and only after model.pt and
/// the test-set predictions exist does run.json say "finished". A run killed at any moment continues with
/// <see cref="TrainOptions.Resume"/> and gives the same curve and weights as an uninterrupted run (same threads).
/// </summary>
public static class Trainer
{
    public const int EvalBatchSize = 256;

    public static RunInfo Train(TrainOptions options, IProgressReporter? progress = null, CancellationToken cancel = default)
    {
        progress ??= ProgressReporter.None;
        string dir = Path.GetFullPath(options.Out);
        if (!options.Resume) { options.Validate(); }
        else if (!File.Exists(Path.Combine(dir, RunFormat.RunFile)))
        {
            throw new RepscopeException($"{dir}: no run to resume (no {RunFormat.RunFile})");
        }
        bool created = !Directory.Exists(dir);
        using var runLock = RunLock.Acquire(dir);
        NativeHeap.KeepFreedBlocksForReuse();
        try
        {
            return TrainLocked(options, dir, progress, cancel);
        }
        catch when (created && !File.Exists(Path.Combine(dir, RunFormat.RunFile)))
        {
            // Nothing of the run was written (e.g. the data could not be loaded): leave no folder behind.
            try
            {
                File.Delete(Path.Combine(dir, RunFormat.LockFile));
                if (RunFormat.IsEmptyFolder(dir)) { Directory.Delete(dir, recursive: true); }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            throw;
        }
        finally
        {
            NativeHeap.EndTraining();
        }
    }

    /// <summary>What <see cref="Train"/> sets around its steps, for the throughput benchmark: libtorch's thread count,
    /// and a heap that keeps the blocks freed by one step for the next (<see cref="NativeHeap"/>).</summary>
    public static void PrepareProcess(int threads)
    {
        torch.set_num_threads(threads);
        NativeHeap.KeepFreedBlocksForReuse();
    }

    /// <summary>Training with the folder's lock held: no other writer can touch it.</summary>
    private static RunInfo TrainLocked(TrainOptions options, string dir, IProgressReporter progress, CancellationToken cancel)
    {
        // Temporary files of writers killed in this folder (no other writer can be running now).
        AtomicFile.RemoveStaleTemporaries(dir);
        RunInfo? previous = null;
        if (File.Exists(Path.Combine(dir, RunFormat.RunFile)))
        {
            previous = RunFormat.Read(dir);
            if (previous.State == RunState.Finished)
            {
                if (options.Resume) { return previous; }
                throw new RepscopeException($"{dir}: already holds a finished run ({previous.Architecture}); choose another {RepscopeException.Option("out")}");
            }
            if (!options.Resume)
            {
                throw new RepscopeException($"{dir}: holds an unfinished run ({previous.Epochs.Count}/{previous.Config.Epochs} epochs); continue it with {RepscopeException.Option("resume")}, or choose another {RepscopeException.Option("out")}");
            }
            var conflicts = options.ConflictsWith(previous.Config);
            if (conflicts.Count > 0) { throw new ResumeConflictException(dir, conflicts); }
        }
        else if (options.Resume)
        {
            throw new RepscopeException($"{dir}: no run to resume (no {RunFormat.RunFile})");
        }
        else if (!RunFormat.IsEmptyFolder(dir))
        {
            throw new RepscopeException($"{dir}: folder exists and is not empty; choose a new {RepscopeException.Option("out")} for the run");
        }

        // A resumed run keeps its thread count unless told otherwise: results are bit-identical only for the same count.
        int threads = options.Threads > 0 ? options.Threads
                    : previous is { Provenance.Threads: > 0 } ? previous.Provenance.Threads : Environment.ProcessorCount;
        torch.set_num_threads(threads);
        // TorchSharp 0.107 does not implement torch.use_deterministic_algorithms (marked 'not implemented');
        // the CPU kernels a ResNet uses are deterministic for a fixed thread count, which the tests check.

        DataSpec spec = previous is null ? options.Data with { Seed = options.Seed } : RunDirectory.DataSpecOf(previous.Config);
        using var data = DataSets.Load(spec, progress);
        var config = previous?.Config ?? MakeConfig(options, data);
        if (previous is not null) { RunDirectory.CheckSameData(dir, previous, data); }

        CheckMemory(config, data.Train, options.MemoryLimitBytes);
        using var init = new Generator((ulong)config.Seed);
        using var model = ResNet.Cifar(config.Depth, config.Width, config.Residual, data.Train.Classes, data.Train.Channels);
        model.Initialise(init);
        using var sgd = new Sgd(model.parameters(), config.Momentum, config.WeightDecay);

        var checkpointPath = Path.Combine(dir, Checkpoint.FileName);
        var state = new CheckpointState();
        var identity = RunFormat.Identity(config);
        if (previous is not null && File.Exists(checkpointPath)) { state = Checkpoint.Load(checkpointPath, model, sgd, identity); }

        var started = previous?.Provenance.Started ?? DateTimeOffset.UtcNow;
        // The processor and kernel settings, after those of the run's earlier part when it recorded them.
        var before = previous is { Provenance.Cpu.Length: > 0 } ? previous.Provenance : null;
        string cpu = CpuKernels.Resumed(before?.Cpu, CpuKernels.Cpu, "resumed on");
        string kernelSettings = CpuKernels.Resumed(before?.KernelSettings, CpuKernels.Settings, "resumed with", "none");
        RunInfo Info(RunState runState, IReadOnlyList<EpochMetrics> epochs, double seconds, double? final = null,
                     IReadOnlyDictionary<string, string>? files = null) => new()
        {
            State = runState,
            Config = config,
            Architecture = model.Architecture,
            ParameterCount = model.ParameterCount,
            TrainSet = RunDirectory.Describe(data.Train),
            TestSet = RunDirectory.Describe(data.Test),
            Normalisation = new NormalisationInfo { Mean = data.Normalisation.Mean, Std = data.Normalisation.Std },
            Epochs = epochs,
            FinalTestAccuracy = final,
            TrainSeconds = seconds,
            Provenance = new Provenance
            {
                Repscope = typeof(Trainer).Assembly.GetName().Version?.ToString() ?? "",
                TorchSharp = typeof(torch).Assembly.GetName().Version?.ToString() ?? "",
                Libtorch = torch.__version__,
                Machine = Provenance.MachineDescription,
                Cpu = cpu,
                KernelSettings = kernelSettings,
                Threads = threads,
                Started = started,
                Finished = runState == RunState.Finished ? DateTimeOffset.UtcNow : null,
                Resumes = (previous?.Provenance.Resumes ?? -1) + 1,
            },
            Files = files ?? new Dictionary<string, string>(),
        };
        RunFormat.Write(dir, Info(RunState.Training, state.Epochs, state.TrainSeconds));

        var epochs = state.Epochs.ToList();
        double trainSeconds = state.TrainSeconds;
        Evaluation? last = null;
        long n = data.Train.Count;
        long stepsPerEpoch = StepsPerEpoch(n, config.BatchSize);
        long totalSteps = stepsPerEpoch * config.Epochs;
        for (int epoch = state.EpochsDone; epoch < config.Epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            using var task = progress.Start($"epoch {epoch + 1}/{config.Epochs}", n);
            var (loss, acc, lr) = TrainEpoch(model, sgd, data.Train, config, epoch, stepsPerEpoch, totalSteps, task,
                                             (config.Epochs - epoch - 1) * n, dir, cancel);
            double trainTime = clock.Elapsed.TotalSeconds;
            bool lastEpoch = epoch == config.Epochs - 1;
            last = config.EvaluateEveryEpoch || lastEpoch ? Evaluate(model, data.Test, withPredictions: lastEpoch) : null;
            double seconds = clock.Elapsed.TotalSeconds;
            task.Complete($"train loss {loss:F3}, acc {100 * acc:F1}%" +
                          (last is null ? "" : $"; test loss {last.Loss:F3}, acc {100 * last.Accuracy:F2}%") + $"; {n / trainTime:F0} img/s");
            trainSeconds += seconds;
            epochs.Add(new EpochMetrics
            {
                Epoch = epoch + 1, TrainLoss = loss, TrainAccuracy = acc, TestLoss = last?.Loss, TestAccuracy = last?.Accuracy,
                Lr = lr, Seconds = seconds, ImagesPerSecond = n / trainTime,
            });
            Checkpoint.Save(checkpointPath, model, sgd, new CheckpointState { Identity = identity, EpochsDone = epoch + 1, Epochs = epochs, TrainSeconds = trainSeconds });
            RunFormat.Write(dir, Info(RunState.Training, epochs, trainSeconds));
        }

        if (last?.Probabilities is null) { last = Evaluate(model, data.Test, withPredictions: true); }
        WriteResults(dir, model, data.Test, last);
        var finished = Info(RunState.Finished, epochs, trainSeconds, last.Accuracy, RunFormat.HashFinishedFiles(dir));
        RunFormat.Write(dir, finished);
        return finished;
    }

    /// <summary>Refuses, before the model is allocated, a model whose training would not fit in memory (an estimate).</summary>
    private static void CheckMemory(RunConfig c, ImageDataset train, long? limit)
    {
        var (parameters, activations) = ResNetShape.TrainingBytes(c.Depth, c.Width, c.Residual, train.Classes, train.Channels, train.Height, train.Width, c.BatchSize);
        long available = limit ?? ResNetShape.AvailableMemoryBytes();
        long needed = parameters > long.MaxValue - activations ? long.MaxValue : parameters + activations;
        if (needed > available)
        {
            static string Gb(long bytes) => (bytes / 1e9).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture) + " GB";
            throw new RepscopeException($"{ResNet.Describe(c.Depth, c.Width, c.Residual)} needs about {Gb(needed)} to train at batch size {c.BatchSize} on {train.Height}x{train.Width} images (parameters and optimizer {Gb(parameters)}, activations {Gb(activations)}), more than the {Gb(available)} available; use a smaller depth, width or batch size");
        }
    }

    /// <summary>Optimizer steps per epoch: every batch, except that a trailing batch of one image is dropped (batch norm needs two).</summary>
    public static long StepsPerEpoch(long n, int batchSize) => n / batchSize + (n % batchSize >= 2 ? 1 : 0);

    /// <summary>Seed of epoch <paramref name="epoch"/>'s data order and augmentation (SplitMix64 of seed and epoch).</summary>
    public static ulong EpochSeed(int seed, int epoch)
    {
        ulong z = (ulong)(uint)seed * 0x9E3779B97F4A7C15UL + (ulong)(uint)epoch + 0x632BE59BD9B4E019UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static (double Loss, double Accuracy, double Lr) TrainEpoch(
        ResNet model, Sgd sgd, ImageDataset train, RunConfig config, int epoch, long stepsPerEpoch, long totalSteps,
        IProgressTask task, long imagesAfterThisEpoch, string dir, CancellationToken cancel)
    {
        model.train();
        using var generator = new Generator(EpochSeed(config.Seed, epoch));
        using var order = randperm(train.Count, generator: generator);
        using var labels = tensor(train.Labels);
        long n = train.Count;
        double lossSum = 0;
        long correct = 0, seen = 0;
        double lr = config.Lr;
        var clock = Stopwatch.StartNew();
        for (long step = 0; step < stepsPerEpoch; step++)
        {
            cancel.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            long start = step * config.BatchSize;
            long end = Math.Min(start + config.BatchSize, n);
            var idx = order[TensorIndex.Slice(start, end)];
            var x = train.Images.index_select(0, idx);
            var y = labels.index_select(0, idx);
            if (config.Augment) { x = Augmentation.CropAndFlip(x, config.CropPadding, config.Flip, generator); }
            lr = CosineSchedule.At(config.Lr, epoch * stepsPerEpoch + step, totalSteps, (long)Math.Round(config.WarmupEpochs * stepsPerEpoch));
            var (batchLoss, batchCorrect) = Step(model, sgd, x, y, lr);
            if (!double.IsFinite(batchLoss))
            {
                throw new RepscopeException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"{dir}: training diverged: the loss is {batchLoss} at epoch {epoch + 1}, step {step + 1} (learning rate {lr:g4}); stopped, the run stays unfinished at its last whole epoch; try a lower learning rate"));
            }
            long b = end - start;
            lossSum += batchLoss * b;
            correct += batchCorrect;
            seen += b;
            double rate = seen / Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
            double left = (n - seen + imagesAfterThisEpoch) / rate;
            task.Advance(b, $"loss {lossSum / seen:F3}, acc {100.0 * correct / seen:F1}%, {rate:F0} img/s, ~{ProgressText.Duration(TimeSpan.FromSeconds(left))} left in all");
        }
        return (lossSum / seen, (double)correct / seen, lr);
    }

    /// <summary>One optimizer step on a batch (model in train mode): cross-entropy, backward, SGD. Returns the batch's
    /// mean loss and number of correct predictions. The training loop and the throughput benchmark both use it.</summary>
    public static (double Loss, long Correct) Step(ResNet model, Sgd sgd, Tensor x, Tensor y, double lr)
    {
        using var scope = NewDisposeScope();
        var logits = model.call(x);
        var loss = nn.functional.cross_entropy(logits, y);
        sgd.ZeroGrad();
        loss.backward();
        sgd.Step(lr);
        return (loss.item<float>(), logits.argmax(1).eq(y).sum().item<long>());
    }

    /// <summary>Mean cross-entropy and accuracy of <paramref name="model"/> on <paramref name="data"/> in eval mode.</summary>
    public static Evaluation Evaluate(ResNet model, ImageDataset data, bool withPredictions)
    {
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            double lossSum = 0;
            long correct = 0;
            var probs = withPredictions ? new float[data.Count * data.Classes] : null;
            var preds = withPredictions ? new long[data.Count] : null;
            var labels = data.Labels;
            for (long start = 0; start < data.Count; start += EvalBatchSize)
            {
                using var scope = NewDisposeScope();
                long end = Math.Min(start + EvalBatchSize, data.Count);
                var logits = model.call(data.Images[TensorIndex.Slice(start, end)]);
                var y = tensor(labels[(int)start..(int)end]);
                lossSum += nn.functional.cross_entropy(logits, y, reduction: nn.Reduction.Sum).item<float>();
                var p = logits.argmax(1);
                correct += p.eq(y).sum().item<long>();
                if (withPredictions)
                {
                    nn.functional.softmax(logits, 1).data<float>().CopyTo(probs!.AsSpan((int)(start * data.Classes), (int)((end - start) * data.Classes)));
                    p.data<long>().CopyTo(preds!.AsSpan((int)start, (int)(end - start)));
                }
            }
            return new Evaluation(lossSum / data.Count, (double)correct / data.Count, probs, preds);
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    private static void WriteResults(string dir, ResNet model, ImageDataset test, Evaluation eval)
    {
        AtomicFile.Write(Path.Combine(dir, RunFormat.ModelFile), s =>
        {
            // Module.save(Stream) closes the stream; AtomicFile must flush it first, so hand over a writer that leaves it open.
            using var w = new BinaryWriter(s, System.Text.Encoding.UTF8, leaveOpen: true);
            model.save(w);
            w.Flush();
        });
        Npy.Write(Path.Combine(dir, RunFormat.LabelsFile), NdArray.FromInt64("test_labels", test.Labels, test.Count));
        Npy.Write(Path.Combine(dir, RunFormat.PredictionsFile), NdArray.FromInt64("test_predictions", eval.Predictions!, test.Count));
        Npy.Write(Path.Combine(dir, RunFormat.ProbabilitiesFile), NdArray.FromFloat32("test_probabilities", eval.Probabilities!, test.Count, test.Classes));
    }

    private static RunConfig MakeConfig(TrainOptions o, DataSplits data) => new()
    {
        Depth = o.Depth, Width = o.Width, Residual = o.Residual,
        Data = DataSpec.NameOf(o.Data.Name),
        DataSource = data.Source switch { DataSource.Full => "full", DataSource.TestSplitOnly => "test-split-only", _ => "folder-split" },
        DataPath = Path.GetFullPath(data.Location),
        TrainFraction = (double)data.Train.Count / data.TrainAvailable,
        TrainExamples = data.Train.Count,
        TrainSplitSize = data.TrainAvailable,
        RequestedTrainFraction = o.Data.TrainFraction,
        RequestedTrainExamples = o.Data.TrainExamples,
        TrainExamplesCap = o.Data.TrainFraction is null && o.Data.TrainExamples is null ? o.Data.TrainExamplesCap : null,
        TestExamples = o.Data.TestExamples,
        ImageSize = o.Data.ImageSize,
        Cifar100Labels = o.Data.Cifar100Labels == Cifar100Labels.Coarse ? "coarse" : "fine",
        Epochs = o.Epochs, BatchSize = o.BatchSize, Lr = o.Lr, WeightDecay = o.WeightDecay, Momentum = o.Momentum, WarmupEpochs = o.WarmupEpochs, EvaluateEveryEpoch = o.EvaluateEveryEpoch,
        Augment = o.Augment, Flip = o.Flip, Seed = o.Seed,
    };
}
