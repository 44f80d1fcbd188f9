using Repscope.Interop.Onnx;
using Repscope.Models;
using TorchSharp;

namespace Repscope.Tests.Models;

/// <summary>ONNX Runtime activations against the PyTorch forward pass that made the fixtures.</summary>
public class OnnxModelTests
{
    [Theory]
    [InlineData("cnn", 7)]            // dynamic batch, opset 13, batches of 7 (the last one short)
    [InlineData("cnn_b", 24)]         // old opset (9), one batch
    [InlineData("cnn_batch1", 5)]     // fixed batch dimension of 1: one example at a time, stacked
    [InlineData("cnn_names", 8)]      // tap names with '/', ':' and dots
    [InlineData("transformer", 10)]   // token ids and attention mask (int64), post-norm encoder, opset 17
    [InlineData("cast_inputs", 3)]    // float16 and int32 inputs
    [InlineData("tokens_first", 8)]   // [tokens, batch, d] with as many tokens as examples: the inferred shapes tell the examples' dimension
    [InlineData("tokens_first", 5)]   // the same, batches of 5 (the last one short), delivered examples first
    public void ActivationsMatchThePyTorchForwardPass(string key, int batchSize)
    {
        // Batch by batch and pipelined (ONNX Runtime one batch ahead on a thread of its own).
        foreach (bool pipelined in new[] { false, true })
        {
            using var model = OnnxModel.Open(OnnxFixtures.ModelPath(key), OnnxFixtures.Taps(key), pipelined, sessionThreads: 1);
            AssertPyTorchActivations(key, batchSize, model);
        }
    }

    private static void AssertPyTorchActivations(string key, int batchSize, OnnxModel model)
    {
        var taps = OnnxFixtures.Taps(key);
        var expected = OnnxFixtures.Expected(key);
        var inputs = OnnxFixtures.Inputs(key);
        var got = taps.Select(_ => new List<float>()).ToArray();
        var shapes = new long[taps.Count][];
        long next = 0;
        model.Stream(inputs, batchSize, (start, batch) =>
        {
            Assert.Equal(next, start);
            next += batch[0].shape[0];
            for (int i = 0; i < taps.Count; i++)
            {
                shapes[i] = batch[i].shape;
                got[i].AddRange(batch[i].contiguous().data<float>().ToArray());
            }
        });
        Assert.Equal(inputs.Examples, next);
        for (int i = 0; i < taps.Count; i++)
        {
            var want = expected[i].ToFloat32();
            Assert.Equal(expected[i].Shape[1..], shapes[i][1..]);
            Assert.Equal(want.Length, got[i].Count);
            double scale = want.Max(v => Math.Abs(v));
            double worst = want.Zip(got[i], (a, b) => Math.Abs(a - b)).Max();
            Assert.True(worst <= 1e-4 * Math.Max(1, scale), $"{key} tap '{taps[i]}': largest difference {worst:E2} (values up to {scale:F2})");
        }
    }

    [Theory]
    [InlineData("cnn")]
    [InlineData("cnn_b")]
    [InlineData("cnn_names")]
    [InlineData("transformer")]
    [InlineData("cast_inputs")]
    public void DefaultTapsFollowTheResidualRule(string key)
    {
        var graph = OnnxGraph.Read(OnnxFixtures.ModelPath(key));
        Assert.Equal(OnnxFixtures.DefaultTaps(key), OnnxModel.DefaultTaps(graph));
    }

    [Fact]
    public void TensorsAreListedInGraphOrderWithTypesAndShapes()
    {
        var graph = OnnxGraph.Read(OnnxFixtures.ModelPath("cnn"));
        var tensors = OnnxModel.Describe(graph);
        Assert.Equal(graph.Tensors.Select(t => t.Name), tensors.Select(t => t.Name));
        var block2 = tensors.Single(t => t.Name == "/block2/relu2/Relu_output_0");
        Assert.Equal("Relu", block2.OpType);
        Assert.Equal("float32", block2.ElementType);
        Assert.Equal(["16", "4", "4"], block2.Shape!.Skip(1));
        Assert.Equal("logits", tensors[^1].Name);
        // Graph order: every tap of the fixture comes after the one before it.
        var index = tensors.ToDictionary(t => t.Name, t => t.Index);
        var taps = OnnxFixtures.Taps("cnn");
        Assert.True(taps.Zip(taps.Skip(1), (a, b) => index[a] < index[b]).All(x => x));
    }
}
