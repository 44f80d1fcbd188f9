using System.Runtime.InteropServices;
using Repscope.Interop;

namespace Repscope.Tests.Interop;

/// <summary>malloc_trim works on the whole process's heap: these tests run alone, so that no other test's allocations
/// land in the holes being measured.</summary>
[CollectionDefinition("process heap", DisableParallelization = true)]
public sealed class ProcessHeapCollection;

/// <summary>ReturnFreeHeap gives back what glibc keeps of a fragmented heap (the holes between blocks that live on), which
/// is what keeps an analysis's memory from growing with the number of batches.</summary>
[Collection("process heap")]
public class NativeHeapTests
{
    [DllImport("libc", EntryPoint = "mincore")]
    private static extern int MinCore(IntPtr address, nuint length, byte[] residency);

    /// <summary>Resident and mapped pages of the page-aligned inside of [start, start + size): the pages that belong to
    /// this block alone, whatever the allocator writes at its edges. Measured on the test's own memory, so the number
    /// does not move with what other threads of the process allocate (the process's resident set does). A page no longer
    /// mapped (free() itself gave the top of the heap back) is neither.</summary>
    private static (long Resident, long Pages) InnerPages(IntPtr start, int size)
    {
        long page = Environment.SystemPageSize;
        long first = ((long)start + page - 1) / page * page, end = ((long)start + size) / page * page;
        if (end <= first) { return (0, 0); }
        var residency = new byte[(end - first) / page];
        if (MinCore((IntPtr)first, (nuint)(end - first), residency) == 0)
        {
            return (residency.Count(b => (b & 1) != 0), residency.Length);
        }
        // Part of the range is unmapped (mincore fails for the whole call): page by page.
        long resident = 0, mapped = 0;
        var one = new byte[1];
        for (long a = first; a < end; a += page)
        {
            if (MinCore((IntPtr)a, (nuint)page, one) != 0) { continue; }
            mapped++;
            if ((one[0] & 1) != 0) { resident++; }
        }
        return (resident, mapped);
    }

    private static (long Resident, long Pages) InnerPages(IntPtr[] blocks, int size)
    {
        long resident = 0, pages = 0;
        foreach (var block in blocks)
        {
            var (r, p) = InnerPages(block, size);
            resident += r;
            pages += p;
        }
        return (resident, pages);
    }

    [SkippableFact]
    public void FreedBlocksBetweenLiveOnesGoBackToTheSystem()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "glibc's malloc_trim and mincore are Linux's");
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
            var (residentBefore, pages) = InnerPages(big, size);
            bool trimmed = NativeHeap.ReturnFreeHeap();
            var (residentAfter, _) = InnerPages(big, size);
            Skip.IfNot(trimmed, "a training ran in a parallel test (the heap is kept while any training runs)");
            // Blocks are only between live ones when each pin landed right after its block: after a long run the pins can
            // come from older free chunks elsewhere, and then the freed blocks merge with the top of the heap, which free()
            // itself gives back (the case the trim is not for).
            Skip.If(pages < (long)count * (size / Environment.SystemPageSize - 1) / 2, $"only {pages} of the freed blocks' pages are still mapped after free(): they were not held between live blocks");
            // The same when free() gave most back itself (a thread's arena shrinks the top of each of its 64 MB heaps: with
            // other tests' blocks about, 1/8 of the pages went that way).
            Skip.If(residentBefore <= pages / 2, $"free() itself gave {pages - residentBefore} of {pages} freed pages back: nothing left for the trim to show");
            // About 290 MB were freed between live blocks. free() alone keeps most of them resident; the trim gives most of
            // what stayed resident back (without it nothing changes). Not all: in a thread's arena glibc trims the free
            // chunks in its bins but not the arena's top, and in the whole suite 23 % of the pages were seen to stay.
            Assert.True(residentAfter < residentBefore / 2, $"{residentAfter} of {pages} freed pages still resident after the trim ({residentBefore} before)");
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

    [SkippableFact]
    public void StatisticsCountABlockMappedOnItsOwnAndABlockFromTheHeap()
    {
        // glibc's own count (mallinfo2), printed by the analysis bench. A 64 MB block is above any mmap threshold glibc
        // allows (32 MB at most), so it is mapped on its own, unless the top of the main heap already has 64 MB free:
        // then malloc cuts it from there (seen in the whole suite, where a training test in parallel keeps up to 1 GiB
        // of freed heap). Either way glibc counts it, as mapped or as in use, and no longer after free. A 64 KB block
        // (below the lowest threshold, 128 KB) comes from the heap.
        Skip.IfNot(OperatingSystem.IsLinux(), "mallinfo2 is glibc's");
        var before = NativeHeap.Statistics();
        Skip.If(before is null, "not glibc");
        // Other tests' threads allocate and free beside this one: the counts move by a few MB between two readings, so
        // the block must show as at least 48 of its 64 MB.
        const long size = 64L << 20, seen = 48L << 20;
        var big = Marshal.AllocHGlobal((nint)size);
        var withBig = NativeHeap.Statistics()!.Value;
        Marshal.FreeHGlobal(big);
        var afterBig = NativeHeap.Statistics()!.Value;
        bool mapped = withBig.Mapped - before!.Value.Mapped >= seen;
        bool fromHeap = withBig.InUse - before.Value.InUse >= seen;
        Assert.True(mapped || fromHeap, $"a 64 MB block counted neither as mapped ({before.Value.Mapped} -> {withBig.Mapped}) nor as in use ({before.Value.InUse} -> {withBig.InUse})");
        if (mapped) { Assert.True(withBig.Mapped - afterBig.Mapped >= seen, $"mapped {withBig.Mapped} -> {afterBig.Mapped} after free"); }
        else { Assert.True(withBig.InUse - afterBig.InUse >= seen, $"in use {withBig.InUse} -> {afterBig.InUse} after free"); }
        var small = Marshal.AllocHGlobal(64 << 10);
        var withSmall = NativeHeap.Statistics()!.Value;
        Marshal.FreeHGlobal(small);
        Assert.True(withSmall.InUse >= 64L << 10 && withSmall.Heap >= withSmall.InUse, $"in use {withSmall.InUse}, heap {withSmall.Heap}");
        Assert.Equal(withSmall.Heap, withSmall.InUse + withSmall.Free);
    }
}
