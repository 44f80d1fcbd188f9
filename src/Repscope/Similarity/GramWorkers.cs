using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Similarity;

/// <summary>
/// The threads and buffers behind <see cref="MinibatchCkaAccumulator"/>'s per-batch work. Each worker runs libtorch
/// with one intra-op thread and takes whole layers, so a layer's Gram matrix is always computed by one thread with the
/// same operations in the same order, and the products of all layers by one thread: the numbers do not depend on how
/// many workers there are, or which worker took which layer. With one worker everything runs on the calling thread, also
/// with one libtorch thread while it does.
/// The buffers (each layer's Gram in float64, the block products, the centred copies) are kept from batch to batch,
/// so a batch allocates nothing large.
/// </summary>
internal sealed class GramWorkers : IDisposable
{
    private readonly Thread[] _threads;
    private readonly SemaphoreSlim[] _go;
    private readonly CountdownEvent _done;
    private readonly Dictionary<(int Worker, string Use, ScalarType Type), Tensor> _scratch = [];
    private readonly Lock _scratchGate = new();
    private Action<int, int>? _job;
    private int _jobs;
    private int _next;
    private Exception? _error;
    private Exception? _startError;
    private volatile bool _stop;

    /// <param name="count">Worker threads (1: the calling thread does the work).</param>
    public GramWorkers(int count)
    {
        Count = Math.Max(1, count);
        _done = new CountdownEvent(1);
        _go = Enumerable.Range(0, Count > 1 ? Count : 0).Select(_ => new SemaphoreSlim(0)).ToArray();
        _threads = new Thread[_go.Length];
        for (int w = 0; w < _threads.Length; w++)
        {
            int worker = w;
            _threads[w] = new Thread(() => Loop(worker)) { IsBackground = true, Name = $"repscope gram worker {w}" };
            _threads[w].Start();
        }
    }

    /// <summary>
    /// As many workers as libtorch has intra-op threads on the calling thread (OMP_NUM_THREADS, set_num_threads); one (the
    /// calling thread) when a worker's libtorch cannot be made single-threaded on its own (see <see cref="OneThreadHere"/>).
    /// </summary>
    public static GramWorkers ForCallingThread() => new(ThreadLocalSettingsAvailable.Value ? torch.get_num_threads() : 1);

    // libtorch's set_num_threads also changes the default of every thread that starts later (a process-wide value), which
    // would change the thread count, and so the last bits, of unrelated work that starts meanwhile (reproduce trains and
    // analyses on several threads at once). A worker sets only its own thread's counts: OpenMP's (per thread) and MKL's
    // (mkl_set_num_threads_local), both exported by the libraries of the libtorch package this build ships.
    private const string GompLibrary = "libgomp-98b21ff3.so.1";

    [System.Runtime.InteropServices.DllImport(GompLibrary, EntryPoint = "omp_set_num_threads")]
    private static extern void OmpSetNumThreads(int threads);

    // The package's MKL exports this name at the address of its Fortran-style entry (MKL_SET_NUM_THREADS_LOCAL, the same
    // function): the count is passed by reference.
    [System.Runtime.InteropServices.DllImport("libtorch_cpu", EntryPoint = "mkl_set_num_threads_local")]
    private static extern int MklSetNumThreadsLocal(ref int threads);

    [System.Runtime.InteropServices.DllImport("libtorch_cpu", EntryPoint = "mkl_get_max_threads")]
    private static extern int MklGetMaxThreads();

    private static readonly Lazy<bool> ThreadLocalSettingsAvailable = new(() =>
    {
        var assembly = typeof(GramWorkers).Assembly;
        return NativeLibrary.TryLoad(GompLibrary, assembly, null, out var gomp) && NativeLibrary.TryGetExport(gomp, "omp_set_num_threads", out _)
               && NativeLibrary.TryLoad("libtorch_cpu", assembly, null, out var cpu) && NativeLibrary.TryGetExport(cpu, "mkl_set_num_threads_local", out _);
    });

    /// <summary>libtorch on this thread with one intra-op thread, and nothing else changed.</summary>
    private static void OneThreadHere()
    {
        torch.get_num_threads();   // libtorch's lazy per-thread set-up first (it would set the counts again)
        OmpSetNumThreads(1);
        int one = 1;
        MklSetNumThreadsLocal(ref one);
        if (torch.get_num_threads() != 1 || MklGetMaxThreads() != 1)
        {
            throw new InvalidOperationException($"a CKA worker thread runs libtorch with {torch.get_num_threads()} threads (MKL {MklGetMaxThreads()}), expected 1");
        }
    }

    /// <summary>
    /// The calling thread's libtorch at one intra-op thread (OpenMP's count for this thread, MKL's thread-local count) until
    /// disposed, then as before; nothing where the thread-local settings are not available.
    /// </summary>
    private static Restore? OneThreadWhileRunning()
    {
        if (!ThreadLocalSettingsAvailable.Value) { return null; }
        int omp = torch.get_num_threads();   // libtorch's lazy per-thread set-up first (it would set the counts again)
        OmpSetNumThreads(1);
        int one = 1;
        int mkl = MklSetNumThreadsLocal(ref one);   // the previous thread-local count; 0: none (MKL's global one)
        return new Restore(omp, mkl);
    }

    private sealed class Restore(int omp, int mkl) : IDisposable
    {
        public void Dispose()
        {
            OmpSetNumThreads(omp);
            int previous = mkl;
            MklSetNumThreadsLocal(ref previous);
        }
    }

    public int Count { get; }

    /// <summary>
    /// Runs <paramref name="job"/>(index, worker) for index 0 .. <paramref name="jobs"/> - 1, each once, the workers taking
    /// the next index as they become free; returns when all are done (rethrows the first exception).
    /// </summary>
    public void Run(int jobs, Action<int, int> job)
    {
        if (_threads.Length == 0)
        {
            // The calling thread is the worker: it too computes with one libtorch thread while the jobs run (another thread's
            // set_num_threads, a training in parallel, changes MKL's process-wide count, and with it a product's last bits).
            using var one = OneThreadWhileRunning();
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
        try { OneThreadHere(); }
        catch (Exception e) { _startError = e; }
        while (true)
        {
            _go[worker].Wait();
            if (_stop)
            {
                // A worker's buffers were made on its thread: disposed there too (libtorch's per-thread counts stay balanced).
                DisposeBuffers(worker);
                return;
            }
            try
            {
                if (_startError is not null) { throw _startError; }
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

    /// <summary>Disposes the buffers of one worker (null: all that are left).</summary>
    private void DisposeBuffers(int? worker)
    {
        lock (_scratchGate)
        {
            foreach (var key in _scratch.Keys.Where(k => worker is null || k.Worker == worker).ToList())
            {
                _scratch[key].Dispose();
                _scratch.Remove(key);
            }
        }
    }

    public void Dispose()
    {
        _stop = true;
        foreach (var g in _go) { g.Release(); }
        foreach (var t in _threads) { t.Join(); }
        DisposeBuffers(null);
        foreach (var g in _go) { g.Dispose(); }
        _done.Dispose();
    }
}
