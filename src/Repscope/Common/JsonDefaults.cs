using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Repscope;

/// <summary>
/// One set of JSON options for every file Repscope writes: camelCase names, indented, enums as
/// lower-case strings, and NaN / infinity written as null (never as a string or a bogus number).
/// </summary>
public static class JsonDefaults
{
    public static readonly JsonSerializerOptions Options = Create(indented: true);
    public static readonly JsonSerializerOptions Compact = Create(indented: false);

    private static JsonSerializerOptions Create(bool indented, bool reflectionOnly = false)
    {
        var o = new JsonSerializerOptions
        {
            // The types of RepscopeJsonContext from compiled metadata, any other by reflection.
            TypeInfoResolver = reflectionOnly ? new DefaultJsonTypeInfoResolver()
                                              : JsonTypeInfoResolver.Combine(RepscopeJsonContext.Default, new DefaultJsonTypeInfoResolver()),
            WriteIndented = indented,
            PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
            DefaultIgnoreCondition = JsonIgnoreCondition.Never,
            NumberHandling = JsonNumberHandling.Strict,
        };
        o.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false));
        o.Converters.Add(new NullForNonFiniteDouble());
        o.Converters.Add(new NullForNonFiniteFloat());
        return o;
    }

    /// <summary><see cref="Options"/> with every type's metadata made by reflection (for tests: the same text either way).</summary>
    internal static JsonSerializerOptions ReflectionOnly(bool indented) => Create(indented, reflectionOnly: true);

    private sealed class NullForNonFiniteDouble : JsonConverter<double>
    {
        public override bool HandleNull => true;
        public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.TokenType == JsonTokenType.Null ? double.NaN : reader.GetDouble();

        public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
        {
            if (double.IsFinite(value)) { writer.WriteNumberValue(value); }
            else { writer.WriteNullValue(); }
        }
    }

    private sealed class NullForNonFiniteFloat : JsonConverter<float>
    {
        public override bool HandleNull => true;
        public override float Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.TokenType == JsonTokenType.Null ? float.NaN : reader.GetSingle();

        public override void Write(Utf8JsonWriter writer, float value, JsonSerializerOptions options)
        {
            if (float.IsFinite(value)) { writer.WriteNumberValue(value); }
            else { writer.WriteNullValue(); }
        }
    }
}
