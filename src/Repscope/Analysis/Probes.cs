using Repscope.Interop;
using Repscope.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Repscope.Analysis;

/// <summary>Settings of a linear probe.</summary>
/// <param name="MaxFeatures">Layers with more features are average-pooled over their spatial dimensions to at most this many (see <see cref="ProbePooling"/>).</param>
/// <param name="WeightDecay">L2 penalty (lambda / 2) ||W||^2 added to the mean cross-entropy; the bias is not penalised.</param>
/// <param name="MaxIterations">L-BFGS iterations (full batch).</param>
/// <param name="Seed">Seed of the weight initialisation (only matters before convergence).</param>
public sealed record ProbeOptions(int MaxFeatures = ProbeOptions.DefaultMaxFeatures, double WeightDecay = ProbeOptions.DefaultWeightDecay,
                                  int MaxIterations = ProbeOptions.DefaultMaxIterations, long Seed = 0)
{
    public const int DefaultMaxFeatures = 1024;
    public const double DefaultWeightDecay = 1e-3;
    public const int DefaultMaxIterations = 200;
    public static readonly ProbeOptions Default = new();
}

/// <summary>How a layer's activations become probe features.</summary>
/// <param name="Channels">C of the layer's [C, H, W] activations (the flattened size if it is not spatial).</param>
/// <param name="Height">H (1 if not spatial).</param>
/// <param name="Width">W (1 if not spatial).</param>
/// <param name="OutHeight">Spatial height after adaptive average pooling (= H when C x H x W already fits).</param>
/// <param name="OutWidth">Spatial width after pooling.</param>
public sealed record ProbePooling(long Channels, long Height, long Width, long OutHeight, long OutWidth)
{
    public long InputFeatures => Channels * Height * Width;
    public long Features => Channels * OutHeight * OutWidth;
    public bool Pools => OutHeight != Height || OutWidth != Width;

    /// <summary>
    /// Keeps the layer as it is when C x H x W &lt;= maxFeatures; otherwise the largest s x s grid
    /// (s &lt;= min(H, W)) with C x s x s &lt;= maxFeatures, at least global average pooling (s = 1, C features).
    /// </summary>
    public static ProbePooling For(long channels, long height, long width, int maxFeatures)
    {
        if (channels * height * width <= maxFeatures) { return new ProbePooling(channels, height, width, height, width); }
        long s = Math.Min(height, width);
        while (s > 1 && channels * s * s > maxFeatures) { s--; }
        return new ProbePooling(channels, height, width, s, s);
    }

    /// <summary>
    /// <see cref="For"/> the tap <paramref name="layer"/> of a CIFAR-style ResNet with <paramref name="features"/> flattened
    /// features, its [C, H, W] shape inferred by <see cref="LayerNames.SpatialShape"/> (a flat vector when it does not fit).
    /// </summary>
    public static ProbePooling ForLayer(string layer, long features, long inputHeight, long inputWidth, int maxFeatures)
    {
        var shape = LayerNames.SpatialShape(layer, features, inputHeight, inputWidth) ?? (features, 1, 1);
        return For(shape.C, shape.H, shape.W, maxFeatures);
    }

    /// <summary>[b, C*H*W] (or [b, C, H, W]) activations to [b, Features] float32 probe features.</summary>
    public Tensor Apply(Tensor batch)
    {
        long b = batch.shape[0];
        if (batch.NumberOfElements != b * InputFeatures)
        {
            throw new RepscopeException($"probe pooling: batch has {batch.NumberOfElements / Math.Max(b, 1)} features per example, expected {InputFeatures} ({Channels} x {Height} x {Width})");
        }
        var x = batch.to(ScalarType.Float32);
        if (!Pools) { return x.reshape(b, -1); }
        return torch.nn.functional.adaptive_avg_pool2d(x.reshape(b, Channels, Height, Width), [OutHeight, OutWidth]).reshape(b, -1);
    }

    public override string ToString() =>
        Pools ? $"adaptive average pool {Channels}x{Height}x{Width} -> {Channels}x{OutHeight}x{OutWidth}" : $"none ({InputFeatures} features)";
}

