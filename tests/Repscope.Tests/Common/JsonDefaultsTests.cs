using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Repscope.Runs;
using Repscope.Similarity;
using Repscope.Training;

namespace Repscope.Tests.Common;

/// <summary>
/// The types with compiled JSON metadata (<see cref="RepscopeJsonContext"/>) are written and read exactly as with metadata
/// made by reflection: the same names, order, enums, nulls for NaN and infinities, indentation.
/// </summary>
public class JsonDefaultsTests
{
    private static readonly CkaHeatmapJson Heatmap = new(["conv1", "block 2/out"], ["a.b:c"],
        [[1.0, double.NaN], [0.25, double.PositiveInfinity]],
        new CkaHeatmapSettings("cka", KernelKind.Rbf, 0.5, HsicEstimator.Unbiased, 256, 16, "255-256", 7, 4096, 0),
        [new InputFile("/tmp/x y.npz", 123, "ab01")], new CommandProvenance("1.0.0", "0123abcd", "heatmap x.npz --out o"), ["a note"]);

    private static readonly RunInfo Run = new()
    {
        State = RunState.Finished,
        Config = new RunConfig { Depth = 26, Width = 0.5, RequestedTrainFraction = null, TestExamples = 1000, Lr = 0.1 },
        Architecture = "resnet-26",
        ParameterCount = 12345,
        TrainSet = new DataSetInfo { Data = "fashion-mnist", Count = 60000, Classes = 10, ClassNames = ["T-shirt/top", "Trouser"] },
        Normalisation = new NormalisationInfo { Mean = [0.286], Std = [0.353] },
        Epochs = [new EpochMetrics { Epoch = 1, TrainLoss = 0.5, TestAccuracy = null, Seconds = 1.5 }],
        FinalTestAccuracy = 0.91,
        Files = new Dictionary<string, string> { ["model.pt"] = "ff00" },
    };

    private static readonly CheckpointState Checkpoint = new()
    {
        Identity = new RunIdentity(3, "abc"), EpochsDone = 2,
        Epochs = [new EpochMetrics { Epoch = 2, TrainLoss = double.NaN, TestLoss = 0.3 }],
    };

    public static TheoryData<string> Values => new() { "heatmap", "matrix" };

    private static object Value(string name) => name switch
    {
        "heatmap" => Heatmap,
        "matrix" => new CkaMatrixJson(["a"], ["b", "c"], [[double.NaN, -0.0]]),
        "run" => Run,
        "default run" => new RunInfo(),
        _ => Checkpoint,
    };

    [Theory]
    [MemberData(nameof(Values))]
    public void CompiledMetadataWritesAndReadsTheSameTextAsReflection(string name)
    {
        object value = Value(name);
        var type = value.GetType();
        foreach (bool indented in new[] { true, false })
        {
            var compiled = indented ? JsonDefaults.Options : JsonDefaults.Compact;
            var reflection = JsonDefaults.ReflectionOnly(indented);
            string text = JsonSerializer.Serialize(value, type, compiled);
            Assert.Equal(JsonSerializer.Serialize(value, type, reflection), text);
            // Read back by each, and written again: the same text (NaN and infinities come back as NaN, as null was written).
            Assert.Equal(text, JsonSerializer.Serialize(JsonSerializer.Deserialize(text, type, compiled), type, compiled));
            Assert.Equal(text, JsonSerializer.Serialize(JsonSerializer.Deserialize(text, type, reflection), type, reflection));
        }
    }

    [Fact]
    public void TheContextsTypesComeFromCompiledMetadataAndOthersFromReflection()
    {
        Assert.Same(RepscopeJsonContext.Default, JsonDefaults.Options.GetTypeInfo(typeof(CkaHeatmapJson)).OriginatingResolver);
        Assert.Same(RepscopeJsonContext.Default, JsonDefaults.Compact.GetTypeInfo(typeof(CkaMatrixJson)).OriginatingResolver);
        Assert.IsType<DefaultJsonTypeInfoResolver>(JsonDefaults.Options.GetTypeInfo(typeof(RunInfo)).OriginatingResolver);
        Assert.IsType<DefaultJsonTypeInfoResolver>(JsonDefaults.Compact.GetTypeInfo(typeof(CheckpointState)).OriginatingResolver);
        Assert.IsType<DefaultJsonTypeInfoResolver>(JsonDefaults.Options.GetTypeInfo(typeof(Repscope.Workflows.LayersResult)).OriginatingResolver);
        Assert.Contains("\"rbfThreshold\": 0.5", JsonSerializer.Serialize(Heatmap, JsonDefaults.Options));
        Assert.Contains("\"kernel\": \"rbf\"", JsonSerializer.Serialize(Heatmap, JsonDefaults.Options));
        Assert.Contains("[\n      1,\n      null\n    ]", JsonSerializer.Serialize(Heatmap, JsonDefaults.Options).ReplaceLineEndings("\n"));
    }

    /// <summary>
    /// A file written before a field existed lacks it: reading it leaves the field at its initial value. With compiled
    /// metadata an init-only property came back null or zero instead (a run.json without "files" read as broken, a
    /// missing "residual" as false), so run.json and the checkpoint's state are read by reflection.
    /// </summary>
    [Theory]
    [InlineData("run")]
    [InlineData("checkpoint")]
    [InlineData("heatmap")]
    [InlineData("matrix")]
    public void AFieldMissingFromTheFileKeepsItsInitialValue(string name)
    {
        var type = name switch { "run" => typeof(RunInfo), "checkpoint" => typeof(CheckpointState), _ => Value(name).GetType() };
        object? read = JsonSerializer.Deserialize("{}", type, JsonDefaults.Options);
        Assert.Equal(JsonSerializer.Serialize(read, type, JsonDefaults.ReflectionOnly(true)), JsonSerializer.Serialize(read, type, JsonDefaults.Options));
        if (name == "run") { Assert.Equal(JsonSerializer.Serialize(new RunInfo(), JsonDefaults.Options), JsonSerializer.Serialize(read, type, JsonDefaults.Options)); }
        if (name == "checkpoint") { Assert.Equal(JsonSerializer.Serialize(new CheckpointState(), JsonDefaults.Options), JsonSerializer.Serialize(read, type, JsonDefaults.Options)); }
        var run = JsonSerializer.Deserialize<RunInfo>("{\"config\": {\"depth\": 14}}", JsonDefaults.Options)!;
        Assert.True(run.Config.Residual);
        Assert.Equal((14, "", ""), (run.Config.Depth, run.Provenance.Cpu, run.Provenance.Machine));
        Assert.Empty(run.Files);
    }
}
