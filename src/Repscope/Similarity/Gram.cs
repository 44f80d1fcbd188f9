using Repscope.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Similarity;

/// <summary>
/// Kernel (Gram) matrices of a representation, and the checks every input goes through.
/// Gram products run in the input's precision (float32 for float32 data, float64 for float64);
/// what comes back is float64, ready for the HSIC sums.
/// </summary>
public static class Gram
{
    /// <summary>
    /// A representation as an n x p matrix in its working precision (float64 stays float64, anything
    /// else becomes float32), after checking that it has rows and only finite values.
    /// </summary>
    internal static Tensor AsMatrix(Tensor t, string name)
    {
        if (t.dim() == 0 || t.shape[0] == 0) { throw new RepscopeException($"{name}: no examples (empty array)"); }
        long n = t.shape[0];
        Tensor m = t.dim() == 2 ? t.alias() : t.reshape(n, -1);
        if (m.shape[1] == 0) { throw new RepscopeException($"{name}: no features (shape has a zero dimension)"); }
        if (m.dtype != ScalarType.Float64 && m.dtype != ScalarType.Float32) { m = m.to_type(ScalarType.Float32); }
        if (!torch.isfinite(m).all().item<bool>())
        {
            throw new RepscopeException($"{name}: contains NaN or infinite values");
        }
        return m;
    }

    /// <summary>The precision a representation of <paramref name="type"/> is worked in: float64 stays float64, anything else is float32.</summary>
    internal static ScalarType WorkingType(ScalarType type) => type == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;

    /// <summary>
    /// Data whose largest magnitude lies in [2^-SafeExponent, 2^SafeExponent] are used as they are: their Gram
    /// products and HSIC sums stay far from float32's and float64's overflow and underflow.
    /// </summary>
    internal const int SafeExponent = 20;

    /// <summary>
    /// The power of two e by which <paramref name="m"/> is divided before its Grams are formed: 0 when its largest
    /// magnitude is within the safe range (or it is all zeros), else e with max|m| / 2^e in [0.5, 1). Dividing by a
    /// power of two is exact, so CKA, which is scale-invariant, comes out the same as it would in exact arithmetic
    /// at any scale (float32 data x 1e19 or x 1e-25, float64 x 1e200), and bit for bit unchanged for ordinary data.
    /// </summary>
    internal static int ScaleExponent(Tensor m)
    {
        var (min, max) = torch.aminmax(m);   // one pass for both
        double hi, lo;
        using (min) { lo = Math.Abs(min.to_type(ScalarType.Float64).item<double>()); }
        using (max) { hi = Math.Abs(max.to_type(ScalarType.Float64).item<double>()); }
        return ScaleExponentOfLargest(Math.Max(hi, lo));
    }

    /// <summary><see cref="ScaleExponent"/> of data whose largest magnitude is <paramref name="largest"/> (known from another pass).</summary>
    internal static int ScaleExponentOfLargest(double largest)
    {
        if (!(largest > 0) || double.IsInfinity(largest)) { return 0; }
        int e = Math.ILogB(largest) + 1;
        return Math.Abs(e) <= SafeExponent ? 0 : e;
    }

    /// <summary>Multiplies <paramref name="m"/> in place by 2^<paramref name="power"/>, in steps that float32 can represent.</summary>
    internal static Tensor ScaleByPowerOfTwo(Tensor m, int power)
    {
        while (power != 0)
        {
            int step = Math.Clamp(power, -100, 100);
            using var factor = Math.ScaleB(1.0, step).ToScalar();
            m.mul_(factor);
            power -= step;
        }
        return m;
    }

    /// <summary><paramref name="m"/> itself when its scale is safe, else a copy divided by 2^<see cref="ScaleExponent"/>.</summary>
    internal static Tensor ToSafeScale(Tensor m)
    {
        int e = ScaleExponent(m);
        return e == 0 ? m : ScaleByPowerOfTwo(m.clone(), -e);
    }

