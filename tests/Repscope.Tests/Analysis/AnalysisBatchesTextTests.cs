using Repscope.Analysis;

namespace Repscope.Tests.Analysis;

/// <summary>The analyses' summary line says the minibatches as they were: the last one shorter, or left out.</summary>
public class AnalysisBatchesTextTests
{
    [Theory]
    [InlineData(2048, 256, 8, "8 batches of 256")]
    [InlineData(300, 256, 2, "1 batch of 256 and 1 of 44")]
    [InlineData(10000, 256, 40, "39 batches of 256 and 1 of 16")]
    [InlineData(1026, 256, 4, "4 batches of 256; the last 2 left out")]
    [InlineData(200, 256, 1, "1 batch of 200")]
    public void TheLastBatchIsNamed(long examples, int batchSize, int batches, string text) =>
        Assert.Equal(text, AnalysisText.Batches(examples, batchSize, batches));
}
