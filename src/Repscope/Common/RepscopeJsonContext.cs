using System.Text.Json.Serialization;

namespace Repscope;

/// <summary>
/// Compile-time JSON metadata (System.Text.Json's source generator) for the files Repscope writes and reads most: the
/// heatmap's cka.json, run.json and the checkpoint's state. <see cref="JsonDefaults"/> resolves these types
/// here first and any other type by reflection, with the same options either way (names, enums, NaN as null), so the
/// text is the same (test: <c>Common/JsonDefaultsTests</c>). Built by reflection, a serializer costs each process about
/// 800 methods compiled at run time (System.Text.Json's converters for every primitive type) and code emitted per
/// property, on a core the computation needs: a short command such as <c>heatmap</c> spent 0.15 s of CPU there.
/// </summary>
[JsonSourceGenerationOptions(GenerationMode = JsonSourceGenerationMode.Metadata)]
[JsonSerializable(typeof(Similarity.CkaHeatmapJson))]
[JsonSerializable(typeof(Similarity.CkaMatrixJson))]
[JsonSerializable(typeof(Runs.RunInfo))]
[JsonSerializable(typeof(Training.CheckpointState))]
internal sealed partial class RepscopeJsonContext : JsonSerializerContext;
