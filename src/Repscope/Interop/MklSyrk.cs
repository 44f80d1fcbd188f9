using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Interop;

/// <summary>
/// X X' by BLAS's symmetric rank-k product (syrk): one triangle, half the multiplications of a general product, from the
/// MKL that the libtorch package links in. libtorch has no syrk operator and the package exports no BLAS-interface
/// syrk, but it exports MKL's drivers behind that interface, <c>mkl_blas_ssyrk</c> and <c>mkl_blas_dsyrk</c>: the
/// Fortran arguments by reference with 64-bit integers, then the two character arguments' lengths (the calling
/// convention of its exported SGEMM wrapper towards <c>mkl_blas_sgemm</c>, and of its own LAPACK's calls of
/// <c>mkl_blas_ssyrk</c>). Because that is an internal interface, it is used only after a probe on a small matrix gives
/// exactly the products computed here in float64 (integers small enough for float32 to hold every sum); otherwise
/// <see cref="Available"/> is false and callers take a general product. MKL's threads follow the calling thread's
/// settings (mkl_set_num_threads_local), as for libtorch's own products.
/// </summary>
public static unsafe class MklSyrk
{
    private const string Library = "libtorch_cpu";

    [DllImport(Library, EntryPoint = "mkl_blas_ssyrk")]
    private static extern void Ssyrk(byte* uplo, byte* trans, long* n, long* k, float* alpha, float* a, long* lda, float* beta, float* c, long* ldc,
                                     long uploLength, long transLength);

    [DllImport(Library, EntryPoint = "mkl_blas_dsyrk")]
    private static extern void Dsyrk(byte* uplo, byte* trans, long* n, long* k, double* alpha, double* a, long* lda, double* beta, double* c, long* ldc,
                                     long uploLength, long transLength);

    private static readonly Lazy<bool> Probe = new(() =>
    {
        try
        {
            _ = torch.get_num_threads();   // libtorch (and with it MKL) loaded the usual way first
            if (!NativeLibrary.TryLoad(Library, typeof(MklSyrk).Assembly, null, out var lib)
                || !NativeLibrary.TryGetExport(lib, "mkl_blas_ssyrk", out _) || !NativeLibrary.TryGetExport(lib, "mkl_blas_dsyrk", out _))
            {
                return false;
            }
            return ProbeGives(ScalarType.Float32) && ProbeGives(ScalarType.Float64);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            return false;
        }
    });

    /// <summary>Whether <see cref="UpperTriangle"/> can be used (the drivers exist and gave the right numbers on a probe).</summary>
    public static bool Available => Probe.Value;

    /// <summary>A 5 x 7 matrix of small integers: X X' must come out exactly, in the upper triangle only.</summary>
    private static bool ProbeGives(ScalarType type)
    {
        const int n = 5, k = 7;
        var values = new double[n * k];
        for (int i = 0; i < values.Length; i++) { values[i] = (i * 37 % 11) - 5; }
        using var scope = NewDisposeScope();
        var x = torch.tensor(values, [n, k], dtype: ScalarType.Float64).to_type(type);
        using var nan = double.NaN.ToScalar();
        var output = torch.full([n, n], nan, dtype: type);
        UpperTriangleUnchecked(x, output);
        var got = output.to_type(ScalarType.Float64).data<double>().ToArray();
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double expected = 0;
                for (int m = 0; m < k; m++) { expected += values[i * k + m] * values[j * k + m]; }
                bool ok = j >= i ? got[i * n + j] == expected : double.IsNaN(got[i * n + j]);   // the lower triangle untouched
                if (!ok) { return false; }
            }
        }
        return true;
    }

    /// <summary>
    /// The upper triangle (diagonal included) of <paramref name="x"/> <paramref name="x"/>' into <paramref name="output"/>;
    /// the strictly lower triangle is left as it was. <paramref name="x"/>: [n, k], row-major contiguous, float32 or
    /// float64; <paramref name="output"/>: [n, n], contiguous, of the same type. Only when <see cref="Available"/>.
    /// </summary>
    public static void UpperTriangle(Tensor x, Tensor output)
    {
        if (!Available) { throw new InvalidOperationException("MKL's syrk is not available; check MklSyrk.Available first"); }
        UpperTriangleUnchecked(x, output);
    }

    private static void UpperTriangleUnchecked(Tensor x, Tensor output)
    {
        if (x.dim() != 2 || !x.is_contiguous() || output.dim() != 2 || !output.is_contiguous() || output.dtype != x.dtype
            || output.shape[0] != x.shape[0] || output.shape[1] != x.shape[0] || x.device_type != DeviceType.CPU)
        {
            throw new ArgumentException($"syrk needs a contiguous [n, k] matrix and a contiguous [n, n] output of its type, got [{string.Join(", ", x.shape)}] {x.dtype} and [{string.Join(", ", output.shape)}] {output.dtype}");
        }
        long n = x.shape[0], k = x.shape[1];
        if (n == 0) { return; }
        // Row-major X [n, k] is column-major X' [k, n] (leading dimension k); C = (X')' X' = X X' in column-major, whose
        // lower triangle ('L') is the row-major upper triangle of the output.
        byte uplo = (byte)'L', trans = (byte)'T';
        long lda = Math.Max(1, k), ldc = n;
        if (k == 0) { output.zero_(); return; }   // no features: X X' = 0
        fixed (byte* a = x.bytes)
        fixed (byte* c = output.bytes)
        {
            if (x.dtype == ScalarType.Float32)
            {
                float alpha = 1, beta = 0;
                Ssyrk(&uplo, &trans, &n, &k, &alpha, (float*)a, &lda, &beta, (float*)c, &ldc, 1, 1);
            }
            else if (x.dtype == ScalarType.Float64)
            {
                double alpha = 1, beta = 0;
                Dsyrk(&uplo, &trans, &n, &k, &alpha, (double*)a, &lda, &beta, (double*)c, &ldc, 1, 1);
            }
            else { throw new ArgumentException($"syrk works in float32 or float64, got {x.dtype}"); }
        }
    }
}
