using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Interop;

/// <summary>
/// An immutable n-dimensional array as numpy stores it: a name, a dtype, a shape, and the data in
/// C (row-major) order, held in one .NET array of the dtype's element type (no float64 copies of
/// float32 data). An array of shape (n, ...) is one layer: n examples (rows), each flattened to
/// <see cref="FeaturesPerRow"/> features.
/// </summary>
public sealed class NdArray
{
    private readonly long[] _shape;
    private readonly Array _data;

    private NdArray(string name, NpyDType dtype, long[] shape, Array data)
    {
        Name = name;
        DType = dtype;
        _shape = shape;
        _data = data;
    }

    /// <summary>npz member name without ".npy"; for a .npy file, its file name without ".npy".</summary>
    public string Name { get; }

    public NpyDType DType { get; }

    /// <summary>The shape (a copy); empty for a 0-d array.</summary>
    public long[] Shape => (long[])_shape.Clone();

    /// <summary>Number of dimensions (0 for a 0-d array).</summary>
    public int Rank => _shape.Length;

    /// <summary>Number of elements (product of the shape; 1 for a 0-d array).</summary>
    public long Length => _data.LongLength;

    /// <summary>Shape[0], or 1 for a 0-d array.</summary>
    public long Rows => _shape.Length == 0 ? 1 : _shape[0];

    /// <summary>Product of Shape[1..] (1 for 0-d and 1-d arrays).</summary>
    public long FeaturesPerRow
    {
        get
        {
            long p = 1;
            for (int i = 1; i < _shape.Length; i++) { p *= _shape[i]; }
            return p;
        }
    }

    /// <summary>Size of the data in bytes.</summary>
    public long ByteLength => _data.LongLength * DType.ItemSize();

    public override string ToString() => $"{Name}: {DType.NumpyName()} {ShapeText(_shape)}";

