using Repscope.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Training;

/// <summary>
/// The paper's augmentation on a normalised batch: random crop of the original size from the image
/// padded by <c>pad</c> pixels of zeros (the channel mean after normalisation) and, optionally, a
/// horizontal flip with probability 1/2. One crop offset and flip per image, drawn from the generator;
/// done as two gathers, so the cost does not grow with per-image loops.
/// </summary>
public static class Augmentation
{
    public static Tensor CropAndFlip(Tensor x, int pad, bool flip, Generator generator)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        var padded = pad > 0 ? nn.functional.pad(x, [pad, pad, pad, pad]) : x;
        var oy = randint(0, 2 * pad + 1, [b], dtype: ScalarType.Int64, generator: generator);
        var ox = randint(0, 2 * pad + 1, [b], dtype: ScalarType.Int64, generator: generator);
        // Scalars alive until the end of the method, not numbers converted on each call (Interop.TorchScalars).
        using Scalar height = h.ToScalar(), width = w.ToScalar(), lastColumn = (w - 1).ToScalar(), minusOne = (-1).ToScalar();
        var rowsIdx = oy.unsqueeze(1).add(arange(TorchScalars.Zero, height, TorchScalars.One, dtype: ScalarType.Int64).unsqueeze(0), TorchScalars.One);   // [b, h]
        var cols = arange(TorchScalars.Zero, width, TorchScalars.One, dtype: ScalarType.Int64).unsqueeze(0).expand(b, w);                                // [b, w]
        if (flip)
        {
            var f = randint(0, 2, [b], dtype: ScalarType.Int64, generator: generator).unsqueeze(1).to_type(ScalarType.Bool);
            cols = where(f, cols.mul(minusOne).add_(lastColumn, TorchScalars.One), cols);
        }
        var colsIdx = ox.unsqueeze(1).add(cols, TorchScalars.One);                                                  // [b, w]
        var byRows = padded.gather(2, rowsIdx.view(b, 1, h, 1).expand(b, c, h, w + 2 * pad));
        var result = byRows.gather(3, colsIdx.view(b, 1, 1, w).expand(b, c, h, w));
        return result.contiguous().MoveToOuterDisposeScope();
    }
}
