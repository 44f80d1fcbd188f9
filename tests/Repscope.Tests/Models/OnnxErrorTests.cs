using Repscope.Interop;
using Repscope.Interop.Onnx;
using Repscope.Models;

namespace Repscope.Tests.Models;

/// <summary>Bad ONNX input: one RepscopeException that names the file and the problem.</summary>
public class OnnxErrorTests
{
    [Fact]
    public void UnknownTapNamesTheClosestTensors()
    {
        var e = Assert.Throws<RepscopeException>(() => OnnxModel.Open(OnnxFixtures.ModelPath("cnn"), ["/block2/relu2/Relu_output"]));
        Assert.Contains("no tensor '/block2/relu2/Relu_output'", e.Message);
        Assert.Contains("closest: '/block2/relu2/Relu_output_0'", e.Message);
    }

    [Fact]
    public void NotAnOnnxFile()
    {
        string path = Path.Combine(Path.GetTempPath(), $"repscope-not-onnx-{Environment.ProcessId}.onnx");
        File.WriteAllText(path, "this is not a protobuf model\n");
        try
        {
            var e = Assert.Throws<RepscopeException>(() => OnnxGraph.Read(path));
            Assert.StartsWith($"{path}: not an ONNX model", e.Message);
            // An .npy file given where a model belongs is named as one.
            var npy = OnnxFixtures.File("cnn_input.npy");
            Assert.StartsWith($"{npy}: a numpy .npy array, not a run directory or an ONNX model",
                              Assert.Throws<RepscopeException>(() => OnnxGraph.Read(npy)).Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void ATapWhoseExamplesNoDimensionHoldsIsRefused()
    {
        // [batch, 3, 4] reshaped to [batch * 3, 4]: flattening it per example would mix examples.
        using var model = OnnxModel.Open(OnnxFixtures.ModelPath("merged_batch"), OnnxFixtures.Taps("merged_batch"));
        var e = Assert.Throws<RepscopeException>(() => model.Stream(OnnxFixtures.Inputs("merged_batch"), 4, (_, _) => { }));
        Assert.Equal($"{OnnxFixtures.ModelPath("merged_batch")}: tap 'merged' has shape (12, 4) for a batch of 4 example(s) and Repscope cannot tell "
                     + "which dimension holds the examples (no dimension that varies with the batch has that size); tap a tensor with one dimension of examples", e.Message);
    }

    [Fact]
    public void OperatorOnnxRuntimeCannotRun()
    {
        var e = Assert.Throws<RepscopeException>(() => OnnxModel.Open(OnnxFixtures.ModelPath("unsupported_op"), ["r"]));
        Assert.Contains("cannot run operator 'NotARealOp'", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void InputShapeTheModelDoesNotAcceptSaysExpectedAndGot()
    {
        var graph = OnnxGraph.Read(OnnxFixtures.ModelPath("cnn"));
        var wrong = NdArray.FromFloat32("x.npy", new float[2 * 3 * 8 * 8], 2, 3, 8, 8);
        var e = Assert.Throws<RepscopeException>(() => OnnxInputs.Bind(graph, new Dictionary<string, NdArray> { ["images"] = wrong }));
        Assert.Contains("input 'images' expects shape [batch, 1, 8, 8]", e.Message);
        Assert.Contains("got (2, 3, 8, 8)", e.Message);
    }

    [Fact]
    public void InputNameTheModelDoesNotHave()
    {
        var graph = OnnxGraph.Read(OnnxFixtures.ModelPath("transformer"));
        var ids = Path.Combine(OnnxFixtures.Folder, "transformer_ids.npy");
        var e = Assert.Throws<RepscopeException>(() => OnnxInputs.Load(graph, [$"token_ids={ids}", $"attention_mask={ids}"]));
        Assert.Contains("no input 'token_ids' (inputs: 'input_ids', 'attention_mask')", e.Message);
        // One unnamed file for a model with two inputs.
        e = Assert.Throws<RepscopeException>(() => OnnxInputs.Load(graph, [ids]));
        Assert.Contains("the model has 2 inputs", e.Message);
        // A missing input.
        e = Assert.Throws<RepscopeException>(() => OnnxInputs.Load(graph, [$"input_ids={ids}"]));
        Assert.Contains("input 'attention_mask' is not given", e.Message);
    }

    [Fact]
    public void FloatValuesForAnIntegerInputAreRefused()
    {
        var graph = OnnxGraph.Read(OnnxFixtures.ModelPath("transformer"));
        var f = NdArray.FromFloat32("ids.npy", new float[12], 2, 6);
        var i = NdArray.FromInt64("mask.npy", new long[12], 2, 6);
        var e = Assert.Throws<RepscopeException>(() => OnnxInputs.Bind(graph, new Dictionary<string, NdArray> { ["input_ids"] = f, ["attention_mask"] = i }));
        Assert.Contains("input 'input_ids' expects int64, got float32", e.Message);
    }

    [Fact]
    public void Float64ImagesAreConvertedToTheModelsFloat32()
    {
        var graph = OnnxGraph.Read(OnnxFixtures.ModelPath("cnn"));
        var x = NdArray.FromFloat64("x.npy", Enumerable.Range(0, 64).Select(v => v / 7.0).ToArray(), 1, 1, 8, 8);
        var bound = OnnxInputs.Bind(graph, new Dictionary<string, NdArray> { ["images"] = x });
        Assert.Equal(NpyDType.Float32, bound.Arrays["images"].DType);
        Assert.Equal((float)(13 / 7.0), bound.Arrays["images"].ToFloat32()[13]);
    }
}
