using System.Globalization;
using System.Text;

namespace Repscope.Interop;

/// <summary>Byte order of the data in a .npy file.</summary>
public enum NpyByteOrder { Little, Big }

/// <summary>
/// The header of a .npy file: a Python dict literal such as
/// <c>{'descr': '&lt;f4', 'fortran_order': False, 'shape': (3, 4), }</c>, padded with spaces and a
/// newline (numpy's format spec, numpy/lib/format.py). Parsing accepts any key order, either quote,
/// spaces, trailing commas, and Python 2 "L" suffixes on integers.
/// </summary>
internal sealed record NpyHeader(NpyDType DType, NpyByteOrder ByteOrder, bool FortranOrder, long[] Shape)
{
    private const string Supported = "supported: bool, int8-int64, uint8-uint64, float16, float32, float64";

    public static NpyHeader Parse(string text, string source)
    {
        object? parsed;
        try
        {
            var p = new PyLiteralParser(text);
            parsed = p.ParseValue();
            p.ExpectEnd();
        }
        catch (FormatException e)
        {
            throw new RepscopeException($"{source}: malformed .npy header ({e.Message}): {Clip(text)}");
        }
        if (parsed is not Dictionary<string, PyValue> dict)
        {
            throw new RepscopeException($"{source}: malformed .npy header (not a dict): {Clip(text)}");
        }
        PyValue Get(string key) => dict.TryGetValue(key, out var v) ? v
            : throw new RepscopeException($"{source}: malformed .npy header (no '{key}' key): {Clip(text)}");

        var descr = Get("descr");
        var fortran = Get("fortran_order");
        var shapeValue = Get("shape");

        if (descr.Value is not string descrText)
        {
            throw new RepscopeException($"{source}: unsupported dtype {Clip(descr.Text)} (structured arrays are not supported; {Supported})");
        }
        var (dtype, order) = ParseDescr(descrText, source);
        if (fortran.Value is not bool fortranOrder)
        {
            throw new RepscopeException($"{source}: malformed .npy header ('fortran_order' is {Clip(fortran.Text)}, expected True or False)");
        }
        if (shapeValue.Value is not List<PyValue> dims)
        {
            throw new RepscopeException($"{source}: malformed .npy header ('shape' is {Clip(shapeValue.Text)}, expected a tuple of integers)");
        }
        var shape = new long[dims.Count];
        for (int i = 0; i < dims.Count; i++)
        {
            if (dims[i].Value is not long d)
            {
                throw new RepscopeException($"{source}: malformed .npy header (shape {shapeValue.Text} has a non-integer entry {Clip(dims[i].Text)})");
            }
            if (d < 0)
            {
                throw new RepscopeException($"{source}: invalid shape {shapeValue.Text}: negative dimension {d}");
            }
            shape[i] = d;
        }
        return new NpyHeader(dtype, order, fortranOrder, shape);
    }

    private static (NpyDType, NpyByteOrder) ParseDescr(string descr, string source)
    {
        string s = descr.Trim();
        var order = NpyByteOrder.Little;   // '=' (native) and no prefix: this machine is little-endian
        if (s.Length > 0 && s[0] is '<' or '>' or '|' or '=')
        {
            if (s[0] == '>') { order = NpyByteOrder.Big; }
            s = s[1..];
        }
        if (!BitConverter.IsLittleEndian) { throw new PlatformNotSupportedException("big-endian machines are not supported"); }
        foreach (NpyDType t in Enum.GetValues<NpyDType>())
        {
            if (s == t.KindAndSize()) { return (t, order); }
        }
        string why = s.Length == 0 ? "empty type" : s[0] switch
        {
            'c' => "complex numbers are not supported",
            'O' => "Python objects are not supported",
            'U' or 'S' or 'a' => "strings are not supported",
            'V' => "raw or structured records are not supported",
            'M' or 'm' => "dates and times are not supported",
            'f' => $"float{(int.TryParse(s[1..], out int n) ? n * 8 : 0)} is not supported",
            _ => "unknown type",
        };
        throw new RepscopeException($"{source}: unsupported dtype '{descr}' ({why}; {Supported})");
    }

