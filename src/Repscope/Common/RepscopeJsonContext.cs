using System.Text.Json.Serialization;

namespace Repscope;

/// <summary>
/// Compile-time JSON metadata (System.Text.Json's source generator) for the heatmap's cka.json, the file written on the
/// clock of the CKA phase. <see cref="JsonDefaults"/> resolves these types
/// here first and any other type by reflection, with the same options either way (names, enums, NaN as null), so the
/// text is the same (test: <c>Common/JsonDefaultsTests</c>). Built by reflection, a serializer emits code per property
/// (Reflection.Emit), which the runtime then compiled again at tier 1 during a <c>heatmap</c>'s CKA phase; with compiled
/// metadata that is gone, but System.Text.Json's generic code over value types (converters, property metadata) is still
/// compiled at run time (about 400 methods), so the measured gain was small: heatmap CPU -0.19 s, median of 8 rounds,
/// within the rounds' spread (bench/README.md, sixth round).
/// Types with init-only properties that have initial values (run.json's <see cref="Runs.RunInfo"/>, the checkpoint's
/// <see cref="Training.CheckpointState"/>) stay with reflection: compiled metadata sets an init-only property the file
/// lacks to null or zero instead of leaving its initial value, so a run.json written before a field existed ("files",
/// "provenance.cpu") read as broken, and a missing "residual" as false (test <c>Common/JsonDefaultsTests</c>).
/// </summary>
[JsonSourceGenerationOptions(GenerationMode = JsonSourceGenerationMode.Metadata)]
[JsonSerializable(typeof(Similarity.CkaHeatmapJson))]
[JsonSerializable(typeof(Similarity.CkaMatrixJson))]
internal sealed partial class RepscopeJsonContext : JsonSerializerContext;