    /// <summary>A shape as Python writes it: "()", "(5,)", "(3, 4)".</summary>
    public static string ShapeText(IReadOnlyList<long> shape) =>
        shape.Count == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape) + ")";

    // ---------------------------------------------------------------- creating

    /// <summary>
    /// An array of the given shape over a copy of <paramref name="data"/>, whose element type gives
    /// the dtype (bool, sbyte, byte, short, ushort, int, uint, long, ulong, Half, float, double).
    /// An empty <paramref name="shape"/> means a 0-d array (one element).
    /// </summary>
    public static NdArray Create(string name, Array data, IReadOnlyList<long> shape)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(data);
        if (data.Rank != 1) { throw new ArgumentException("data must be a one-dimensional array in C order", nameof(data)); }
        var dtype = NpyDTypes.FromClrType(data.GetType().GetElementType()!)
            ?? throw new ArgumentException($"no numpy dtype for element type {data.GetType().GetElementType()}", nameof(data));
        long[] s = [.. shape];
        long count = CheckedCount(s) ?? throw new ArgumentException($"shape {ShapeText(s)} is invalid", nameof(shape));
        if (count != data.LongLength)
        {
            throw new ArgumentException($"shape {ShapeText(s)} holds {count} elements, data has {data.LongLength}", nameof(shape));
        }
        return new NdArray(name, dtype, s, (Array)data.Clone());
    }

    private static long[] DefaultShape(Array data, long[] shape) => shape.Length == 0 ? [data.LongLength] : shape;

    // The From* factories copy the data; an omitted shape means one dimension (data.Length).
    public static NdArray FromFloat32(string name, float[] data, params long[] shape) => Create(name, data, DefaultShape(data, shape));
    public static NdArray FromFloat64(string name, double[] data, params long[] shape) => Create(name, data, DefaultShape(data, shape));
    public static NdArray FromFloat16(string name, Half[] data, params long[] shape) => Create(name, data, DefaultShape(data, shape));
    public static NdArray FromInt8(string name, sbyte[] data, params long[] shape) => Create(name, data, DefaultShape(data, shape));
    public static NdArray FromUInt8(string name, byte[] data, params long[] shape) => Create(name, data, DefaultShape(data, shape));
    public static NdArray FromInt16(string name, short[] data, params long[] shape) => Create(name, data, DefaultShape(data, shape));
    public static NdArray FromUInt16(string name, ushort[] data, params long[] shape) => Create(name, data, DefaultShape(data, shape));
    public static NdArray FromInt32(string name, int[] data, params long[] shape) => Create(name, data, DefaultShape(data, shape));
    public static NdArray FromUInt32(string name, uint[] data, params long[] shape) => Create(name, data, DefaultShape(data, shape));
    public static NdArray FromInt64(string name, long[] data, params long[] shape) => Create(name, data, DefaultShape(data, shape));
    public static NdArray FromUInt64(string name, ulong[] data, params long[] shape) => Create(name, data, DefaultShape(data, shape));
    public static NdArray FromBool(string name, bool[] data, params long[] shape) => Create(name, data, DefaultShape(data, shape));

    /// <summary>
    /// A copy of a tensor (any device, any layout) with the same shape and dtype. Tensor types
    /// without a numpy counterpart here (bfloat16, complex) are an ArgumentException.
    /// </summary>
    public static NdArray FromTensor(string name, Tensor tensor) => FromTensor(name, tensor, chunkBytes: 1L << 30);

    /// <summary>FromTensor copying at most <paramref name="chunkBytes"/> at a time (Tensor.bytes is a span, at most 2 GB).</summary>
    internal static NdArray FromTensor(string name, Tensor tensor, long chunkBytes)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var dtype = Enum.GetValues<NpyDType>().Cast<NpyDType?>().FirstOrDefault(t => t!.Value.TorchType() == tensor.dtype)
            ?? throw new ArgumentException($"tensor type {tensor.dtype} has no numpy counterpart here", nameof(tensor));
        long[] shape = tensor.shape;
        long count = CheckedCount(shape) ?? throw new ArgumentException("tensor too large", nameof(tensor));
        if (count > Array.MaxLength) { throw new ArgumentException($"tensor of {count} elements is too large", nameof(tensor)); }
        Array data = dtype.Allocate(count);
        if (count > 0)
        {
            using var scope = NewDisposeScope();
            var flat = tensor.detach().cpu().contiguous().reshape(-1);
            long perChunk = Math.Max(1, chunkBytes / dtype.ItemSize());
            for (long start = 0; start < count; start += perChunk)
            {
                long n = Math.Min(perChunk, count - start);
                using var part = flat.narrow(0, start, n).contiguous();
                part.bytes.CopyTo(Bytes(data, start * dtype.ItemSize(), n * dtype.ItemSize()));
            }
        }
        return new NdArray(name, dtype, shape, data);
    }

    /// <summary>This array under another name (shares the immutable data).</summary>
    public NdArray WithName(string name) => new(name, DType, _shape, _data);

    /// <summary>The same data viewed with another shape of the same element count (shares the immutable data).</summary>
    public NdArray Reshape(params long[] shape)
    {
        long? count = CheckedCount(shape);
        if (count != Length) { throw new ArgumentException($"cannot reshape {ShapeText(_shape)} to {ShapeText(shape)}", nameof(shape)); }
        return new NdArray(Name, DType, (long[])shape.Clone(), _data);
    }

    internal static NdArray Wrap(string name, NpyDType dtype, long[] shape, Array data) => new(name, dtype, shape, data);

    /// <summary>Product of the dimensions, or null if one is negative or the product overflows.</summary>
    internal static long? CheckedCount(IReadOnlyList<long> shape)
    {
        long count = 1;
        foreach (long d in shape)
        {
            if (d < 0) { return null; }
            try { count = checked(count * d); }
            catch (OverflowException) { return null; }
        }
        return count;
    }

    // ---------------------------------------------------------------- reading values

    /// <summary>The data without a copy, when T is the dtype's element type (bool, sbyte, ..., Half, float, double).</summary>
    public ReadOnlySpan<T> AsSpan<T>() where T : unmanaged =>
        typeof(T) == DType.ClrType() ? Elements<T>()
        : throw new InvalidOperationException($"{Name} holds {DType.NumpyName()}, not {typeof(T).Name}");

    /// <summary>The raw bytes in C order, little-endian, as a span (arrays up to 2 GB) for hashing and writing.</summary>
    internal Span<byte> RawBytes(long byteOffset, long byteCount) => Bytes(_data, byteOffset, byteCount);

    internal Array Data => _data;

    /// <summary>A span of bytes inside any array of unmanaged elements.</summary>
    internal static Span<byte> Bytes(Array array, long byteOffset, long byteCount)
    {
        ref byte start = ref MemoryMarshal.GetArrayDataReference(array);
        return MemoryMarshal.CreateSpan(ref Unsafe.Add(ref start, (nint)byteOffset), checked((int)byteCount));
    }

    /// <summary>The elements reinterpreted as T (same size as the dtype; element counts fit an int, see Array.MaxLength).</summary>
    private Span<T> Elements<T>() where T : unmanaged =>
        MemoryMarshal.CreateSpan(ref Unsafe.As<byte, T>(ref MemoryMarshal.GetArrayDataReference(_data)), (int)_data.LongLength);

    /// <summary>The values as float32 (a new array; float64 and large integers are rounded to nearest).</summary>
    public float[] ToFloat32() => DType == NpyDType.Float32 ? (float[])_data.Clone() : ConvertTo<float>();

    /// <summary>The values as float64 (a new array; exact except for 64-bit integers beyond 2^53).</summary>
    public double[] ToFloat64() => DType == NpyDType.Float64 ? (double[])_data.Clone() : ConvertTo<double>();

    /// <summary>The values as int64 (a new array). Only for integer and bool dtypes; a uint64 above
    /// long.MaxValue is a RepscopeException.</summary>
    public long[] ToInt64()
    {
        if (DType.IsFloatingPoint())
        {
            throw new RepscopeException($"{Name}: expected integers, found {DType.NumpyName()} values");
        }
        if (DType == NpyDType.UInt64)
        {
            var u = Elements<ulong>();
            for (int i = 0; i < u.Length; i++)
            {
                if (u[i] > long.MaxValue) { throw new RepscopeException($"{Name}: value {u[i]} at index {i} does not fit in int64"); }
            }
        }
        return ConvertTo<long>();
    }

    private TDst[] ConvertTo<TDst>() where TDst : unmanaged, INumberBase<TDst>
    {
        var r = new TDst[_data.LongLength];
        switch (DType)
        {
            case NpyDType.Bool: // stored as bytes 0 / 1
            case NpyDType.UInt8: Convert(Elements<byte>(), r); break;
            case NpyDType.Int8: Convert(Elements<sbyte>(), r); break;
            case NpyDType.Int16: Convert(Elements<short>(), r); break;
            case NpyDType.UInt16: Convert(Elements<ushort>(), r); break;
            case NpyDType.Int32: Convert(Elements<int>(), r); break;
            case NpyDType.UInt32: Convert(Elements<uint>(), r); break;
            case NpyDType.Int64: Convert(Elements<long>(), r); break;
            case NpyDType.UInt64: Convert(Elements<ulong>(), r); break;
            case NpyDType.Float16: Convert(Elements<Half>(), r); break;
            case NpyDType.Float32: Convert(Elements<float>(), r); break;
            case NpyDType.Float64: Convert(Elements<double>(), r); break;
            default: throw new InvalidOperationException($"unexpected dtype {DType}");
        }
        return r;
    }

    /// <summary>Element-wise numeric conversion (round to nearest for floats, as a C# cast).</summary>
    private static void Convert<TSrc, TDst>(ReadOnlySpan<TSrc> src, Span<TDst> dst)
        where TSrc : INumberBase<TSrc> where TDst : INumberBase<TDst>
    {
        for (int i = 0; i < src.Length; i++) { dst[i] = TDst.CreateTruncating(src[i]); }
    }

    /// <summary>
    /// The data as a (Rows, FeaturesPerRow) tensor on the CPU, of the given type, owning its own copy
    /// (one copy of the data; float32 data is never widened on the way).
    /// </summary>
    public Tensor ToTensor(ScalarType type = ScalarType.Float32)
    {
        long[] dims = [Rows, FeaturesPerRow];
        Array fresh = type switch
        {
            ScalarType.Float32 => ToFloat32(),
            ScalarType.Float64 => ToFloat64(),
            ScalarType.Int64 => ToInt64(),
            _ when DType.TorchType() == type => (Array)_data.Clone(),
            _ => ToFloat64(),
        };
        if (fresh.LongLength == 0)
        {
            return torch.empty(dims, type);
        }
        // from_array shares the fresh array (pinned until the tensor is disposed): no second copy.
        using var flat = torch.from_array(fresh);
        var shaped = flat.reshape(dims);
        if (shaped.dtype == type) { return shaped; }
        using (shaped) { return shaped.to_type(type); }
    }

    /// <summary>
    /// A (Rows, FeaturesPerRow) CPU tensor that shares this array's memory: no copy (the array stays
    /// pinned while the tensor lives). For the dtypes torch has (all but uint16, uint32, uint64).
    /// The tensor must not be modified in place: the array is immutable. Use it to hold large
    /// activations once; use <see cref="ToTensor"/> for a tensor of one's own.
    /// </summary>
    public Tensor AsTensorView()
    {
        var type = DType.TorchType()
            ?? throw new InvalidOperationException($"{Name}: torch has no {DType.NumpyName()} type; use ToTensor");
        long[] dims = [Rows, FeaturesPerRow];
        if (_data.LongLength == 0) { return torch.empty(dims, type); }
        using var flat = torch.from_array(_data);
        return flat.reshape(dims);
    }

    /// <summary>True when a floating-point array holds a NaN or an infinity (vectorised; false for integer dtypes).</summary>
    public bool HasNonFinite()
    {
        return DType switch
        {
            NpyDType.Float32 => HasNonFinite(Elements<uint>(), 0x7F80_0000u),
            NpyDType.Float64 => HasNonFinite(Elements<ulong>(), 0x7FF0_0000_0000_0000ul),
            NpyDType.Float16 => HasNonFinite(Elements<ushort>(), (ushort)0x7C00),
            _ => false,
        };
    }

    /// <summary>A value is NaN or infinite exactly when all its exponent bits are set.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static bool HasNonFinite<TBits>(ReadOnlySpan<TBits> bits, TBits exponentMask)
        where TBits : unmanaged, IBinaryInteger<TBits>
    {
        var mask = new Vector<TBits>(exponentMask);
        int i = 0;
        for (; i + Vector<TBits>.Count <= bits.Length; i += Vector<TBits>.Count)
        {
            var v = new Vector<TBits>(bits.Slice(i, Vector<TBits>.Count));
            if (Vector.EqualsAny(Vector.BitwiseAnd(v, mask), mask)) { return true; }
        }
        for (; i < bits.Length; i++)
        {
            if ((bits[i] & exponentMask) == exponentMask) { return true; }
        }
        return false;
    }

    /// <summary>
    /// The largest of the values' bits with the sign bit cleared (<paramref name="magnitudeMask"/>): IEEE floats of one
    /// format order like these integers, so this is the bit pattern of the largest magnitude, and it is at least the
    /// exponent mask exactly when some value is NaN or infinite. Zero for no values.
    /// </summary>
    /// <remarks>Compiled optimised at its first call: ReadyToRun cannot precompile Vector&lt;T&gt; code (its width is the
    /// machine's), and the unoptimised first tier of a vector loop is many times slower.</remarks>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static TBits LargestMagnitudeBits<TBits>(ReadOnlySpan<TBits> bits, TBits magnitudeMask)
        where TBits : unmanaged, IBinaryInteger<TBits>, IUnsignedNumber<TBits>
    {
        var mask = new Vector<TBits>(magnitudeMask);
        var largest = Vector<TBits>.Zero;
        int i = 0;
        for (; i + Vector<TBits>.Count <= bits.Length; i += Vector<TBits>.Count)
        {
            largest = Vector.Max(largest, Vector.BitwiseAnd(new Vector<TBits>(bits.Slice(i, Vector<TBits>.Count)), mask));
        }
        TBits result = TBits.Zero;
        for (int k = 0; k < Vector<TBits>.Count; k++) { result = TBits.Max(result, largest[k]); }
        for (; i < bits.Length; i++) { result = TBits.Max(result, bits[i] & magnitudeMask); }
        return result;
    }

    /// <summary>Same dtype, shape and bytes (NaNs with the same bits compare equal). Names are not compared.</summary>
    public bool ContentEquals(NdArray other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (DType != other.DType || !_shape.AsSpan().SequenceEqual(other._shape)) { return false; }
        const long chunk = 1L << 30;
        for (long off = 0; off < ByteLength; off += chunk)
        {
            long n = Math.Min(chunk, ByteLength - off);
            if (!RawBytes(off, n).SequenceEqual(other.RawBytes(off, n))) { return false; }
        }
        return true;
    }
}
