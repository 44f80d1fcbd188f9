using System.Runtime.InteropServices;
using Repscope.Interop;

namespace Repscope.Tests.Interop;

/// <summary>ReturnFreeHeap gives back what glibc keeps of a fragmented heap (the holes between blocks that live on), which
/// is what keeps an analysis's memory from growing with the number of batches.</summary>
public class NativeHeapTests
{
    [SkippableFact]
    public void FreedBlocksBetweenLiveOnesGoBackToTheSystem()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "glibc and /proc/self/statm are Linux's");
        const int count = 3000, size = 100 << 10;   // 100 KB: under glibc's mmap threshold, so from the heap
        var ones = Enumerable.Repeat((byte)1, size).ToArray();
        var big = new IntPtr[count];
        var pins = new IntPtr[count];
        for (int i = 0; i < count; i++)
        {
            big[i] = Marshal.AllocHGlobal(size);            // malloc
            Marshal.Copy(ones, 0, big[i], size);             // resident
            pins[i] = Marshal.AllocHGlobal(64);              // a small block that lives on, right after it
        }
        for (int i = 0; i < count; i++) { Marshal.FreeHGlobal(big[i]); }
        try
        {
            long before = NativeHeap.ResidentBytes();
            bool trimmed = NativeHeap.ReturnFreeHeap();
            long after = NativeHeap.ResidentBytes();
            Skip.IfNot(trimmed, "a training ran in a parallel test (the heap is kept while any training runs)");
            // 293 MB were freed between live blocks: free() alone keeps them resident, the trim gives most of them back.
            Assert.True(before - after > 200L << 20, $"resident {before >> 20} MiB before, {after >> 20} MiB after");
        }
        finally
        {
            foreach (var p in pins) { Marshal.FreeHGlobal(p); }
        }
    }

    [Fact]
    public void NothingIsGivenBackWhileATrainingRuns()
    {
        NativeHeap.KeepFreedBlocksForReuse();
        try { Assert.False(NativeHeap.ReturnFreeHeap()); }
        finally { NativeHeap.EndTraining(); }
    }
}
