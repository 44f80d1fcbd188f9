using TorchSharp;

namespace Repscope.Interop;

/// <summary>
/// Scalars that outlive the libtorch calls using them. TorchSharp turns a number passed to a tensor method
/// (<c>t.add_(1)</c>, <c>t.mul_(0.9)</c>, and the default <c>alpha</c> of <c>add_(tensor)</c>) into a temporary
/// <see cref="Scalar"/> whose native memory its finalizer frees. The method reads the native handle and calls
/// libtorch; from then on nothing references the temporary, so a garbage collection that another thread starts
/// during the call can finalize it before libtorch reads it. libtorch then reads freed memory: the error
/// "Expected false to be true" from <c>c10::Scalar::toLong</c>, or silently a wrong number. A thread that
/// collects in a loop makes <c>t.add_(1)</c> fail within about 10,000 calls (Interop/TorchScalarsTests);
/// the training loop met it once with two runs training side by side (reproduce's workers).
/// Code therefore passes these process-lifetime scalars, or scalars made with <c>using var s = x.ToScalar();</c>
/// (disposed after the call, so alive during it), never bare numbers; the build enforces it (src/BannedSymbols.txt
/// bans every conversion to Scalar and every TorchSharp method that makes one inside; docs/ARCHITECTURE.md).
/// Each member is an integer Scalar, what C# makes of the literal (<c>t.add_(1)</c>, <c>t.pow(2)</c>), so the
/// numbers are those of the bare-number call.
/// </summary>
public static class TorchScalars
{
    /// <summary>The integer 0 (the default start of <c>arange</c>).</summary>
    public static readonly Scalar Zero = 0.ToScalar();

    /// <summary>The integer 1 (what TorchSharp passes as the default alpha of <c>add</c>/<c>add_</c> and step of <c>arange</c>).</summary>
    public static readonly Scalar One = 1.ToScalar();

    /// <summary>The integer 2 (<c>t.pow(TorchScalars.Two)</c> is TorchSharp's <c>square()</c>).</summary>
    public static readonly Scalar Two = 2.ToScalar();

    /// <summary>The integer -2.</summary>
    public static readonly Scalar MinusTwo = (-2).ToScalar();
}
