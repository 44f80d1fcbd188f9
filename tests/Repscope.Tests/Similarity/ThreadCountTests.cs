using Repscope.Interop;
using Repscope.Similarity;
using TorchSharp;
using static Repscope.Tests.Similarity.SimilarityTestData;
using static TorchSharp.torch;

namespace Repscope.Tests.Similarity;

/// <summary>Setting libtorch's thread count changes the default of threads started meanwhile: these tests run alone.</summary>
[CollectionDefinition("libtorch thread count", DisableParallelization = true)]
public sealed class ThreadCountCollection;

/// <summary>
/// CKA maps do not depend on the number of threads: minibatch maps (within one model and across two, linear and RBF)
/// and whole-data maps come out bit for bit the same with libtorch set to 1, 2 and 3 threads.
/// </summary>
[Collection("libtorch thread count")]
public class ThreadCountTests
{
    /// <summary>Runs <paramref name="compute"/> on a fresh thread that has set libtorch to <paramref name="threads"/> threads.</summary>
    private static T WithThreads<T>(int threads, Func<T> compute)
    {
        T result = default!;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            int before = torch.get_num_threads();
            try
            {
                torch.set_num_threads(threads);
                Assert.Equal(threads, torch.get_num_threads());
                result = compute();
            }
            catch (Exception e) { error = e; }
            finally { torch.set_num_threads(before); }
        });
        thread.Start();
        thread.Join();
        if (error is not null) { throw new Xunit.Sdk.XunitException($"with {threads} threads: {error}"); }
        return result;
    }

    private static List<Tensor> Layers(long seed, ScalarType type, params long[] widths)
    {
        var first = torch.nn.functional.relu(Randn(seed, 300, widths[0])) + 0.5;
        return widths.Select((w, i) => (i == 0 ? first : torch.nn.functional.relu(Related(first, seed + i, w, noise: 0.8))).to_type(type)).ToList();
    }

    private static void AssertBitIdentical(CkaMatrix expected, CkaMatrix actual, string what)
    {
        for (int i = 0; i < expected.Rows.Count; i++)
        {
            for (int j = 0; j < expected.Columns.Count; j++)
            {
                Assert.True(BitConverter.DoubleToInt64Bits(expected[i, j]) == BitConverter.DoubleToInt64Bits(actual[i, j]),
                            $"{what}: [{i},{j}] {expected[i, j]:R} vs {actual[i, j]:R}");
            }
        }
    }

    [Theory]
    [InlineData(KernelKind.Linear)]
    [InlineData(KernelKind.Rbf)]
    public void MinibatchMapsAreBitIdenticalForOneTwoAndThreeThreads(KernelKind kernel)
    {
        var a = Layers(1, ScalarType.Float32, 200, 64, 130, 7, 300);
        var b = Layers(2, ScalarType.Float32, 90, 33);
        string[] an = ["a0", "a1", "a2", "a3", "a4"];
        string[] bn = ["b0", "b1"];
        var plan = new BatchPlan(300, 64, 3);   // 5 batches of 60 rows, shuffled
        (CkaMatrix Within, CkaMatrix Cross) Maps() =>
            (AllPairsCka.Minibatch(a, an, null, null, plan, kernel, 0.6, null, out _),
             AllPairsCka.Minibatch(a, an, b, bn, plan, kernel, 0.6, null, out _));
        var one = WithThreads(1, Maps);
        Assert.True(one.Within[0, 2] is > 0.05 and < 0.999, $"a0 vs a2: {one.Within[0, 2]}");   // not a map of zeros and ones
        foreach (int threads in new[] { 2, 3 })
        {
            var other = WithThreads(threads, Maps);
            AssertBitIdentical(one.Within, other.Within, $"within, {threads} threads");
            AssertBitIdentical(one.Cross, other.Cross, $"across, {threads} threads");
        }
    }

    /// <summary>
    /// With one worker the calling thread does the work: while the jobs run it computes with one libtorch thread, as every
    /// worker thread does (another thread's set_num_threads changes MKL's process-wide count), and its count is restored.
    /// </summary>
    [Fact]
    public void OneWorkerRunsItsJobsWithOneLibtorchThreadAndRestoresTheCallersCount()
    {
        var (inJob, after) = WithThreads(2, () =>
        {
            using var workers = new GramWorkers(1);
            int seen = -1;
            workers.Run(1, (_, _) => seen = torch.get_num_threads());
            return (seen, torch.get_num_threads());
        });
        Assert.Equal(1, inJob);
        Assert.Equal(2, after);
    }

    [Fact]
    public void WorkersRunLibtorchSingleThreadedAndLeaveOtherThreadsAlone()
    {
        var (inWorkers, startedMeanwhile) = WithThreads(2, () =>
        {
            using var workers = GramWorkers.ForCallingThread();
            Assert.Equal(2, workers.Count);
            var seen = new int[4];
            int later = 0;
            workers.Run(4, (i, _) =>
            {
                seen[i] = torch.get_num_threads();
                var t = new Thread(() => later = torch.get_num_threads());   // a thread started while the workers run
                t.Start();
                t.Join();
            });
            return (seen, later);
        });
        Assert.All(inWorkers, n => Assert.Equal(1, n));
        Assert.Equal(2, startedMeanwhile);
    }

    [Fact]
    public void AccumulatorAddIsBitIdenticalForOneAndTwoThreads()
    {
        var a = Layers(3, ScalarType.Float32, 150, 20);
        CkaMatrix Map()
        {
            var acc = new MinibatchCkaAccumulator(["x", "y"]);
            for (long s = 0; s < 300; s += 100) { acc.Add([a[0].narrow(0, s, 100), a[1].narrow(0, s, 100)]); }
            return acc.Result();
        }
        AssertBitIdentical(WithThreads(1, Map), WithThreads(2, Map), "accumulator, 2 threads");
    }

    [Theory]
    [InlineData(KernelKind.Linear)]
    [InlineData(KernelKind.Rbf)]
    public void WholeDataMapsAreBitIdenticalForOneAndTwoThreads(KernelKind kernel)
    {
        // Wide (features > examples) and narrow layers: both linear routes and the RBF Grams.
        var a = Layers(4, ScalarType.Float32, 400, 40, 310);
        string[] an = ["a0", "a1", "a2"];
        var options = new CkaOptions(kernel, HsicEstimator.Biased, 0.7);
        CkaMatrix Map() => AllPairsCka.WholeData(a, an, null, null, options);
        AssertBitIdentical(WithThreads(1, Map), WithThreads(2, Map), "whole data, 2 threads");
    }

    /// <summary>Runs <paramref name="compute"/> while another thread forces blocking, compacting collections and runs finalizers.</summary>
    private static T UnderGcStress<T>(Func<T> compute, out int collections)
    {
        using var stop = new ManualResetEventSlim();
        int count = 0;
        var stress = new Thread(() =>
        {
            while (!stop.IsSet)
            {
                GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                GC.WaitForPendingFinalizers();
                count++;
            }
        }) { IsBackground = true };
        stress.Start();
        try { return compute(); }
        finally
        {
            stop.Set();
            stress.Join();
            collections = count;
        }
    }

    /// <summary>
    /// The CKA engine keeps no pointer into moved managed memory and no tensor whose wrapper the collector may finalize while
    /// libtorch still uses it: with blocking, compacting collections and finalizers running all the time on another thread,
    /// minibatch maps (linear and RBF, within and across, 2 worker threads), the whole-data map, the public accumulator and
    /// the streamed heatmap of a stored .npz come out bit for bit as without.
    /// </summary>
    [Fact]
    public void MapsAreBitIdenticalUnderConstantGarbageCollection()
    {
        var a = Layers(5, ScalarType.Float32, 180, 48, 90, 300);
        var b = Layers(6, ScalarType.Float32, 70, 25);
        string[] an = ["a0", "a1", "a2", "a3"];
        string[] bn = ["b0", "b1"];
        var plan = new BatchPlan(300, 64, 11);
        string dir = Directory.CreateTempSubdirectory("repscope-gc-").FullName;
        try
        {
            string npz = Path.Combine(dir, "acts.npz");
            Npz.Write(npz, a.Select((t, i) => NdArray.FromFloat32(an[i], t.contiguous().data<float>().ToArray(), t.shape)), compress: false);
            List<CkaMatrix> Maps()
            {
                var acc = new MinibatchCkaAccumulator(["x", "y"]);
                for (long s = 0; s < 300; s += 100) { acc.Add([a[0].narrow(0, s, 100), a[2].narrow(0, s, 100)]); }
                return
                [
                    AllPairsCka.Minibatch(a, an, null, null, plan, KernelKind.Linear, 0.6, null, out _),
                    AllPairsCka.Minibatch(a, an, b, bn, plan, KernelKind.Rbf, 0.6, null, out _),
                    AllPairsCka.WholeData(a, an, null, null, new CkaOptions(KernelKind.Rbf, HsicEstimator.Unbiased, 0.6)),
                    acc.Result(),
                    CkaFiles.Heatmap(new CkaHeatmapRequest(npz, null, BatchSize: 64, ShuffleSeed: 4)).Matrix,
                ];
            }
            var quiet = WithThreads(2, Maps);
            int collections = 0;
            var stressed = WithThreads(2, () => UnderGcStress(Maps, out collections));
            Assert.True(collections >= 5, $"only {collections} collections ran during the computation");
            string[] what = ["minibatch linear within", "minibatch RBF across", "whole-data RBF unbiased", "accumulator", "streamed heatmap"];
            for (int m = 0; m < quiet.Count; m++) { AssertBitIdentical(quiet[m], stressed[m], what[m]); }
            Assert.True(quiet[0][0, 2] is > 0.05 and < 0.999, $"a0 vs a2: {quiet[0][0, 2]}");   // not a map of zeros and ones
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
