using Microsoft.Win32.SafeHandles;
using Repscope.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Similarity;

/// <summary>
/// The minibatches of a <see cref="BatchPlan"/> read straight from files (<see cref="StoredArray"/>: .npy files or
/// stored .npz members), one batch of every layer at a time, by a reader thread that fills the next batch while the
/// caller computes on the current one (two buffers per layer). Memory: two batches of every layer, whatever the
/// number of rows. Each batch is checked for NaN and infinite values as it is read (the error names the array), and the
/// same pass finds each layer's largest magnitude, from which the Grams' power-of-two scale follows
/// (<see cref="Gram.ScaleExponentOfLargest"/>): the computing thread does not take that pass over the data again.
/// </summary>
internal sealed class StreamedBatches : IDisposable
{
    private readonly StoredArray[] _arrays;
    private readonly BatchPlan _plan;
    private readonly long[]? _order;
    private readonly Tensor[][] _buffers;             // [slot][layer]: LargestBatch x features
    private readonly int[][] _scales;                 // [slot][layer]: the power-of-two scale of the batch in the slot
    private readonly SemaphoreSlim[] _filled = [new(0), new(0)];
    private readonly SemaphoreSlim[] _free = [new(1), new(1)];
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _reader;
    private readonly int _first, _end;
    private Exception? _error;

    public StreamedBatches(IReadOnlyList<StoredArray> arrays, BatchPlan plan, int firstBatch = 0, int endBatch = -1)
    {
        _arrays = arrays.ToArray();
        _plan = plan;
        _order = plan.Order();
        _first = firstBatch;
        _end = endBatch < 0 ? plan.Count : endBatch;
        _buffers = new Tensor[2][];
        _scales = [new int[_arrays.Length], new int[_arrays.Length]];
        for (int s = 0; s < 2; s++)
        {
            _buffers[s] = _arrays.Select(a => torch.empty([plan.LargestBatch, a.FeaturesPerRow],
                a.DType == NpyDType.Float64 ? ScalarType.Float64 : ScalarType.Float32)).ToArray();
        }
        _reader = new Thread(Read) { IsBackground = true, Name = "repscope batch reader" };
        _reader.Start();
    }

    /// <summary>
    /// Batches in plan order: one [rows, features] tensor per array, valid until the next one is taken, and each one's
    /// power-of-two scale (<see cref="Gram.ScaleExponent"/> of that tensor).
    /// </summary>
    public IEnumerable<(Tensor[] Layers, int[] Scales)> Batches()
    {
        for (int k = _first; k < _end; k++)
        {
            int slot = (k - _first) % 2;
            _filled[slot].Wait();
            if (_error is not null) { System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(_error); }
            long len = _plan.Length(k);
            var batch = _buffers[slot].Select(t => t.narrow(0, 0, len)).ToArray();
            try { yield return (batch, _scales[slot]); }
            finally
            {
                foreach (var t in batch) { t.Dispose(); }
                _free[slot].Release();
            }
        }
    }

    private void Read()
    {
        var handles = new Dictionary<string, SafeFileHandle>();
        try
        {
            foreach (var a in _arrays) { if (!handles.ContainsKey(a.File)) { handles[a.File] = a.Open(); } }
            for (int k = _first; k < _end; k++)
            {
                int slot = (k - _first) % 2;
                _free[slot].Wait(_stop.Token);
                long start = _plan.Start(k), len = _plan.Length(k);
                for (int i = 0; i < _arrays.Length; i++)
                {
                    var a = _arrays[i];
                    var bytes = _buffers[slot][i].bytes[..(int)(len * a.RowBytes)];
                    if (_order is null) { a.ReadRange(handles[a.File], start, len, bytes); }
                    else { a.ReadRows(handles[a.File], _order.AsSpan((int)start, (int)len), bytes); }
                    double largest = a.LargestMagnitude(bytes);
                    if (double.IsNaN(largest)) { throw new NonFiniteDataException(a); }
                    _scales[slot][i] = Gram.ScaleExponentOfLargest(largest);
                }
                _filled[slot].Release();
            }
        }
        catch (OperationCanceledException) { }
        catch (Exception e)
        {
            _error = e;
            _filled[0].Release();
            _filled[1].Release();
        }
        finally
        {
            foreach (var h in handles.Values) { h.Dispose(); }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _reader.Join();
        foreach (var t in _buffers.SelectMany(b => b)) { t.Dispose(); }
        _stop.Dispose();
        foreach (var s in _filled.Concat(_free)) { s.Dispose(); }
    }
}
