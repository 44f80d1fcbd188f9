namespace Repscope.Cli;

/// <summary>
/// Ends the process as soon as a command has returned. A normal exit runs the runtime's shutdown and then the C++ static
/// destructors of every native library loaded, libtorch's among them: 0.15-0.2 s on the 2-core machine, after all the
/// work is written, and paid by every script that calls `cka` or `heatmap` in a loop. Nothing of Repscope's needs them:
/// every file is written and closed (atomically) before the command returns, locks on run folders are released by the
/// kernel, and no handler is registered for the process's exit. So after flushing stdout and stderr the process ends
/// with <c>_exit</c>. REPSCOPE_FULL_EXIT=1 keeps the normal exit (for tools that need the runtime's shutdown, such as
/// profilers that write at exit).
/// </summary>
internal static partial class ProcessExit
{
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "_exit")]
    private static partial void ExitNow(int status);

    /// <summary>Flushes the console and ends the process with <paramref name="code"/> (Linux); elsewhere returns it.</summary>
    public static int End(int code)
    {
        Console.Out.Flush();
        Console.Error.Flush();
        if (OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable("REPSCOPE_FULL_EXIT") != "1") { ExitNow(code); }
        return code;
    }
}
