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
    public static ActivationPass Pass(ResNet model, Data.ImageDataset data, int batchSize, TapSet set, IProgressReporter? progress = null,
                                      TapBuffers? buffers = null) =>
        onBatch => Stream(model, data, batchSize, set, onBatch, progress, buffers);

    /// <summary>
    /// Runs <paramref name="model"/> in eval mode without gradients over <paramref name="data"/> in order,
    /// in batches of <paramref name="batchSize"/>. For each batch, <paramref name="onBatch"/> gets the batch's
    /// labels and one float32 tensor per tap of <paramref name="set"/> (in <see cref="ResNet.TapNames"/> order),
    /// flattened to [b, features] and contiguous. The tensors are valid only during the callback: they are rows of
    /// <paramref name="buffers"/> (null, or held by another stream: buffers of this call alone), which the next batch overwrites. A tap that did not
    /// fire (e.g. inside a deleted block) is a RepscopeException naming it. The model's train/eval mode is restored.
    /// </summary>
    public static void Stream(ResNet model, Data.ImageDataset data, int batchSize, TapSet set,
                              Action<long[], IReadOnlyList<Tensor>> onBatch, IProgressReporter? progress = null, TapBuffers? buffers = null)
    {
        if (batchSize < 1) { throw new RepscopeException($"batch size must be positive, got {batchSize}"); }
        var names = model.TapNames(set);
        var fired = new bool[names.Count];
        var features = new long[names.Count];
        bool sizing = false;
        var hooks = new List<Action>();
        bool wasTraining = model.training;
        using var claim = buffers?.TryUse();
        using var own = claim is null ? new TapBuffers() : null;
        var store = own ?? buffers!;
        long capacity = Math.Min(batchSize, data.Count);
        model.eval();
        try
        {
            for (int i = 0; i < names.Count; i++)
            {
                int slot = i;
                var module = model.TapModule(names[i]);
                var remover = module.register_forward_hook((m, input, output) =>
                {
                    // Copied into the tap's buffer: the output itself is freed as the forward goes on, as without taps.
                    // Every view is disposed here: one left to the batch's dispose scope (detach() was) holds the module's
                    // output alive until the batch ends, all the taps' outputs at once (about 400 MB for a ResNet-56 at
                    // batch 256, in the C heap beside the buffers).
                    using var detached = output.detach();
                    using var flat = detached.flatten(1);
                    if (sizing)
                    {
                        features[slot] = flat.shape[1];
                        return output;
                    }
                    using var rows = store.Rows(names[slot], flat.shape[0], flat.shape[1], capacity);
                    rows.copy_(flat);
                    fired[slot] = true;
                    return output;
                });
                hooks.Add(remover.remove);
            }
            using var noGrad = no_grad();
            if (store.Empty && data.Count > 0)
            {
                // The taps' widths from one example, so that their buffers are made in one block before the first batch
                // (TapBuffers.Reserve: not in the C heap among the forward pass's temporaries). Eval mode, no state changes.
                sizing = true;
                using (var sizingScope = NewDisposeScope())
                using (var logits = model.call(data.Batch(0, 1))) { }
                sizing = false;
                store.Reserve(names, features, capacity);
            }
            using var task = (progress ?? ProgressReporter.None).Start($"activations of {model.Architecture}", data.Count);
            for (long start = 0; start < data.Count; start += batchSize)
            {
                using var scope = NewDisposeScope();
                long end = Math.Min(start + batchSize, data.Count);
                Array.Clear(fired);
                // The batch's rows normalised from the raw bytes (the data set does not hold all examples as float32 for a stream).
                using (var logits = model.call(data.Batch(start, end))) { }
                var taps = new List<Tensor>(names.Count);
                for (int i = 0; i < names.Count; i++)
                {
                    if (!fired[i]) { throw new RepscopeException($"{model.Architecture}: tap '{names[i]}' did not fire (deleted block?)"); }
                    taps.Add(store.View(names[i], end - start));
                }
                onBatch(data.Labels[(int)start..(int)end], taps);
                store.BoundResidentMemory();
                task.Advance(end - start);
            }
            task.Complete();
        }
        finally
        {
            foreach (var remove in hooks) { remove(); }
            model.train(wasTraining);
        }
    }
}
