using TorchSharp;

namespace Repscope.Interop;

/// <summary>The numpy element types Repscope reads and writes (numpy's names in lower case).</summary>
public enum NpyDType { Bool, Int8, UInt8, Int16, UInt16, Int32, UInt32, Int64, UInt64, Float16, Float32, Float64 }

/// <summary>Facts about each <see cref="NpyDType"/>: size, numpy codes, .NET storage type.</summary>
public static class NpyDTypes
{
    /// <summary>Bytes per element.</summary>
    public static int ItemSize(this NpyDType t) => t switch
    {
        NpyDType.Bool or NpyDType.Int8 or NpyDType.UInt8 => 1,
        NpyDType.Int16 or NpyDType.UInt16 or NpyDType.Float16 => 2,
        NpyDType.Int32 or NpyDType.UInt32 or NpyDType.Float32 => 4,
        NpyDType.Int64 or NpyDType.UInt64 or NpyDType.Float64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, null),
    };

    /// <summary>numpy's name: "bool", "int8", ..., "float64".</summary>
    public static string NumpyName(this NpyDType t) => t.ToString().ToLowerInvariant();

    public static bool IsFloatingPoint(this NpyDType t) => t is NpyDType.Float16 or NpyDType.Float32 or NpyDType.Float64;

    public static bool IsSignedInteger(this NpyDType t) => t is NpyDType.Int8 or NpyDType.Int16 or NpyDType.Int32 or NpyDType.Int64;

    public static bool IsUnsignedInteger(this NpyDType t) => t is NpyDType.UInt8 or NpyDType.UInt16 or NpyDType.UInt32 or NpyDType.UInt64;

    /// <summary>The kind letter and size of numpy's type string, without byte order: "f4", "b1", "u8".</summary>
    internal static string KindAndSize(this NpyDType t)
    {
        char kind = t == NpyDType.Bool ? 'b' : t.IsFloatingPoint() ? 'f' : t.IsSignedInteger() ? 'i' : 'u';
        return $"{kind}{t.ItemSize()}";
    }

    /// <summary>The .NET element type of the array that holds the data (bool for Bool, Half for Float16).</summary>
    public static Type ClrType(this NpyDType t) => t switch
    {
        NpyDType.Bool => typeof(bool),
        NpyDType.Int8 => typeof(sbyte),
        NpyDType.UInt8 => typeof(byte),
        NpyDType.Int16 => typeof(short),
        NpyDType.UInt16 => typeof(ushort),
        NpyDType.Int32 => typeof(int),
        NpyDType.UInt32 => typeof(uint),
        NpyDType.Int64 => typeof(long),
        NpyDType.UInt64 => typeof(ulong),
        NpyDType.Float16 => typeof(Half),
        NpyDType.Float32 => typeof(float),
        NpyDType.Float64 => typeof(double),
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, null),
    };

    /// <summary>The dtype whose storage is <paramref name="clr"/>, or null.</summary>
    public static NpyDType? FromClrType(Type clr)
    {
        foreach (NpyDType t in Enum.GetValues<NpyDType>())
        {
            if (t.ClrType() == clr) { return t; }
        }
        return null;
    }

    /// <summary>The TorchSharp type with the same representation, or null (unsigned 16-64 bit).</summary>
    public static torch.ScalarType? TorchType(this NpyDType t) => t switch
    {
        NpyDType.Bool => torch.ScalarType.Bool,
        NpyDType.Int8 => torch.ScalarType.Int8,
        NpyDType.UInt8 => torch.ScalarType.Byte,
        NpyDType.Int16 => torch.ScalarType.Int16,
        NpyDType.Int32 => torch.ScalarType.Int32,
        NpyDType.Int64 => torch.ScalarType.Int64,
        NpyDType.Float16 => torch.ScalarType.Float16,
        NpyDType.Float32 => torch.ScalarType.Float32,
        NpyDType.Float64 => torch.ScalarType.Float64,
        _ => null,
    };

    internal static Array Allocate(this NpyDType t, long count) => Array.CreateInstance(t.ClrType(), count);
}