/// <summary>The accuracy of one linear probe.</summary>
public sealed record ProbeFit(string Layer, long Features, long TrainExamples, long TestExamples,
                                 double TrainAccuracy, double TestAccuracy, double TestLoss, int Iterations)
{
    /// <summary>
    /// Per held-out example, in order: whether the probe classifies it correctly (its mean is <see cref="TestAccuracy"/>).
    /// Pairs of these over the same examples give paired-bootstrap intervals (<see cref="Statistics.Intervals.PairedDifference"/>).
    /// Not written into JSON with the result (one value per example); written separately by the workflows.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<bool>? TestCorrect { get; init; }
}

/// <summary>
/// Linear probes (Alain &amp; Bengio 2016): a multinomial logistic regression trained on a layer's
/// (pooled) activations to predict the class, scored on held-out examples. Features are standardised
/// with the training examples' mean and standard deviation; the fit is full-batch L-BFGS on the mean
/// cross-entropy plus (lambda / 2) ||W||^2, in float32, from a seeded initialisation. The result carries the
/// per-example correctness on the held-out examples (<see cref="ProbeFit.TestCorrect"/>).
/// </summary>
public static class LinearProbe
{
    public static ProbeFit Fit(string layer, Tensor trainFeatures, long[] trainLabels, Tensor testFeatures, long[] testLabels,
                                  int classes, ProbeOptions? options = null)
    {
        options ??= ProbeOptions.Default;
        if (trainFeatures.shape[0] != trainLabels.Length || testFeatures.shape[0] != testLabels.Length)
        {
            throw new RepscopeException($"probe '{layer}': {trainFeatures.shape[0]} / {testFeatures.shape[0]} feature rows for {trainLabels.Length} / {testLabels.Length} labels");
        }
        if (trainLabels.Length == 0 || testLabels.Length == 0)
        {
            throw new RepscopeException($"probe '{layer}': needs training and test examples, got {trainLabels.Length} and {testLabels.Length}");
        }
        if (trainLabels.Concat(testLabels).Any(y => y < 0 || y >= classes))
        {
            throw new RepscopeException($"probe '{layer}': labels must be in 0..{classes - 1}");
        }
        using var scope = torch.NewDisposeScope();
        var xtr = trainFeatures.reshape(trainFeatures.shape[0], -1).to(ScalarType.Float32);
        var xte = testFeatures.reshape(testFeatures.shape[0], -1).to(ScalarType.Float32);
        if (xtr.shape[1] != xte.shape[1])
        {
            throw new RepscopeException($"probe '{layer}': training features have {xtr.shape[1]} columns, test features {xte.shape[1]}");
        }
        var mean = xtr.mean([0L], keepdim: true);
        using var minStd = 1e-6f.ToScalar();
        var std = xtr.std(0, keepdim: true, unbiased: false).clamp_min(minStd);
        xtr = (xtr - mean) / std;
        xte = (xte - mean) / std;
        var ytr = torch.tensor(trainLabels);
        var yte = torch.tensor(testLabels);
        long p = xtr.shape[1];

        var gen = new torch.Generator((ulong)options.Seed);
        using var initScale = ((float)(0.01 / Math.Sqrt(p))).ToScalar();
        var w = torch.nn.Parameter(torch.randn([p, classes], ScalarType.Float32, generator: gen).mul(initScale));
        var bias = torch.nn.Parameter(torch.zeros(classes, ScalarType.Float32));
        int evaluations = 0;
        using var halfDecay = (0.5 * options.WeightDecay).ToScalar();
        Tensor Objective()
        {
            w.grad?.zero_();
            bias.grad?.zero_();
            var loss = torch.nn.functional.cross_entropy(xtr.matmul(w).add(bias, TorchScalars.One), ytr)
                .add(w.pow(TorchScalars.Two).sum().mul(halfDecay), TorchScalars.One);
            loss.backward();
            evaluations++;
            return loss;
        }
        Lbfgs.Minimize([w, bias], Objective, options.MaxIterations);

        using (torch.no_grad())
        {
            double trainAccuracy = xtr.matmul(w).add(bias, TorchScalars.One).argmax(1).eq(ytr).to(ScalarType.Float64).mean().item<double>();
            var logits = xte.matmul(w).add(bias, TorchScalars.One);
            var correct = logits.argmax(1).eq(yte);
            double testAccuracy = correct.to(ScalarType.Float64).mean().item<double>();
            double testLoss = torch.nn.functional.cross_entropy(logits, yte).item<float>();
            return new ProbeFit(layer, p, trainLabels.Length, testLabels.Length, trainAccuracy, testAccuracy, testLoss, evaluations)
            {
                TestCorrect = correct.data<bool>().ToArray(),
            };
        }
    }
}

