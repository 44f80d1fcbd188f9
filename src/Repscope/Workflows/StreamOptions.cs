using Repscope.Models;

namespace Repscope.Workflows;

/// <summary>Settings shared by the workflows that stream a run's test examples through its model.</summary>
/// <param name="Examples">Use the first N test examples (null: all), the same ones, in the same order, for every model.</param>
/// <param name="BatchSize">Minibatch size (the paper: 256); also the minibatch of minibatch CKA.</param>
/// <param name="Taps">Which layer outputs are analysed.</param>
/// <param name="Epochs">Passes of minibatch CKA over the examples, each (after the first) in a new seeded shuffled order; all batches are averaged.</param>
/// <param name="Seed">Seed of the shuffles.</param>
public sealed record StreamOptions(int? Examples = null, int BatchSize = 256, TapSet Taps = TapSet.Blocks, int Epochs = 1, long Seed = 0)
{
    public void Validate()
    {
        if (Examples is < 4) { throw new RepscopeException($"{RepscopeException.Option("examples")} must be at least 4, got {Examples}"); }
        if (BatchSize < 4) { throw new RepscopeException($"{RepscopeException.Option("batchSize")} must be at least 4 (the unbiased HSIC needs 4 rows), got {BatchSize}"); }
        if (Epochs < 1) { throw new RepscopeException($"{RepscopeException.Option("epochs")} must be at least 1, got {Epochs}"); }
    }
}