    /// <summary>True when every row is the same (zero variance): CKA is undefined.</summary>
    internal static bool IsConstant(Tensor m) => m.shape[0] < 2 || m.eq(m[0].unsqueeze(0)).all().item<bool>();

    /// <summary>
    /// <paramref name="target"/> (float64, [n, n]) = the symmetric matrix whose upper triangle (diagonal included) is that of
    /// <paramref name="upper"/> (what <see cref="Interop.MklSyrk.UpperTriangle"/> fills; its lower triangle is ignored).
    /// </summary>
    internal static void MirrorUpperTriangle(Tensor upper, Tensor target)
    {
        using var scope = NewDisposeScope();
        target.copy_(upper.triu());
        target.add_(target.triu(1).t(), TorchScalars.One);   // the strictly lower triangle was zero: a copy, exactly
    }

    /// <summary>
    /// A minibatch's linear Gram made ready for the HSIC sums in one pass over the product's upper triangle:
    /// <paramref name="k"/> (float64, contiguous [b, b]) = the symmetric matrix with that upper triangle and a zero
    /// diagonal (exactly symmetric), <paramref name="rowSums"/> (float64, [b]) its row sums, <paramref name="selfDot"/>
    /// the sum of its squared entries; returns the trace of the product (the diagonal before it is zeroed).
    /// <paramref name="upper"/>: contiguous [b, b], float32 or float64 (the product's precision), only its upper
    /// triangle read; it may be <paramref name="k"/> itself (float64): an entry is read before its mirror is written.
    /// Replaces a mirror by tensor operations (triangle copies, a transpose added), a trace, a zeroed diagonal, a dot
    /// product and a row sum: five passes over b x b values and three temporaries of 8 b^2 bytes, each mapped and
    /// faulted in afresh by the C heap at b = 256.
    /// </summary>
    internal static double FinishLinearGram(Tensor upper, Tensor k, Tensor rowSums, out double selfDot)
    {
        int b = checked((int)k.shape[0]);
        if (k.dtype != ScalarType.Float64 || rowSums.dtype != ScalarType.Float64 || !k.is_contiguous() || !upper.is_contiguous() || !rowSums.is_contiguous()
            || upper.shape[0] != b || upper.shape[1] != b || k.shape[1] != b || rowSums.numel() != b)
        {
            throw new ArgumentException("FinishLinearGram needs contiguous [b, b] matrices and [b] row sums, the outputs float64");
        }
        var kd = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(k.bytes);
        var r = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(rowSums.bytes);
        return upper.dtype switch
        {
            ScalarType.Float32 => FinishLinearGram<float>(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(upper.bytes), kd, r, b, out selfDot),
            ScalarType.Float64 => FinishLinearGram<double>(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(upper.bytes), kd, r, b, out selfDot),
            _ => throw new ArgumentException($"FinishLinearGram reads float32 or float64, got {upper.dtype}"),
        };
    }

    // Optimised at its first call: ReadyToRun leaves this generic-math instantiation to the JIT, whose first tier ran the
    // first calls unoptimised and then on-stack-replaced code (perf: about 6 ms of CPU in a heatmap; bench/README.md,
    // "Seventh round").
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static double FinishLinearGram<T>(ReadOnlySpan<T> u, Span<double> k, Span<double> r, int b, out double selfDot)
        where T : unmanaged, System.Numerics.INumberBase<T>
    {
        r[..b].Clear();
        double trace = 0, squares = 0;
        for (int i = 0; i < b; i++)
        {
            int row = i * b;
            trace += double.CreateTruncating(u[row + i]);
            k[row + i] = 0;
            double sum = r[i];
            for (int j = i + 1; j < b; j++)
            {
                double v = double.CreateTruncating(u[row + j]);
                k[row + j] = v;
                k[j * b + i] = v;
                sum += v;
                r[j] += v;
                squares += v * v;
            }
            r[i] = sum;
        }
        selfDot = 2 * squares;
        return trace;
    }

