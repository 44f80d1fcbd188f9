using System.Text.Json;
using System.Text.Json.Serialization;

namespace Repscope;

/// <summary>
/// One set of JSON options for every file Repscope writes: camelCase names, indented, enums as
/// lower-case strings, and NaN / infinity written as null (never as a string or a bogus number).
/// </summary>
public static class JsonDefaults
{
    public static readonly JsonSerializerOptions Options = Create(indented: true);
    public static readonly JsonSerializerOptions Compact = Create(indented: false);

    private static JsonSerializerOptions Create(bool indented)
    {
        var o = new JsonSerializerOptions
        {
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
