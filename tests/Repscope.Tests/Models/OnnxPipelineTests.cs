using Repscope.Interop;
using Repscope.Interop.Onnx;
using Repscope.Models;
using Repscope.Similarity;
using TorchSharp;

namespace Repscope.Tests.Models;

/// <summary>
/// The pipelined ONNX path (ONNX Runtime one batch ahead on a thread of its own, two sets of output buffers) against the
/// batch-by-batch one: the same tensors bit for bit, in the same order, on the calling thread; errors and early exits.
/// </summary>
public class OnnxPipelineTests
{
    [Theory]
    [InlineData("cnn", 7)]            // 4 batches, the last one short: 3 of them pipelined
    [InlineData("cnn", 4)]
    [InlineData("transformer", 10)]   // two int64 inputs
    [InlineData("cast_inputs", 2)]    // float16 and int32 inputs
    [InlineData("tokens_first", 5)]   // [tokens, batch, d] taps, delivered examples first (one copy each)
    public void PipelinedStreamDeliversTheSameTensorsInTheSameOrderOnTheCallingThread(string key, int batchSize)
    {
        var (sequentialStarts, sequential) = Collect(key, batchSize, pipelined: false, out long notPipelined);
        var (pipelinedStarts, pipelinedValues) = Collect(key, batchSize, pipelined: true, out long pipelinedBatches);
        Assert.Equal(0, notPipelined);
        long batches = (OnnxFixtures.Inputs(key).Examples + batchSize - 1) / batchSize;
        Assert.Equal(batches - 1, pipelinedBatches);   // all but the first, which teaches the taps' shapes
        Assert.Equal(sequentialStarts, pipelinedStarts);
        Assert.Equal(sequential.Count, pipelinedValues.Count);
        for (int i = 0; i < sequential.Count; i++) { Assert.Equal(sequential[i], pipelinedValues[i]); }   // bit for bit
    }

    private static (List<long> Starts, List<float[]> Values) Collect(string key, int batchSize, bool pipelined, out long pipelinedBatches)
    {
        using var model = OnnxModel.Open(OnnxFixtures.ModelPath(key), OnnxFixtures.Taps(key), pipelined, sessionThreads: 1);
        Assert.Equal(pipelined, model.Pipelined);
        var starts = new List<long>();
        var values = new List<float[]>();
        int caller = Environment.CurrentManagedThreadId;
        model.Stream(OnnxFixtures.Inputs(key), batchSize, (start, taps) =>
        {
            Assert.Equal(caller, Environment.CurrentManagedThreadId);
            starts.Add(start);
            values.AddRange(taps.Select(t => t.contiguous().data<float>().ToArray()));
        });
        pipelinedBatches = model.PipelinedBatches;
        return (starts, values);
    }

    [Fact]
    public void PipelinedCkaMapEqualsTheBatchByBatchOneExactly()
    {
        double[,] Map(bool pipelined)
        {
            var taps = OnnxFixtures.Taps("transformer");
            using var source = new OnnxSource(OnnxModel.Open(OnnxFixtures.ModelPath("transformer"), taps, pipelined, sessionThreads: 1),
                                              OnnxFixtures.Inputs("transformer"), defaultTaps: false);
            var accumulator = new MinibatchCkaAccumulator(taps);
            source.Pass(0, source.Examples, 8, ProgressReporter.None)((_, batch) => accumulator.Add(batch));
            return accumulator.Result().Values;
        }
        var sequential = Map(false);
        var pipelined = Map(true);
        Assert.Equal(sequential, pipelined);
        // And the map is the numpy reference's (as `repscope layers` checks with its own tolerance).
        var reference = OnnxFixtures.Matrix("transformer", "cka");
        for (int i = 0; i < reference.GetLength(0); i++)
        {
            for (int j = 0; j < reference.GetLength(1); j++) { Assert.InRange(pipelined[i, j] - reference[i, j], -1e-4, 1e-4); }
        }
    }

    [Fact]
    public void ACallbackThatThrowsStopsThePipelineAndTheModelStreamsAgain()
    {
        using var model = OnnxModel.Open(OnnxFixtures.ModelPath("cnn"), OnnxFixtures.Taps("cnn"), pipelined: true, sessionThreads: 1);
        var inputs = OnnxFixtures.Inputs("cnn");
        var first = new List<float[]>();
        var e = Assert.Throws<InvalidOperationException>(() => model.Stream(inputs, 4, (start, taps) =>
        {
            first.Add(taps[0].contiguous().data<float>().ToArray());
            if (start == 8) { throw new InvalidOperationException("stop here"); }
        }));
        Assert.Equal("stop here", e.Message);
        Assert.Equal(3, first.Count);
        // A second pass over the same buffers delivers the same values from the start.
        var second = new List<float[]>();
        model.Stream(inputs, 4, (_, taps) => second.Add(taps[0].contiguous().data<float>().ToArray()));
        Assert.Equal(6, second.Count);
        for (int i = 0; i < first.Count; i++) { Assert.Equal(first[i], second[i]); }
    }

    [Fact]
    public void AnOnnxRuntimeFailureInAPipelinedBatchIsOneLineNamingTheExamples()
    {
        // Token ids far outside the embedding's vocabulary in example 17 only: ONNX Runtime's Gather fails on the third batch.
        var graph = OnnxGraph.Read(OnnxFixtures.ModelPath("transformer"));
        var inputs = OnnxFixtures.Inputs("transformer");
        var ids = inputs.Arrays["input_ids"];
        long[] bad = ids.ToInt64();
        bad[17 * ids.FeaturesPerRow] = 1_000_000;
        var arrays = inputs.Arrays.ToDictionary(kv => kv.Key, kv => kv.Value);
        arrays["input_ids"] = NdArray.FromInt64(ids.Name, bad, ids.Shape);
        using var model = OnnxModel.Open(graph.Path, OnnxFixtures.Taps("transformer"), pipelined: true, sessionThreads: 1);
        var delivered = new List<long>();
        var e = Assert.Throws<RepscopeException>(() => model.Stream(OnnxInputs.Bind(graph, arrays), 8, (start, _) => delivered.Add(start)));
        Assert.StartsWith($"{graph.Path}: ONNX Runtime failed on examples 16..23: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal([0L, 8L], delivered);
    }

    [Fact]
    public void TheThreadCountChoosesThePipeline()
    {
        string path = OnnxFixtures.ModelPath("cnn");
        var taps = OnnxFixtures.Taps("cnn");
        using (var one = OnnxModel.Open(path, taps, threads: 1)) { Assert.False(one.Pipelined); }
        using (var two = OnnxModel.Open(path, taps, threads: 2)) { Assert.True(two.Pipelined); }
        using (var byDefault = OnnxModel.Open(path, taps)) { Assert.Equal(torch.get_num_threads() >= 2, byDefault.Pipelined); }
        Assert.Equal(2, OnnxModel.PipelineSessionThreads(2));
    }
}