    /// <summary>The header text numpy would write, without padding.</summary>
    public string Format()
    {
        char prefix = DType.ItemSize() == 1 ? '|' : ByteOrder == NpyByteOrder.Big ? '>' : '<';
        string shape = Shape.Length switch
        {
            0 => "()",
            1 => $"({Shape[0].ToString(CultureInfo.InvariantCulture)},)",
            _ => "(" + string.Join(", ", Shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + ")",
        };
        return $"{{'descr': '{prefix}{DType.KindAndSize()}', 'fortran_order': {(FortranOrder ? "True" : "False")}, 'shape': {shape}, }}";
    }

    /// <summary>Magic, version, header length and the padded header (total a multiple of 64 bytes).</summary>
    public byte[] Encode(int version)
    {
        byte[] text = Encoding.UTF8.GetBytes(Format());   // ASCII in practice; UTF-8 is what version 3 allows
        int lengthBytes = version == 1 ? 2 : 4;
        int preamble = 8 + lengthBytes;
        int total = (preamble + text.Length + 1 + 63) / 64 * 64;
        int headerLength = total - preamble;
        if (version == 1 && headerLength > ushort.MaxValue)
        {
            throw new ArgumentException($"a .npy header of {headerLength} bytes needs format version 2 or 3");
        }
        var bytes = new byte[total];
        Npy.Magic.CopyTo(bytes);
        bytes[6] = (byte)version;
        bytes[7] = 0;
        if (version == 1) { BitConverter.TryWriteBytes(bytes.AsSpan(8, 2), (ushort)headerLength); }
        else { BitConverter.TryWriteBytes(bytes.AsSpan(8, 4), (uint)headerLength); }
        text.CopyTo(bytes, preamble);
        bytes.AsSpan(preamble + text.Length, headerLength - text.Length - 1).Fill((byte)' ');
        bytes[^1] = (byte)'\n';
        return bytes;
    }

    internal static string Clip(string s)
    {
        s = s.Trim().ReplaceLineEndings(" ");
        return s.Length <= 120 ? s : s[..117] + "...";
    }
}

/// <summary>A parsed Python literal with the source text it came from (for messages).</summary>
internal sealed record PyValue(object? Value, string Text);

/// <summary>
/// A parser for the Python literals that appear in .npy headers: dicts, tuples, lists, strings,
/// integers, True / False / None. Dicts come back as Dictionary&lt;string, PyValue&gt;, tuples and
/// lists as List&lt;PyValue&gt;, integers as long. Throws FormatException with the position.
/// </summary>
internal sealed class PyLiteralParser(string text)
{
    private readonly string _text = text;
    private int _pos;

    public object? ParseValue() => ParseItem().Value;

    public void ExpectEnd()
    {
        SkipSpace();
        if (_pos < _text.Length) { throw Error("unexpected text after the dict"); }
    }

    private PyValue ParseItem()
    {
        SkipSpace();
        int start = _pos;
        object? value = Peek() switch
        {
            '{' => ParseDict(),
            '(' => ParseSequence('(', ')'),
            '[' => ParseSequence('[', ']'),
            '\'' or '"' => ParseString(),
            char c when c == '-' || c == '+' || char.IsAsciiDigit(c) => ParseInteger(),
            char c when char.IsAsciiLetter(c) => ParseName(),
            '\0' => throw Error("unexpected end"),
            char c => throw Error($"unexpected '{c}'"),
        };
        return new PyValue(value, _text[start.._pos]);
    }

    private Dictionary<string, PyValue> ParseDict()
    {
        var dict = new Dictionary<string, PyValue>(StringComparer.Ordinal);
        _pos++;
        while (true)
        {
            SkipSpace();
            if (Peek() == '}') { _pos++; return dict; }
            var key = ParseItem();
            if (key.Value is not string k) { throw Error($"dict key {key.Text} is not a string"); }
            SkipSpace();
            if (Peek() != ':') { throw Error("expected ':'"); }
            _pos++;
            if (!dict.TryAdd(k, ParseItem())) { throw Error($"duplicate key '{k}'"); }
            SkipSpace();
            if (Peek() == ',') { _pos++; }
            else if (Peek() != '}') { throw Error(Peek() == '\0' ? "unexpected end" : "expected ',' or '}'"); }
        }
    }

    private List<PyValue> ParseSequence(char open, char close)
    {
        var items = new List<PyValue>();
        _pos++;
        while (true)
        {
            SkipSpace();
            if (Peek() == close) { _pos++; return items; }
            items.Add(ParseItem());
            SkipSpace();
            if (Peek() == ',') { _pos++; }
            else if (Peek() != close) { throw Error(Peek() == '\0' ? "unexpected end" : $"expected ',' or '{close}'"); }
        }
    }

    private string ParseString()
    {
        char quote = _text[_pos++];
        var sb = new StringBuilder();
        while (true)
        {
            if (_pos >= _text.Length) { throw Error("unterminated string"); }
            char c = _text[_pos++];
            if (c == quote) { return sb.ToString(); }
            if (c == '\\' && _pos < _text.Length)
            {
                char e = _text[_pos++];
                sb.Append(e switch { 'n' => '\n', 't' => '\t', 'r' => '\r', '0' => '\0', _ => e });
            }
            else { sb.Append(c); }
        }
    }

    private long ParseInteger()
    {
        int start = _pos;
        if (Peek() is '-' or '+') { _pos++; }
        while (char.IsAsciiDigit(Peek())) { _pos++; }
        string digits = _text[start.._pos];
        if (Peek() is 'L' or 'l') { _pos++; }   // Python 2 long literal, as old numpy wrote shapes
        if (Peek() is '.' or 'e' or 'E') { throw Error($"expected an integer, found a number starting '{digits}{Peek()}'"); }
        if (!long.TryParse(digits, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v))
        {
            throw Error(digits.TrimStart('+', '-').Length == 0 ? "expected digits" : $"integer {digits} is out of range");
        }
        return v;
    }

    private object? ParseName()
    {
        int start = _pos;
        while (char.IsAsciiLetterOrDigit(Peek()) || Peek() == '_') { _pos++; }
        return _text[start.._pos] switch
        {
            "True" => true,
            "False" => false,
            "None" => null,
            string name => throw Error($"unexpected name '{name}'"),
        };
    }

    private char Peek() => _pos < _text.Length ? _text[_pos] : '\0';

    private void SkipSpace()
    {
        while (_pos < _text.Length && char.IsWhiteSpace(_text[_pos])) { _pos++; }
    }

    private FormatException Error(string what) => new($"{what} at character {_pos + 1}");
}
