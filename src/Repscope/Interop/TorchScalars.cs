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
/// Hot paths that may run beside other threads therefore pass these process-lifetime scalars, or scalars
/// made with <c>using</c> (disposed after the call, so alive during it), never bare numbers.
/// </summary>
public static class TorchScalars
{
    /// <summary>The integer 1 (what TorchSharp passes as the default alpha of <c>add</c>/<c>add_</c>).</summary>
    public static readonly Scalar One = 1.ToScalar();
}
