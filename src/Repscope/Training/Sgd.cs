using Repscope.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Training;

/// <summary>
/// SGD with momentum and L2 weight decay, exactly PyTorch's torch.optim.SGD (dampening 0, not
/// Nesterov): d = g + wd * p; b = m * b + d (b = d at the first step); p -= lr * b. Kept here so the
/// momentum buffers can be checkpointed and restored bit for bit.
/// </summary>
public sealed class Sgd : IDisposable
{
    private readonly IReadOnlyList<TorchSharp.Modules.Parameter> _parameters;
    private readonly Tensor[] _buffers;

    public Sgd(IEnumerable<TorchSharp.Modules.Parameter> parameters, double momentum, double weightDecay)
    {
        _parameters = parameters.ToList();
        Momentum = momentum;
        WeightDecay = weightDecay;
        _buffers = _parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
    }

    public double Momentum { get; }
    public double WeightDecay { get; }
    public IReadOnlyList<Tensor> MomentumBuffers => _buffers;

    public void ZeroGrad()
    {
        foreach (var p in _parameters) { p.grad?.zero_(); }
    }

    public void Step(double lr)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        // Scalars made here and disposed after the loop, not numbers converted on each call (TorchScalars).
        using var weightDecay = WeightDecay.ToScalar();
        using var momentum = Momentum.ToScalar();
        using var minusLr = (-lr).ToScalar();
        for (int i = 0; i < _parameters.Count; i++)
        {
            var p = _parameters[i];
            var g = p.grad;
            if (g is null) { continue; }
            var d = WeightDecay != 0 ? g.add(p, alpha: weightDecay) : g;
            _buffers[i].mul_(momentum).add_(d, alpha: TorchScalars.One);
            p.add_(_buffers[i], alpha: minusLr);
        }
    }

    public void Dispose()
    {
        foreach (var b in _buffers) { b.Dispose(); }
    }
}

/// <summary>
/// Learning rate per optimizer step: a linear warm-up over the first <c>warmupSteps</c> steps (lr (t+1)/W), then
/// cosine decay over the rest: lr_t = lr (1 + cos(pi (t - W) / (T - W))) / 2. Without warm-up it is the plain
/// cosine schedule of the paper's recipe. Warm-up keeps deep networks (ResNet-56 and up) from diverging in the
/// first steps at lr 0.1 (He et al. 2016 warm up ResNet-110 the same way).
/// </summary>
public static class CosineSchedule
{
    public static double At(double baseLr, long step, long totalSteps, long warmupSteps = 0)
    {
        if (totalSteps <= 0) { return baseLr; }
        warmupSteps = Math.Clamp(warmupSteps, 0, totalSteps - 1);
        if (step < warmupSteps) { return baseLr * (step + 1) / warmupSteps; }
        return baseLr * 0.5 * (1 + Math.Cos(Math.PI * (step - warmupSteps) / (totalSteps - warmupSteps)));
    }
}
