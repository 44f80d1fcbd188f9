using System.Text;
using System.Text.Json;
using Repscope.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Training;

/// <summary>What a checkpoint holds besides tensors: the epochs done and their metrics.</summary>
public sealed record CheckpointState
{
    public int EpochsDone { get; init; }
    public IReadOnlyList<EpochMetrics> Epochs { get; init; } = [];
    public double TrainSeconds { get; init; }
}

/// <summary>
/// checkpoint.pt: the training state after a whole epoch, written atomically (a crash leaves the previous
/// checkpoint intact). Layout: magic string, JSON <see cref="CheckpointState"/>, the model's state dict
/// (TorchSharp format: weights and batch-norm statistics), then the SGD momentum buffers. The data order and
/// augmentation of an epoch come from a generator seeded with (seed, epoch), so no generator state is needed
/// to resume exactly.
/// </summary>
public static class Checkpoint
{
    public const string FileName = "checkpoint.pt";
    private const string Magic = "repscope-checkpoint/1";

    public static void Save(string path, ResNet model, Sgd sgd, CheckpointState state)
    {
        AtomicFile.Write(path, stream =>
        {
            using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
            w.Write(Magic);
            w.Write(JsonSerializer.Serialize(state, JsonDefaults.Compact));
            model.save(w);
            w.Write(sgd.MomentumBuffers.Count);
            foreach (var b in sgd.MomentumBuffers) { b.Save(w); }
            w.Flush();
        });
    }

    /// <summary>Restores weights and momentum buffers in place; returns the state. A damaged file is a RepscopeException.</summary>
    public static CheckpointState Load(string path, ResNet model, Sgd sgd)
    {
        try
        {
            using var stream = File.OpenRead(path);
            using var r = new BinaryReader(stream, Encoding.UTF8);
            if (r.ReadString() != Magic) { throw new RepscopeException($"{path}: not a Repscope checkpoint"); }
            var state = JsonSerializer.Deserialize<CheckpointState>(r.ReadString(), JsonDefaults.Compact)
                        ?? throw new RepscopeException($"{path}: empty checkpoint state");
            model.load(r, strict: true);
            int n = r.ReadInt32();
            if (n != sgd.MomentumBuffers.Count)
            {
                throw new RepscopeException($"{path}: {n} momentum buffers, the model has {sgd.MomentumBuffers.Count} parameters");
            }
            using var noGrad = no_grad();
            foreach (var b in sgd.MomentumBuffers) { b.Load(r); }
            return state;
        }
        catch (Exception e) when (e is EndOfStreamException or JsonException or ArgumentException or InvalidOperationException or FormatException)
        {
            throw new RepscopeException($"{path}: damaged checkpoint ({e.Message})");
        }
    }
}
