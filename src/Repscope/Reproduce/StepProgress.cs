namespace Repscope.Reproduce;

/// <summary>
/// Overall progress of a multi-step job: one bar "step i of N" whose amount is the estimated cost of
/// the steps done so far (so its time left is meaningful when steps differ a hundredfold), plus each
/// step's own bar, prefixed "[i/N]". Work inside a step moves the overall bar in proportion. Steps
/// may run one after another or several at once (<see cref="Begin"/> from several threads); each
/// step ends when disposed.
/// </summary>
public sealed class StepProgress : IDisposable
{
    private readonly IProgressReporter _progress;
    private readonly IProgressTask _overall;
    private readonly int _count;
    private readonly object _lock = new();
    private int _started;

    public StepProgress(IProgressReporter progress, string description, IReadOnlyList<double> weights)
    {
        _progress = progress;
        _count = weights.Count;
        _overall = progress.Start($"{description} ({_count} steps)", Math.Max(weights.Sum(), 1e-9));
    }

    public int Count => _count;

    /// <summary>Starts a step that may run beside others (thread-safe); it ends when disposed.</summary>
    public Step Begin(string description, double weight)
    {
        lock (_lock)
        {
            _started++;
            if (_started > _count) { throw new InvalidOperationException($"step {_started} of {_count}: more steps than planned"); }
            var step = new Step(this, _started, weight, description);
            _overall.Advance(0, step.Status);
            return step;
        }
    }

    /// <summary>Marks the whole job finished.</summary>
    public void Complete(string status)
    {
        lock (_lock) { _overall.Complete(status); }
    }

    public void Dispose() => _overall.Dispose();

    /// <summary>One step: its reporter prefixes "[i/N]" and moves the overall bar by its share of the step's weight.</summary>
    public sealed class Step : IProgressReporter, IDisposable
    {
        private readonly StepProgress _owner;
        private readonly int _index;
        private readonly double _weight;
        private double _advanced;
        private bool _finished;

        internal Step(StepProgress owner, int index, double weight, string description)
        {
            _owner = owner;
            _index = index;
            _weight = weight;
            Status = $"step {index} of {owner._count}: {description}";
        }

        internal string Status { get; }

        public IProgressTask Start(string description, double total) =>
            new StepTask(this, _owner._progress.Start($"[{_index}/{_owner._count}] {description}", total), total);

        internal void Forward(double fraction)
        {
            lock (_owner._lock)
            {
                double delta = Math.Min(Math.Max(fraction, 0) * _weight, _weight - _advanced);
                if (_finished || delta <= 0) { return; }
                _advanced += delta;
                _owner._overall.Advance(delta, Status);
            }
        }

        /// <summary>Ends the step: the overall bar gets the rest of its weight.</summary>
        public void Dispose()
        {
            lock (_owner._lock)
            {
                if (_finished) { return; }
                _finished = true;
                if (_advanced < _weight) { _owner._overall.Advance(_weight - _advanced, Status); }
                _advanced = _weight;
            }
        }
    }

    private sealed class StepTask(Step owner, IProgressTask inner, double total) : IProgressTask
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
