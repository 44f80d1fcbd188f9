using Repscope.Data;
using Repscope.Interop.Onnx;
using Repscope.Models;
using Repscope.Tests.Models;

namespace Repscope.Tests.Data;

/// <summary>--data preprocessing for ONNX image models: values worked out by hand.</summary>
public class ImagePreprocessingTests
{
    private static RawImages Image(byte[] pixels, int channels, int h, int w) => new(pixels, [0], channels, h, w);

    [Fact]
    public void BilinearResizeMatchesTheHandComputedValues()
    {
        // 2x2 -> 4x4, corners not aligned: source coordinates (-0.25, 0.25, 0.75, 1.25) clamped to the edge.
        using var x = new ImagePreprocessing(4, 4, Scale: 1).Apply(Image([0, 1, 2, 3], 1, 2, 2));
        var v = x.data<float>().ToArray();
        Assert.Equal([0f, 0.25f, 0.75f, 1f], v[0..4]);
        Assert.Equal([0.5f, 0.75f, 1.25f, 1.5f], v[4..8]);
        Assert.Equal([2f, 2.25f, 2.75f, 3f], v[12..16]);
    }

    [Fact]
    public void ScaleThenMeanAndStdPerChannel()
    {
        // One 1x1 RGB pixel (51, 102, 255): /255 -> (0.2, 0.4, 1.0); minus (0.1, 0.2, 0.5), over (0.5, 0.5, 0.25).
        using var x = new ImagePreprocessing(Mean: [0.1, 0.2, 0.5], Std: [0.5, 0.5, 0.25]).Apply(Image([51, 102, 255], 3, 1, 1));
        var v = x.data<float>().ToArray();
        Assert.Equal(0.2, v[0], 5);
        Assert.Equal(0.4, v[1], 5);
        Assert.Equal(2.0, v[2], 5);
    }

    [Fact]
    public void ChannelConversionRepeatsGreyAndAveragesColour()
    {
        using var grey = new ImagePreprocessing(Channels: 3, Scale: 1).Apply(Image([7], 1, 1, 1));
        Assert.Equal([7f, 7f, 7f], grey.data<float>().ToArray());
        using var colour = new ImagePreprocessing(Channels: 1, Scale: 1).Apply(Image([3, 6, 12], 3, 1, 1));
        Assert.Equal([7f], colour.data<float>().ToArray());
    }

    [Fact]
    public void BadSettingsNameTheOption()
    {
        Assert.Contains("std", Assert.Throws<RepscopeException>(() => new ImagePreprocessing(Std: [0]).Validate()).Message);
        Assert.Contains("channels", Assert.Throws<RepscopeException>(() => new ImagePreprocessing(Channels: 2).Validate()).Message);
        Assert.Contains("mean: give 1 or 3 values", Assert.Throws<RepscopeException>(() => new ImagePreprocessing(Mean: [0, 1]).Apply(Image([1, 2, 3], 3, 1, 1))).Message);
    }

    [Fact]
    public void DataSetInputsTakeTheModelsFixedSizeAndChannels()
    {
        // cnn.onnx takes [batch, 1, 8, 8]: Fashion-MNIST's 28x28 images are resized to 8x8 without being told.
        var graph = OnnxGraph.Read(OnnxFixtures.ModelPath("cnn"));
        var inputs = OnnxInputs.Resolve(graph, new OnnxInputSpec(Data: new DataSpec { Name = DataName.FashionMnistSmall }, Examples: 6));
        Assert.Equal(6, inputs.Examples);
        Assert.Equal([6L, 1, 8, 8], inputs.Arrays["images"].Shape);
        var (raw, _) = DataSets.LoadTestRaw(new DataSpec { Name = DataName.FashionMnistSmall });
        Assert.Equal(raw.Labels[..6], inputs.Labels);
        // The default scale maps 0..255 to 0..1 and bilinear interpolation stays inside the pixels' range.
        var v = inputs.Arrays["images"].ToFloat32();
        Assert.True(v.Min() >= 0 && v.Max() <= 1 && v.Max() > 0.1);
    }
}