/// <summary>
/// Full-batch L-BFGS without line search, step for step the algorithm of torch.optim.LBFGS (lr 1, the first step
/// scaled by min(1, 1 / |g|_1), curvature pairs kept while y.s &gt; 1e-10, at most 1.25 x max_iter evaluations), written
/// here because TorchSharp's native LBFGS makes libtorch print a deprecation warning on every call.
/// </summary>
internal static class Lbfgs
{
    /// <summary>Minimises <paramref name="closure"/> (which zeroes the gradients, computes the loss, calls backward and returns it) over <paramref name="parameters"/> in place.</summary>
    public static void Minimize(IReadOnlyList<Tensor> parameters, Func<Tensor> closure, int maxIterations,
                                double toleranceGrad = 1e-6, double toleranceChange = 1e-10, int historySize = 20)
    {
        using var scope = torch.NewDisposeScope();
        int maxEvaluations = maxIterations * 5 / 4;
        Tensor Gradient() => torch.cat([.. parameters.Select(p => (p.grad ?? torch.zeros_like(p)).reshape(-1))]);
        void Step(double t, Tensor d)
        {
            using var _ = torch.no_grad();
            using var scale = t.ToScalar();
            long offset = 0;
            foreach (var p in parameters)
            {
                long n = p.numel();
                p.add_(d.narrow(0, offset, n).view_as(p), alpha: scale);
                offset += n;
            }
        }

        double loss = closure().item<float>();
        var g = Gradient();
        int evaluations = 1;
        if (g.abs().max().item<float>() <= toleranceGrad) { return; }
        var dirs = new List<Tensor>();
        var steps = new List<Tensor>();
        var rho = new List<double>();
        Tensor d = -g, previousGrad = g;
        double t = 0, hDiag = 1;
        for (int iteration = 1; iteration <= maxIterations; iteration++)
        {
            if (iteration > 1)
            {
                var y = g - previousGrad;
                using var tScalar = t.ToScalar();
                var s = d.mul(tScalar);
                double ys = y.dot(s).item<float>();
                if (ys > 1e-10)
                {
                    if (dirs.Count == historySize) { dirs.RemoveAt(0); steps.RemoveAt(0); rho.RemoveAt(0); }
                    dirs.Add(y);
                    steps.Add(s);
                    rho.Add(1 / ys);
                    hDiag = ys / y.dot(y).item<float>();
                }
                var q = -g;
                var alpha = new double[dirs.Count];
                for (int i = dirs.Count - 1; i >= 0; i--)
                {
                    alpha[i] = steps[i].dot(q).item<float>() * rho[i];
                    using var a = alpha[i].ToScalar();
                    q = q - dirs[i].mul(a);
                }
                using var h = hDiag.ToScalar();
                d = q.mul(h);
                for (int i = 0; i < dirs.Count; i++)
                {
                    double beta = dirs[i].dot(d).item<float>() * rho[i];
                    using var c = (alpha[i] - beta).ToScalar();
                    d = d.add(steps[i].mul(c), TorchScalars.One);
                }
            }
            previousGrad = g;
            double previousLoss = loss;
            t = iteration == 1 ? Math.Min(1, 1 / g.abs().sum().item<float>()) : 1;
            if (g.dot(d).item<float>() > -toleranceChange) { break; }
            Step(t, d);
            bool optimal = false;
            if (iteration != maxIterations)
            {
                loss = closure().item<float>();
                g = Gradient();
                evaluations++;
                optimal = g.abs().max().item<float>() <= toleranceGrad;
            }
            if (iteration == maxIterations || evaluations >= maxEvaluations || optimal) { break; }
            using var tLast = t.ToScalar();
            if (d.mul(tLast).abs().max().item<float>() <= toleranceChange || Math.Abs(loss - previousLoss) < toleranceChange) { break; }
        }
    }
}
