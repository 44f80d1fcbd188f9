using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Models;

/// <summary>Streams the activations of a model's taps over a data set, batch by batch.</summary>
public static class Activations
{
    /// <summary>
    /// A pass over <paramref name="data"/> through <paramref name="model"/> delivering the taps of <paramref name="set"/>
    /// (see <see cref="Stream"/>); each call of the pass streams the examples again, in the same order.
    /// </summary>
    public static ActivationPass Pass(ResNet model, Data.ImageDataset data, int batchSize, TapSet set, IProgressReporter? progress = null) =>
        onBatch => Stream(model, data, batchSize, set, onBatch, progress);

    /// <summary>
    /// Runs <paramref name="model"/> in eval mode without gradients over <paramref name="data"/> in order,
    /// in batches of <paramref name="batchSize"/>. For each batch, <paramref name="onBatch"/> gets the batch's
    /// labels and one float32 tensor per tap of <paramref name="set"/> (in <see cref="ResNet.TapNames"/> order),
    /// flattened to [b, features]. The tensors are disposed when the callback returns. A tap that did not
    /// fire (e.g. inside a deleted block) is a RepscopeException naming it. The model's train/eval mode is restored.
    /// </summary>
    public static void Stream(ResNet model, Data.ImageDataset data, int batchSize, TapSet set,
                              Action<long[], IReadOnlyList<Tensor>> onBatch, IProgressReporter? progress = null)
    {
        if (batchSize < 1) { throw new RepscopeException($"batch size must be positive, got {batchSize}"); }
        var names = model.TapNames(set);
        var captured = new Tensor?[names.Count];
        var hooks = new List<Action>();
        bool wasTraining = model.training;
        model.eval();
        try
        {
            for (int i = 0; i < names.Count; i++)
            {
                int slot = i;
                var module = model.TapModule(names[i]);
                var remover = module.register_forward_hook((m, input, output) =>
                {
                    captured[slot]?.Dispose();
                    // Outside every dispose scope: the model's own forward scopes end before the callback runs.
                    captured[slot] = output.detach().flatten(1).to_type(ScalarType.Float32).contiguous().DetachFromDisposeScope();
                    return output;
                });
                hooks.Add(remover.remove);
            }
            using var noGrad = no_grad();
            using var task = (progress ?? ProgressReporter.None).Start($"activations of {model.Architecture}", data.Count);
            for (long start = 0; start < data.Count; start += batchSize)
            {
                using var scope = NewDisposeScope();
                long end = Math.Min(start + batchSize, data.Count);
                using (var logits = model.call(data.Images[TensorIndex.Slice(start, end)])) { }
                for (int i = 0; i < names.Count; i++)
                {
                    if (captured[i] is null) { throw new RepscopeException($"{model.Architecture}: tap '{names[i]}' did not fire (deleted block?)"); }
                }
                try
                {
                    onBatch(data.Labels[(int)start..(int)end], captured.Select(c => c!).ToList());
                }
                finally
                {
                    DisposeAll(captured);
                }
                task.Advance(end - start);
            }
            task.Complete();
        }
        finally
        {
            foreach (var remove in hooks) { remove(); }
            DisposeAll(captured);
            model.train(wasTraining);
        }
    }

    private static void DisposeAll(Tensor?[] tensors)
    {
        for (int i = 0; i < tensors.Length; i++) { tensors[i]?.Dispose(); tensors[i] = null; }
    }
}
