using System.Text.Json.Serialization;

namespace Repscope;

/// <summary>
/// Compile-time JSON metadata (System.Text.Json's source generator) for the files Repscope writes and reads most: the
/// heatmap's cka.json, run.json and the checkpoint's state. <see cref="JsonDefaults"/> resolves these types
/// here first and any other type by reflection, with the same options either way (names, enums, NaN as null), so the
/// text is the same (test: <c>Common/JsonDefaultsTests</c>). Built by reflection, a serializer emits code per property
/// (Reflection.Emit), which the runtime then compiled again at tier 1 during a <c>heatmap</c>'s CKA phase; with compiled
/// metadata that is gone, but System.Text.Json's generic code over value types (converters, property metadata) is still
/// compiled at run time (about 400 methods), so the measured gain was small: heatmap CPU -0.19 s, median of 8 rounds,
/// within the rounds' spread (bench/README.md, sixth round).
/// </summary>
[JsonSourceGenerationOptions(GenerationMode = JsonSourceGenerationMode.Metadata)]
[JsonSerializable(typeof(Similarity.CkaHeatmapJson))]
[JsonSerializable(typeof(Similarity.CkaMatrixJson))]
[JsonSerializable(typeof(Runs.RunInfo))]
[JsonSerializable(typeof(Training.CheckpointState))]
internal sealed partial class RepscopeJsonContext : JsonSerializerContext;
