using static TorchSharp.torch;

namespace Repscope.Models;

/// <summary>
/// One pass over a fixed list of examples: calls <c>onBatch(labels, taps)</c> for each batch, in order,
/// with one [b, ...] tensor per layer (valid only during the call). Calling it again must deliver the
/// same examples in the same order. Analyses take passes instead of stored activations, so memory is
/// bounded by one batch whatever the number of examples.
/// </summary>
public delegate void ActivationPass(Action<long[], IReadOnlyList<Tensor>> onBatch);
