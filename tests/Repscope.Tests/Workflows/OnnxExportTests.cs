using Repscope.Interop;
using Repscope.Interop.Onnx;
using Repscope.Models;
using Repscope.Tests.Models;
using Repscope.Workflows;

namespace Repscope.Tests.Workflows;

/// <summary>`export` of an ONNX model streams: the values of the PyTorch reference, without holding the activations.</summary>
public sealed class OnnxExportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("repscope-onnx-export-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void ExportOfManyExamplesHasThePyTorchValuesAndAllocatesFarLessThanTheActivations()
    {
        const int repeats = 400;   // the fixture's 24 examples, 400 times: 9,600 examples, about 79 MB of float32 taps
        var graph = OnnxGraph.Read(OnnxFixtures.ModelPath("cnn"));
        var taps = OnnxFixtures.Taps("cnn");
        var expected = OnnxFixtures.Expected("cnn");
        var one = OnnxFixtures.Inputs("cnn").Arrays[graph.Inputs[0].Name];
        var rows = Enumerable.Range(0, (int)one.Rows * repeats).Select(i => OnnxInputs.Slice1(one, i % one.Rows)).ToList();
        var inputs = OnnxInputs.Bind(graph, new Dictionary<string, NdArray> { [graph.Inputs[0].Name] = OnnxInputs.Stack(one.Name, rows) });
        rows.Clear();
        long activationBytes = inputs.Examples * expected.Sum(e => e.FeaturesPerRow) * sizeof(float);

        using var source = new OnnxSource(OnnxModel.Open(graph.Path, taps), inputs, defaultTaps: false);
        string npz = Path.Combine(_dir, "acts.npz");
        long before = GC.GetAllocatedBytesForCurrentThread();
        var written = ExportWorkflow.Run(source, npz, batchSize: 256);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // Before streaming, export allocated the activations twice over in managed arrays (per-batch copies, then one
        // array per tap); now only buffers (zip, file streams) and per-batch bookkeeping.
        Assert.True(allocated < activationBytes / 10, $"allocated {allocated:N0} bytes for {activationBytes:N0} bytes of activations");
        Assert.Equal(inputs.Examples, written.Result.Examples);
        var members = ExportWorkflow.MemberNames(taps);
        int t = 0;
        foreach (var array in Npz.Enumerate(npz))
        {
            Assert.Equal(members[t], array.Name);
            Assert.Equal([inputs.Examples, .. expected[t].Shape[1..]], array.Shape);
            float[] want = expected[t].ToFloat32(), got = array.ToFloat32();
            double worst = 0;
            for (long k = 0; k < got.LongLength; k++) { worst = Math.Max(worst, Math.Abs(got[k] - want[k % want.LongLength])); }
            Assert.True(worst < 1e-4, $"{taps[t]}: max |difference| {worst}");
            t++;
        }
        Assert.Equal(taps.Count, t);
        Assert.Equal(["acts.json", "acts.npz"], Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void UncompressedExportStoresTheSameArraysAsTheDeflatedOne()
    {
        var graph = OnnxGraph.Read(OnnxFixtures.ModelPath("cnn"));
        var taps = OnnxFixtures.Taps("cnn");
        string deflated = Path.Combine(_dir, "deflated.npz"), stored = Path.Combine(_dir, "stored.npz");
        using (var source = new OnnxSource(OnnxModel.Open(graph.Path, taps), OnnxFixtures.Inputs("cnn"), defaultTaps: false))
        {
            ExportWorkflow.Run(source, deflated, batchSize: 7);
        }
        using (var source = new OnnxSource(OnnxModel.Open(graph.Path, taps), OnnxFixtures.Inputs("cnn"), defaultTaps: false))
        {
            ExportWorkflow.Run(source, stored, batchSize: 7, compress: false);
        }
        using (var zip = System.IO.Compression.ZipFile.OpenRead(stored))
        {
            Assert.All(zip.Entries, e => Assert.Equal(e.Length, e.CompressedLength));   // stored, as np.savez writes
        }
        using (var zip = System.IO.Compression.ZipFile.OpenRead(deflated))
        {
            Assert.All(zip.Entries, e => Assert.True(e.CompressedLength < e.Length, $"{e.FullName} deflated"));
        }
        var a = Npz.Enumerate(deflated).ToList();
        var b = Npz.Enumerate(stored).ToList();
        Assert.Equal(a.Select(x => x.Name), b.Select(x => x.Name));
        for (int i = 0; i < a.Count; i++)
        {
            Assert.Equal(a[i].Shape, b[i].Shape);
            Assert.Equal(a[i].ToFloat32(), b[i].ToFloat32());
        }
    }
}
