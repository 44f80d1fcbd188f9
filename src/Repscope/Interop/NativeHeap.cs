namespace Repscope.Interop;

/// <summary>
/// How glibc's allocator treats the blocks libtorch frees (tensor storage comes from malloc). Two policies,
/// process-wide, each chosen by the work that runs:
/// <list type="bullet">
/// <item><see cref="KeepFreedBlocksForReuse"/> (training): a training step allocates and frees the same
/// activations every step, from a few MB (ResNet-8) to hundreds of MB in all (ResNet-56). By default glibc serves
/// blocks above its mmap threshold with a fresh mmap and trims the top of the heap when it is freed, so every step
/// faults its memory in again: on the 2-core machine 30-45 ms of kernel time per ResNet-8 step (about 15 % of the
/// step), against 1-2 ms with this policy (bench/README.md).</item>
/// <item><see cref="ReturnLargeBlocksToTheSystem"/> (CKA over files): glibc raises its mmap threshold each time a
/// large block is freed, after which blocks of several MB come from the heap and the freed space is kept; over a
/// long minibatch loop the process grows by about 100 MB. A fixed 1 MB threshold returns large blocks at once.</item>
/// </list>
/// Neither changes a single number: only where memory comes from.
/// </summary>
public static partial class NativeHeap
{
    private const int TrimThreshold = -1; // M_TRIM_THRESHOLD in malloc.h
    private const int MmapThreshold = -3; // M_MMAP_THRESHOLD
    private const int LargestMmapThreshold = 32 << 20; // glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit: mallopt refuses more

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int MallOpt(int parameter, int value);

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    private static readonly Lock Gate = new();
    private static int _training;

    /// <summary>Blocks up to 32 MB come from the heap, and up to 1 GiB of free heap is kept for the next step. Holds
    /// until as many <see cref="EndTraining"/> calls as calls of this: while any training runs in the process (reproduce
    /// trains and analyses on several threads at once), <see cref="ReturnLargeBlocksToTheSystem"/> leaves it in place.</summary>
    public static void KeepFreedBlocksForReuse()
    {
        lock (Gate)
        {
            _training++;
            Glibc(() =>
            {
                MallOpt(MmapThreshold, LargestMmapThreshold);
                MallOpt(TrimThreshold, 1 << 30);
            });
        }
    }

    /// <summary>Ends one <see cref="KeepFreedBlocksForReuse"/>; after the last, gives the free heap back to the system.</summary>
    public static void EndTraining()
    {
        lock (Gate)
        {
            _training = Math.Max(0, _training - 1);
            if (_training == 0) { Glibc(() => MallocTrim(0)); }
        }
    }

    /// <summary>Blocks of 1 MB and more are mapped on their own and unmapped when freed (unless a training runs).</summary>
    public static void ReturnLargeBlocksToTheSystem()
    {
        lock (Gate)
        {
            if (_training == 0) { Glibc(() => MallOpt(MmapThreshold, 1 << 20)); }
        }
    }

    /// <summary>How many times <see cref="ReturnFreeHeap"/> gave memory back in this process (for benchmarks).</summary>
    public static int Trims { get; private set; }

    /// <summary>The process's resident set in bytes (Linux: /proc/self/statm), or -1 where unknown.</summary>
    public static long ResidentBytes()
    {
        if (!OperatingSystem.IsLinux()) { return -1; }
        try
        {
            var fields = File.ReadAllText("/proc/self/statm").Split(' ');
            return long.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture) * Environment.SystemPageSize;
        }
        catch (IOException) { return -1; }
        catch (FormatException) { return -1; }
    }

    /// <summary>
    /// Gives the free pages of the C heap back to the system (malloc_trim), unless a training runs
    /// (<see cref="KeepFreedBlocksForReuse"/>); true when it did. For streams whose batches free blocks of many sizes
    /// between blocks that live on (an analysis's state): glibc's heap keeps every hole, and the process would grow with
    /// the number of batches. Pages given back are faulted in again when next used, so call it when the process has
    /// grown past a bound, not every batch.
    /// </summary>
    public static bool ReturnFreeHeap()
    {
        bool trimmed = false;
        lock (Gate)
        {
            if (_training == 0)
            {
                Glibc(() => { MallocTrim(0); trimmed = true; Trims++; });
            }
        }
        return trimmed;
    }

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct MallInfo2
    {
        public nuint Arena, OrdBlks, SmBlks, HBlks, HBlkHd, UsmBlks, FsmBlks, UordBlks, FordBlks, KeepCost;
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "mallinfo2")]
    private static partial MallInfo2 MallInfo();

    /// <summary>
    /// The C heap as glibc counts it (mallinfo2, glibc 2.33+; main arena and the others together), for benchmarks:
    /// <paramref name="Heap"/> bytes obtained with brk/sbrk or arena mmaps, <paramref name="InUse"/> of them allocated,
    /// <paramref name="Free"/> of them free (resident or not), <paramref name="Mapped"/> bytes in blocks mapped on their
    /// own (above the mmap threshold). Null where unknown (not glibc).
    /// </summary>
    public readonly record struct HeapStatistics(long Heap, long InUse, long Free, long Mapped);

    /// <summary>glibc's count of the C heap now (<see cref="HeapStatistics"/>), or null where unknown.</summary>
    public static HeapStatistics? Statistics()
    {
        HeapStatistics? result = null;
        Glibc(() =>
        {
            var m = MallInfo();
            result = new HeapStatistics((long)m.Arena, (long)m.UordBlks, (long)m.FordBlks, (long)m.HBlkHd);
        });
        return result;
    }

    private static void Glibc(Action call)
    {
        if (!OperatingSystem.IsLinux()) { return; }
        try { call(); }
        catch (EntryPointNotFoundException) { } // not glibc (e.g. musl): nothing to tune
        catch (DllNotFoundException) { }
    }
}
