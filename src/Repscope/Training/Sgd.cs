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
        for (int i = 0; i < _parameters.Count; i++)
        {
            var p = _parameters[i];
            var g = p.grad;
            if (g is null) { continue; }
            var d = WeightDecay != 0 ? g.add(p, alpha: WeightDecay) : g;
            _buffers[i].mul_(Momentum).add_(d);
            p.add_(_buffers[i], alpha: -lr);
        }
    }

    public void Dispose()
    {
        foreach (var b in _buffers) { b.Dispose(); }
    }
}

/// <summary>Cosine learning-rate decay per optimizer step: lr_t = lr * (1 + cos(pi t / T)) / 2, t = 0..T-1.</summary>
public static class CosineSchedule
{
    public static double At(double baseLr, long step, long totalSteps) =>
        totalSteps <= 0 ? baseLr : baseLr * 0.5 * (1 + Math.Cos(Math.PI * step / totalSteps));
}
