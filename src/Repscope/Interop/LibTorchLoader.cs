using TorchSharp;

namespace Repscope.Interop;

/// <summary>
/// Loads libtorch (about 0.3-0.5 s: the shared libraries and their initialisers) on another thread, so that a command
/// that will need it can read its input meanwhile. The first use of <see cref="torch"/> on any thread then waits for
/// the load (the runtime runs a type's initialiser once and makes other threads wait for it), so starting it early
/// changes only when the cost is paid. A failure is left to the first real use, which reports it.
/// While it loads, the dynamic loader's lock is held (libtorch's initialisers run inside dlopen), and every thread's
/// first call of a native function (the runtime resolves it with dlsym) waits for the whole load: start it after the
/// calling thread has made the native calls it will make meanwhile (opening and reading its input).
/// </summary>
public static class LibTorchLoader
{
    /// <summary>Starts loading libtorch on a thread-pool thread; returns at once.</summary>
    public static Task StartLoading() => Task.Run(() =>
    {
        try { _ = torch.get_num_threads(); }
        catch (Exception) { }   // reported by the first real use
    });
}