    /// <summary>X X' (float64 [n, n]) in <paramref name="x"/>'s precision: MKL's syrk when available, else a general product.</summary>
    internal static Tensor SymmetricProduct(Tensor x)
    {
        using var scope = NewDisposeScope();
        if (!Interop.MklSyrk.Available) { return x.mm(x.t()).to_type(ScalarType.Float64).MoveToOuterDisposeScope(); }
        var c = x.contiguous();
        var upper = torch.empty(c.shape[0], c.shape[0], dtype: c.dtype);
        Interop.MklSyrk.UpperTriangle(c, upper);
        var result = torch.empty(c.shape[0], c.shape[0], dtype: ScalarType.Float64);
        MirrorUpperTriangle(upper, result);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Subtracts the column means (the linear-kernel HSIC does not change; float32 Gram products get more accurate).</summary>
    internal static Tensor CentreColumns(Tensor m) => m - m.mean([0L], keepdim: true);

    /// <summary>The linear kernel X X^T (float64), of a representation with rows = examples.</summary>
    public static Tensor Linear(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var m = AsMatrix(x, "x");
        var c = CentreColumns(m);
        return SymmetricProduct(c).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The RBF kernel exp(-d^2 / (2 sigma^2)) with sigma^2 = threshold^2 x median(d^2), the median
    /// taken over all n^2 entries of the squared-distance matrix, zero diagonal included, as in
    /// Kornblith et al. 2019's reference code (np.median of the full matrix).
    /// </summary>
    public static Tensor Rbf(Tensor x, double threshold, string name = "x")
    {
        using var scope = torch.NewDisposeScope();
        var m = AsMatrix(x, name);
        if (IsConstant(m)) { throw new UndefinedResultException($"{name}: constant representation (zero variance): CKA is undefined"); }
        return RbfOfCentred(CentreColumns(m), threshold, name).MoveToOuterDisposeScope();
    }

    /// <summary>RBF Gram (float64) of a column-centred matrix; distances do not depend on the centring.</summary>
    internal static Tensor RbfOfCentred(Tensor c, double threshold, string name)
    {
        using var scope = torch.NewDisposeScope();
        return RbfOfDots(c.mm(c.t()), threshold, name).MoveToOuterDisposeScope();
    }

    /// <summary>RBF Gram (float64) from the dot products c c' of a column-centred matrix (left unchanged).</summary>
    internal static Tensor RbfOfDots(Tensor products, double threshold, string name)
    {
        using var scope = torch.NewDisposeScope();
        var dots = products.to_type(ScalarType.Float64, copy: true);
        var sq = dots.diagonal().clone();
        var d = dots.mul_(TorchScalars.MinusTwo).add_(sq.unsqueeze(1), TorchScalars.One).add_(sq.unsqueeze(0), TorchScalars.One);
        d.diagonal().zero_();
        double median = Median(d);
        if (!(median > 0))
        {
            throw new UndefinedResultException(
                $"{name}: median squared distance between examples is zero (more than half the pairs of rows are identical): RBF bandwidth undefined");
        }
        using var scale = (-2 * threshold * threshold * median).ToScalar();
        return d.div_(scale).exp_().MoveToOuterDisposeScope();
    }

    /// <summary>The median of all entries, averaging the two middle values for an even count (numpy's definition).</summary>
    internal static double Median(Tensor t)
    {
        using var scope = torch.NewDisposeScope();
        var flat = t.flatten();
        long count = flat.shape[0];
        double hi = flat.kthvalue(count / 2 + 1, 0).values.item<double>();
        if (count % 2 == 1) { return hi; }
        double lo = flat.kthvalue(count / 2, 0).values.item<double>();
        return 0.5 * (lo + hi);
    }
}
