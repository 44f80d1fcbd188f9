using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Similarity;

/// <summary>The linear Gram matrix of one minibatch, the hot loop of minibatch CKA.</summary>
internal static class BatchGram
{
    /// <summary>C C' as float64 [b, b], the product computed in C's precision.</summary>
    public static Tensor Linear(Tensor c)
    {
        using var k = c.mm(c.t());
        return k.to_type(ScalarType.Float64);
    }
}
