using Repscope.Analysis;
using Repscope.Models;
using Repscope.Similarity;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Tests.Models;

/// <summary>Activations.Stream copies each batch's taps into buffers kept from batch to batch and pass to pass (issue 14's
/// analyses memory); the taps and every CKA map must be what a plain capture of the module outputs gives, bit for bit.</summary>
public class TapBuffersTests
{
    /// <summary>The taps of <paramref name="set"/> per batch, each module output flattened and cloned by hooks of its own:
    /// the capture Stream did before it kept buffers (a second formulation).</summary>
    private static List<List<Tensor>> PlainCapture(ResNet model, Repscope.Data.ImageDataset data, int batch, TapSet set)
    {
        var names = model.TapNames(set);
        var current = new Tensor?[names.Count];
        var hooks = new List<Action>();
        for (int i = 0; i < names.Count; i++)
        {
            int slot = i;
            hooks.Add(model.TapModule(names[i]).register_forward_hook((_, _, output) =>
            {
                current[slot] = output.detach().flatten(1).clone().DetachFromDisposeScope();
                return output;
            }).remove);
        }
        var batches = new List<List<Tensor>>();
        model.eval();
        using (no_grad())
        {
            for (long s = 0; s < data.Count; s += batch)
            {
                using var scope = NewDisposeScope();
                using var logits = model.call(data.Images[TensorIndex.Slice(s, Math.Min(s + batch, data.Count))]);
                batches.Add(current.Select(t => t!).ToList());
            }
        }
        foreach (var remove in hooks) { remove(); }
        return batches;
    }

    [Theory]
    [InlineData(TapSet.All, 4)]
    [InlineData(TapSet.Branches, 3)]
    public void StreamedTapsEqualAPlainCaptureBitForBitOverReusedBuffers(TapSet set, int batch)
    {
        using var model = ResNet.Cifar(8, 1, true, 10, 3);
        model.Initialise(new Generator(3));
        using var data = ResNetTests.RandomData(10, 3, 12);   // 10 examples: the last batch is short
        var reference = PlainCapture(model, data, batch, set);
        var names = model.TapNames(set);
        using var buffers = new TapBuffers();
        long bytes = -1;
        IntPtr[]? storage = null;
        for (int pass = 0; pass < 2; pass++)
        {
            int k = 0;
            Activations.Stream(model, data, batch, set, (labels, taps) =>
            {
                Assert.Equal(names.Count, taps.Count);
                for (int i = 0; i < taps.Count; i++)
                {
                    Assert.True(taps[i].is_contiguous());
                    Assert.Equal(reference[k][i].shape, taps[i].shape);
                    Assert.True(taps[i].equal(reference[k][i]).all().item<bool>(), $"pass {pass + 1}, batch {k + 1}, tap {names[i]}");
                }
                k++;
            }, buffers: buffers);
            Assert.Equal(reference.Count, k);
            // The second pass reuses the first pass's memory: the same bytes at the same addresses. The buffers lie in one
            // block made before the first batch, one after another in tap order (out of the C heap's way).
            var now = names.Select(n => buffers.Address(n)).ToArray();
            Assert.True(buffers.InOneBlock);
            for (int i = 1; i < names.Count; i++)
            {
                Assert.Equal(now[i - 1] + (nint)(reference[0][i - 1].shape[1] * Math.Min(batch, 10L) * sizeof(float)), now[i]);
            }
            if (storage is not null) { Assert.Equal(storage, now); Assert.Equal(bytes, buffers.Bytes); }
            storage = now;
            bytes = buffers.Bytes;
        }
        Assert.Equal(reference[0].Sum(t => t.shape[1]) * Math.Min(batch, 10L) * sizeof(float), bytes);
        foreach (var b in reference) { foreach (var t in b) { t.Dispose(); } }
    }

    [Fact]
    public void TheWithinModelCkaMapIsThePlainCapturesBitForBit()
    {
        using var model = ResNet.Cifar(8, 1, true, 10, 3);
        model.Initialise(new Generator(5));
        using var data = ResNetTests.RandomData(21, 3, 10, seed: 2);
        var names = model.TapNames(TapSet.Branches);
        var reference = PlainCapture(model, data, 8, TapSet.Branches);
        var expected = new MinibatchCkaAccumulator(names);
        foreach (var b in reference) { expected.Add(b); }
        using var buffers = new TapBuffers();
        var r = LayerSimilarity.WithinModel(names, [b => Activations.Stream(model, data, 8, TapSet.Branches, b, buffers: buffers)]);
        Assert.Equal(expected.Result().Values, r.Cka.Values);
        Assert.Equal(3, r.Batches);
        foreach (var b in reference) { foreach (var t in b) { t.Dispose(); } }
    }

    [Fact]
    public void BuffersHeldByOneStreamAreNotTakenByASecond()
    {
        using var model = ResNet.Cifar(8, 1, true, 10, 3);
        using var other = ResNet.Cifar(8, 1, true, 10, 3);
        model.Initialise(new Generator(1));
        other.Initialise(new Generator(2));
        using var data = ResNetTests.RandomData(4, 3, 8);
        var outer = PlainCapture(model, data, 4, TapSet.Blocks);
        var inner = PlainCapture(other, data, 4, TapSet.Blocks);
        using var buffers = new TapBuffers();
        bool ran = false;
        Activations.Stream(model, data, 4, TapSet.Blocks, (_, a) =>
        {
            // A stream nested in another (compare's paired pass) with the same buffers gets its own: a's taps stay intact.
            Activations.Stream(other, data, 4, TapSet.Blocks, (_, b) =>
            {
                for (int i = 0; i < a.Count; i++) { Assert.Equal(inner[0][i].shape, b[i].shape); Assert.True(b[i].equal(inner[0][i]).all().item<bool>()); }
            }, buffers: buffers);
            for (int i = 0; i < a.Count; i++) { Assert.Equal(outer[0][i].shape, a[i].shape); Assert.True(a[i].equal(outer[0][i]).all().item<bool>()); }
            ran = true;
        }, buffers: buffers);
        Assert.True(ran);
    }
}
