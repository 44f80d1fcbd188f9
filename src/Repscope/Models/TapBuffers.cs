using static TorchSharp.torch;

namespace Repscope.Models;

/// <summary>
/// One float32 [rows, features] tensor per tap, kept from batch to batch (and from pass to pass) by
/// <see cref="Activations.Stream"/>: each batch's tap outputs are copied into rows [0, b) of these, so a pass allocates
/// its taps once instead of once per batch. Without them every batch allocated and freed all its taps (hundreds of MB for
/// a ResNet-56 with 55 taps), which glibc's heap either kept and fragmented (the process grew with the number of
/// examples: 3.3 GiB at 1,024, 8.3 GiB at 10,000) or, with a low mmap threshold, mapped and faulted in again every batch
/// (twice the time). Owned by whoever streams (a run source keeps one for all its passes); a second stream while one runs
/// uses buffers of its own.
/// </summary>
public sealed class TapBuffers : IDisposable
{
    private readonly Dictionary<string, Tensor> _buffers = new(StringComparer.Ordinal);
    private Tensor? _slab;
    private bool _inUse;

    private readonly HashSet<string> _inSlab = new(StringComparer.Ordinal);

    /// <summary>The bytes held now.</summary>
    public long Bytes => ((_slab?.NumberOfElements ?? 0) + _buffers.Where(b => !_inSlab.Contains(b.Key)).Sum(b => b.Value.NumberOfElements)) * sizeof(float);

    /// <summary>Rows [0, <paramref name="rows"/>) of tap <paramref name="tap"/>'s buffer, [rows, features], made (or remade, when
    /// too small or of another width) with at least <paramref name="capacity"/> rows. Not in any dispose scope.</summary>
    internal Tensor Rows(string tap, long rows, long features, long capacity)
    {
        if (!_buffers.TryGetValue(tap, out var buffer) || buffer.shape[0] < rows || buffer.shape[1] != features)
        {
            buffer?.Dispose();
            _inSlab.Remove(tap);
            buffer = empty([Math.Max(rows, capacity), features], ScalarType.Float32).DetachFromDisposeScope();
            _buffers[tap] = buffer;
        }
        return buffer.narrow(0, 0, rows);
    }

    /// <summary>Rows [0, <paramref name="rows"/>) of the buffer <see cref="Rows"/> made for <paramref name="tap"/>.</summary>
    internal Tensor View(string tap, long rows) => _buffers[tap].narrow(0, 0, rows);

    /// <summary>Where tap <paramref name="tap"/>'s buffer lies (native memory: it does not move).</summary>
    internal unsafe IntPtr Address(string tap)
    {
        fixed (byte* p = _buffers[tap].bytes) { return (IntPtr)p; }
    }

    /// <summary>Claims the buffers for one stream; null when another stream holds them (that stream then uses its own).</summary>
    internal IDisposable? TryUse()
    {
        lock (_buffers)
        {
            if (_inUse) { return null; }
            _inUse = true;
            return new Release(this);
        }
    }

    /// <summary>How far the process may grow past its size after the first batch before freed C heap is given back.</summary>
    internal const long ResidentSlack = 256L << 20;

    private long _residentCeiling;

    /// <summary>
    /// Called after each batch: the first gives the C heap's free pages back and then fixes a ceiling (the process's
    /// resident size after that trim, plus <see cref="ResidentSlack"/>), so that the ceiling holds what lives on (tap
    /// buffers, data, the analyses' state) but not the first batch's freed temporaries; a later batch that leaves the
    /// process above it gives the free pages back again (<see cref="Interop.NativeHeap.ReturnFreeHeap"/>). The holes
    /// that each batch's temporaries (forward pass, CKA, principal components) leave between longer-lived blocks then
    /// cannot add up over the batches and passes: memory does not grow with the number of examples, and pages are
    /// faulted in again only after a trim, not every batch.
    /// </summary>
    internal void BoundResidentMemory()
    {
        if (_residentCeiling == 0)
        {
            Interop.NativeHeap.ReturnFreeHeap();
            long after = Interop.NativeHeap.ResidentBytes();
            _residentCeiling = after < 0 ? -1 : after + ResidentSlack;
            return;
        }
        if (_residentCeiling < 0) { return; }
        long resident = Interop.NativeHeap.ResidentBytes();
        if (resident > _residentCeiling) { Interop.NativeHeap.ReturnFreeHeap(); }
    }

    /// <summary>Whether the buffers lie in one block (<see cref="Reserve"/>; tests).</summary>
    internal bool InOneBlock => _slab is not null;

    /// <summary>Whether nothing is held yet (<see cref="Reserve"/> would make the buffers).</summary>
    internal bool Empty => _buffers.Count == 0;

    /// <summary>
    /// Makes the buffers of <paramref name="taps"/> (with <paramref name="features"/> each; a tap with none is left out)
    /// before the first batch, all in one block of <paramref name="capacity"/> rows each, one after another. A block this
    /// large (hundreds of MB for a ResNet-56; anything above glibc's mmap threshold, at most 32 MB) is mapped on its own,
    /// and the C heap then holds only what a batch allocates and frees. Made one by one as the taps fired, the buffers lay
    /// in the heap between the forward pass's temporaries, and once freed or trimmed around, left it hundreds of MB of
    /// free space over which each batch's temporaries spread (ResNet-56: 180-450 MB touched per forward pass against
    /// 40-70 MB in a heap without them). Does nothing when buffers are held already.
    /// </summary>
    internal void Reserve(IReadOnlyList<string> taps, IReadOnlyList<long> features, long capacity)
    {
        if (!Empty || capacity < 1) { return; }
        long total = Enumerable.Range(0, taps.Count).Where(i => features[i] > 0).Sum(i => features[i]) * capacity;
        if (total == 0) { return; }
        var slab = empty(total, ScalarType.Float32).DetachFromDisposeScope();
        long at = 0;
        for (int i = 0; i < taps.Count; i++)
        {
            if (features[i] <= 0) { continue; }
            using (var part = slab.narrow(0, at, features[i] * capacity)) { _buffers[taps[i]] = part.view(capacity, features[i]).DetachFromDisposeScope(); }
            _inSlab.Add(taps[i]);
            at += features[i] * capacity;
        }
        _slab = slab;
    }

    public void Dispose()
    {
        foreach (var t in _buffers.Values) { t.Dispose(); }
        _buffers.Clear();
        _inSlab.Clear();
        _slab?.Dispose();
        _slab = null;
    }

    private sealed class Release(TapBuffers owner) : IDisposable
    {
        public void Dispose() { lock (owner._buffers) { owner._inUse = false; } }
    }
}
