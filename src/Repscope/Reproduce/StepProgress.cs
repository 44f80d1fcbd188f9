namespace Repscope.Reproduce;

/// <summary>
/// Overall progress of a multi-step job: one bar "step i of N" whose amount is the estimated cost of
/// the steps done so far (so its time left is meaningful when steps differ a hundredfold), plus each
/// step's own bar, prefixed "[i/N]". Work inside a step moves the overall bar in proportion.
/// </summary>
public sealed class StepProgress : IDisposable
{
    private readonly IProgressReporter _progress;
    private readonly IProgressTask _overall;
    private readonly int _count;
    private int _index;
    private double _weight, _advanced;
    private string _description = "";

    public StepProgress(IProgressReporter progress, string description, IReadOnlyList<double> weights)
    {
        _progress = progress;
        _count = weights.Count;
        _overall = progress.Start($"{description} ({_count} steps)", Math.Max(weights.Sum(), 1e-9));
    }

    public int Count => _count;

    /// <summary>Starts the next step; returns the reporter its work should use.</summary>
    public IProgressReporter Next(string description, double weight)
    {
        FinishStep();
        _index++;
        if (_index > _count) { throw new InvalidOperationException($"step {_index} of {_count}: more steps than planned"); }
        _weight = weight;
        _advanced = 0;
        _description = description;
        _overall.Advance(0, $"step {_index} of {_count}: {description}");
        return new StepReporter(this);
    }

    /// <summary>Marks the whole job finished.</summary>
    public void Complete(string status)
    {
        FinishStep();
        _overall.Complete(status);
    }

    private void FinishStep()
    {
        if (_index > 0 && _advanced < _weight) { _overall.Advance(_weight - _advanced, $"step {_index} of {_count}: {_description}"); }
        _advanced = _weight;
    }

    private void Forward(double fraction)
    {
        double delta = Math.Min(Math.Max(fraction, 0) * _weight, _weight - _advanced);
        if (delta <= 0) { return; }
        _advanced += delta;
        _overall.Advance(delta, $"step {_index} of {_count}: {_description}");
    }

    public void Dispose() => _overall.Dispose();

    private sealed class StepReporter(StepProgress owner) : IProgressReporter
    {
        private readonly int _index = owner._index;

        public IProgressTask Start(string description, double total) =>
            new StepTask(owner, owner._progress.Start($"[{_index}/{owner._count}] {description}", total), total);
    }

    private sealed class StepTask(StepProgress owner, IProgressTask inner, double total) : IProgressTask
    {
        public void Advance(double amount, string? status = null)
        {
            inner.Advance(amount, status);
            if (total > 0) { owner.Forward(amount / total); }
        }

        public void Complete(string? status = null) => inner.Complete(status);

        public void Dispose() => inner.Dispose();
    }
}
