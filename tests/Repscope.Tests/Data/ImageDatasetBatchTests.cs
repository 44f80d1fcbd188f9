using Repscope.Data;
using Repscope.Models;
using Repscope.Tests.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Tests.Data;

/// <summary>A stream normalises each batch from the raw bytes (issue 14: the examples are not all held as float32); the
/// values must be those of the whole data set normalised at once, bit for bit.</summary>
public class ImageDatasetBatchTests
{
    private static int[] Bits(Tensor t) => t.contiguous().data<float>().ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();

    [Theory]
    [InlineData(3, 0, 37)]      // all of them
    [InlineData(3, 5, 6)]       // one example
    [InlineData(3, 11, 30)]     // an odd count from an odd start
    [InlineData(1, 2, 19)]
    public void BatchesFromTheRawBytesEqualTheWholeSetNormalisedBitForBit(int channels, int start, int end)
    {
        using var streamed = ResNetTests.RandomData(37, channels, 9, seed: 4);
        using var whole = ResNetTests.RandomData(37, channels, 9, seed: 4);
        using var scope = NewDisposeScope();
        var batch = streamed.Batch(start, end);
        Assert.False(streamed.HoldsImages);
        Assert.Equal(new long[] { end - start, channels, 9, 9 }, batch.shape);
        var expected = whole.Images[TensorIndex.Slice(start, end)];
        Assert.Equal(Bits(expected), Bits(batch));
        Assert.True(expected.abs().max().item<float>() > 0.5f);   // normalised values, not zeros
        // Once the whole set is made, a batch is a view of it: the same values.
        Assert.Equal(Bits(expected), Bits(whole.Batch(start, end)));
    }

    [Fact]
    public void AStreamDoesNotHoldTheWholeSetAsFloat32()
    {
        using var model = ResNet.Cifar(8, 1, true, 10, 3);
        model.Initialise(new Generator(3));
        using var data = ResNetTests.RandomData(10, 3, 12);
        int batches = 0;
        Activations.Stream(model, data, 4, TapSet.Blocks, (_, taps) => batches++);
        Assert.Equal(3, batches);
        Assert.False(data.HoldsImages);
    }

    [Fact]
    public void RowsOutsideTheSetAreAnError()
    {
        using var data = ResNetTests.RandomData(5, 3, 4);
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Batch(3, 6));
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Batch(-1, 2));
    }
}
