using Repscope.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Models;

/// <summary>
/// torch.nn.BatchNorm2d (eps 1e-5, momentum 0.1, affine, running statistics; the same parameters, buffers and
/// state-dict names, the same arithmetic), except that training mode counts <c>num_batches_tracked</c> with
/// process-lifetime scalars: TorchSharp's own forward does <c>num_batches_tracked.add_(1)</c> with two
/// temporary scalars, which a garbage collection on another thread can free during the call
/// (<see cref="TorchScalars"/>).
/// </summary>
public sealed class BatchNorm2dKeptScalars : TorchSharp.Modules.BatchNorm
{
    private const double Momentum = 0.1;

    public BatchNorm2dKeptScalars(long features)
        : base(features, eps: 1e-5, momentum: Momentum, affine: true, track_running_stats: true, device: null, dtype: null, name: "BatchNorm2d") { }

    protected override void ValidateInputDimensions(Tensor input)
    {
        if (input.ndim != 4) { throw new ArgumentException($"expected 4D input (got {input.ndim}D input)"); }
    }

    public override Tensor forward(Tensor input)
    {
        ValidateInputDimensions(input);
        if (training) { num_batches_tracked!.add_(TorchScalars.One, TorchScalars.One); }
        return nn.functional.batch_norm(input, running_mean, running_var, weight, bias, training, Momentum, eps);
    }
}
