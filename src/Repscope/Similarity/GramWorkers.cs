using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Similarity;

/// <summary>
/// The threads and buffers behind <see cref="MinibatchCkaAccumulator"/>'s per-batch work. Each worker runs libtorch
/// with one intra-op thread and takes whole layers, so a layer's Gram matrix is always computed by one thread with the
/// same operations in the same order, and the products of all layers by one thread: the numbers do not depend on how
/// many workers there are, or which worker took which layer. With one worker everything runs on the calling thread.
/// The buffers (each layer's Gram in float64, the block products, the centred copies) are kept from batch to batch,
/// so a batch allocates nothing large.
/// </summary>
internal sealed class GramWorkers : IDisposable
{
    private readonly Thread[] _threads;
    private readonly SemaphoreSlim[] _go;
    private readonly CountdownEvent _done;
    private readonly int _callerThreads;
    private readonly Dictionary<(int Worker, string Use, ScalarType Type), Tensor> _scratch = [];
    private readonly Lock _scratchGate = new();
    private Action<int, int>? _job;
    private int _jobs;
    private int _next;
    private Exception? _error;
    private volatile bool _stop;

    /// <param name="count">Worker threads (1: the calling thread does the work).</param>
    public GramWorkers(int count)
    {
        Count = Math.Max(1, count);
        _done = new CountdownEvent(1);
        _go = Enumerable.Range(0, Count > 1 ? Count : 0).Select(_ => new SemaphoreSlim(0)).ToArray();
        _threads = new Thread[_go.Length];
        _callerThreads = torch.get_num_threads();
        for (int w = 0; w < _threads.Length; w++)
        {
            int worker = w;
            _threads[w] = new Thread(() => Loop(worker)) { IsBackground = true, Name = $"repscope gram worker {w}" };
            _threads[w].Start();
        }
    }

    /// <summary>As many workers as libtorch has intra-op threads on the calling thread (OMP_NUM_THREADS, set_num_threads).</summary>
    public static GramWorkers ForCallingThread() => new(torch.get_num_threads());

    public int Count { get; }

    /// <summary>
    /// Runs <paramref name="job"/>(index, worker) for index 0 .. <paramref name="jobs"/> - 1, each once, the workers taking
    /// the next index as they become free; returns when all are done (rethrows the first exception).
    /// </summary>
    public void Run(int jobs, Action<int, int> job)
    {
        if (_threads.Length == 0)
        {
            for (int i = 0; i < jobs; i++) { job(i, 0); }
            return;
        }
        _job = job;
        _jobs = jobs;
        _next = -1;
        _error = null;
        _done.Reset(_threads.Length);
        foreach (var g in _go) { g.Release(); }
        _done.Wait();
        if (_error is not null) { System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(_error); }
    }

    private void Loop(int worker)
    {
        torch.set_num_threads(1);
        while (true)
        {
            _go[worker].Wait();
            if (_stop) { return; }
            try
            {
                int i;
                while ((i = Interlocked.Increment(ref _next)) < _jobs)
                {
                    using var scope = torch.NewDisposeScope();
                    _job!(i, worker);
                }
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _error, e, null);
                Interlocked.Exchange(ref _next, int.MaxValue / 2);
            }
            finally { _done.Signal(); }
        }
    }

    /// <summary>
    /// A kept buffer of at least <paramref name="elements"/> elements for <paramref name="use"/> (per worker; shared
    /// buffers use worker -1), its first <paramref name="elements"/> as a contiguous 1-D tensor.
    /// </summary>
    public Tensor Buffer(int worker, string use, ScalarType type, long elements)
    {
        lock (_scratchGate)
        {
            var key = (worker, use, type);
            if (!_scratch.TryGetValue(key, out var t) || t.numel() < elements)
            {
                t?.Dispose();
                t = torch.empty(Math.Max(elements, 1), dtype: type).DetachFromDisposeScope();
                _scratch[key] = t;
            }
            return t.narrow(0, 0, elements);
        }
    }

    public void Dispose()
    {
        _stop = true;
        foreach (var g in _go) { g.Release(); }
        foreach (var t in _threads) { t.Join(); }
        // The workers set libtorch's thread count to 1 (their own, and the default of threads started later): back to the caller's.
        if (_threads.Length > 0) { torch.set_num_threads(_callerThreads); }
        foreach (var t in _scratch.Values) { t.Dispose(); }
        foreach (var g in _go) { g.Dispose(); }
        _done.Dispose();
    }
}
