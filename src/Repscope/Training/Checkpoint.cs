using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Repscope.Models;
using Repscope.Runs;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Training;

/// <summary>What a checkpoint holds besides tensors: whose it is, the epochs done and their metrics.</summary>
public sealed record CheckpointState
{
    /// <summary>The run the checkpoint belongs to (seed and configuration fingerprint); checked on load.</summary>
    public RunIdentity? Identity { get; init; }
    public int EpochsDone { get; init; }
    public IReadOnlyList<EpochMetrics> Epochs { get; init; } = [];
    public double TrainSeconds { get; init; }
}

/// <summary>
/// checkpoint.pt: the training state after a whole epoch, written atomically (a crash leaves the previous
/// checkpoint intact). Layout: magic string, JSON <see cref="CheckpointState"/> (with the run's identity), the
/// model's state dict (TorchSharp format: weights and batch-norm statistics), the SGD momentum buffers, and last the
/// SHA-256 of everything before it (32 bytes). The data order and augmentation of an epoch come from a generator
/// seeded with (seed, epoch), so no generator state is needed to resume exactly. <see cref="Load"/> refuses a file
/// whose hash does not match (a flipped bit) or that belongs to another run.
/// </summary>
public static class Checkpoint
{
    public const string FileName = RunFormat.CheckpointFile;
    private const string Magic = "repscope-checkpoint/2";
    private const int HashBytes = 32;

    public static void Save(string path, ResNet model, Sgd sgd, CheckpointState state)
    {
        AtomicFile.Write(path, stream =>
        {
            using var hashing = new HashingStream(stream);
            using (var w = new BinaryWriter(hashing, Encoding.UTF8, leaveOpen: true))
            {
                w.Write(Magic);
                w.Write(JsonSerializer.Serialize(state, JsonDefaults.Compact));
                model.save(w);
                w.Write(sgd.MomentumBuffers.Count);
                foreach (var b in sgd.MomentumBuffers) { b.Save(w); }
                w.Flush();
            }
            stream.Write(hashing.Hash());
        });
    }

    /// <summary>
    /// Restores weights and momentum buffers in place; returns the state. A damaged file (hash mismatch, truncated,
    /// unreadable) or a checkpoint of another run than <paramref name="expected"/> is a RepscopeException.
    /// </summary>
    public static CheckpointState Load(string path, ResNet model, Sgd sgd, RunIdentity expected)
    {
        Verify(path);
        try
        {
            using var stream = File.OpenRead(path);
            using var r = new BinaryReader(stream, Encoding.UTF8);
            if (r.ReadString() != Magic) { throw new RepscopeException($"{path}: not a Repscope checkpoint of this version ({Magic})"); }
            var state = JsonSerializer.Deserialize<CheckpointState>(r.ReadString(), JsonDefaults.Compact)
                        ?? throw new RepscopeException($"{path}: empty checkpoint state");
            if (state.Identity != expected)
            {
                throw new RepscopeException($"{path}: checkpoint of another run ({state.Identity?.ToString() ?? "no identity"}), this run is {expected}; remove it to train this run from the start");
            }
            if (state.Epochs is null || state.EpochsDone != state.Epochs.Count || state.Epochs.Any(e => e is null))
            {
                throw new RepscopeException($"{path}: damaged checkpoint (its epoch list does not match its {state.EpochsDone} epochs done)");
            }
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
        catch (Exception e) when (e is EndOfStreamException or JsonException or ArgumentException or InvalidOperationException or FormatException or IOException)
        {
            throw new RepscopeException($"{path}: damaged checkpoint ({e.Message.ReplaceLineEndings(" ")})");
        }
    }

    /// <summary>Checks the trailing SHA-256 against the rest of the file.</summary>
    private static void Verify(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        long length = stream.Length;
        if (length <= HashBytes) { throw new RepscopeException($"{path}: damaged checkpoint (only {length} bytes)"); }
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        long left = length - HashBytes;
        while (left > 0)
        {
            int read = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
            if (read == 0) { throw new RepscopeException($"{path}: damaged checkpoint (shorter than its length)"); }
            hash.AppendData(buffer, 0, read);
            left -= read;
        }
        var stored = new byte[HashBytes];
        stream.ReadExactly(stored);
        if (!CryptographicOperations.FixedTimeEquals(hash.GetHashAndReset(), stored))
        {
            throw new RepscopeException($"{path}: damaged checkpoint (its content does not match its SHA-256); remove it to train the run from the start");
        }
    }

    /// <summary>Forwards writes to <paramref name="inner"/> (left open) and hashes them.</summary>
    private sealed class HashingStream(Stream inner) : Stream
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public byte[] Hash() => _hash.GetHashAndReset();

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            _hash.AppendData(buffer);
            inner.Write(buffer);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) { _hash.Dispose(); }
            base.Dispose(disposing);
        }
    }
}
