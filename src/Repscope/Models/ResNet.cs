using Repscope.Interop;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Repscope.Models;

/// <summary>Which layer outputs <see cref="Activations.Stream"/> captures.</summary>
public enum TapSet
{
    /// <summary>"stem" and every residual block's output after the addition and its ReLU ("stage1.block1", ...).</summary>
    Blocks,
    /// <summary>Also every residual block's branch right before the addition ("stage1.block1.branch", after bn2), placed
    /// before its block's output (ResNet-56: 55 taps, one per convolution pair and the stem).</summary>
    Branches,
    /// <summary>Also the layers inside: "stem.conv", "stem.bn", and per block "….branch.conv1", "….branch.bn1",
    /// "….branch.relu", "….branch.conv2", "….branch" (the residual branch after bn2, right before the addition),
    /// "….shortcut" where the block has a projection, then the block output.</summary>
    All,
}

/// <summary>
/// CIFAR-style ResNet v1 (He et al. 2016, Sec. 4.2) of depth 6n+2: a 3x3 stem, three stages of n
/// basic blocks with round(16w), round(32w), round(64w) channels, stride 2 and a 1x1 projection
/// shortcut (conv + BN) at the start of stages 2 and 3, global average pooling, a linear classifier.
/// Any input size and channel count. Field names are the state-dict keys and the layer names:
/// <c>stem</c>, <c>stage1..3</c> (blocks <c>block1..n</c>), <c>fc</c>.
/// </summary>
public sealed class ResNet : Module<Tensor, Tensor>
{
    private readonly Sequential stem;
    private readonly Sequential stage1;
    private readonly Sequential stage2;
    private readonly Sequential stage3;
    private readonly AdaptiveAvgPool2d pool;
    private readonly Linear fc;
    private readonly Dictionary<string, BasicBlock> _blocks = new(StringComparer.Ordinal);
    private IReadOnlySet<string> _deleted = new HashSet<string>();

    private ResNet(int depth, double width, bool residual, int classes, int inChannels) : base(nameof(ResNet))
    {
        ResNetShape.CheckDepthAndWidth(depth, width);
        if (classes < 2) { throw new RepscopeException($"need at least 2 classes, got {classes}"); }
        if (inChannels < 1) { throw new RepscopeException($"need at least 1 input channel, got {inChannels}"); }
        Depth = depth;
        Width = width;
        Residual = residual;
        Classes = classes;
        InChannels = inChannels;
        BlocksPerStage = ResNetShape.BlocksPerStage(depth);
        StageChannels = ResNetShape.StageChannels(width);

        stem = Sequential(("conv", Conv3x3(inChannels, StageChannels[0], 1)), ("bn", new BatchNorm2dKeptScalars(StageChannels[0])), ("relu", new TrainingInPlaceReLU()));
        stage1 = MakeStage(1, StageChannels[0], StageChannels[0], stride: 1);
        stage2 = MakeStage(2, StageChannels[0], StageChannels[1], stride: 2);
        stage3 = MakeStage(3, StageChannels[1], StageChannels[2], stride: 2);
        pool = AdaptiveAvgPool2d(1);
        fc = Linear(StageChannels[2], classes);
        RegisterComponents();
    }

    /// <summary>ResNet-<paramref name="depth"/> at width multiplier <paramref name="width"/>, with or without residual connections.</summary>
    public static ResNet Cifar(int depth, double width, bool residual, int classes, int inChannels = 3) =>
        new(depth, width, residual, classes, inChannels);

    public int Depth { get; }
    public double Width { get; }
    public bool Residual { get; }
    public int Classes { get; }
    public int InChannels { get; }
    public int BlocksPerStage { get; }
    public int[] StageChannels { get; }

    /// <summary>"ResNet-20 (width 1)", "ResNet-56 (width 4, no residual)".</summary>
    public string Architecture => Describe(Depth, Width, Residual);

    public static string Describe(int depth, double width, bool residual) =>
        $"ResNet-{depth} (width {width.ToString(System.Globalization.CultureInfo.InvariantCulture)}{(residual ? "" : ", no residual")})";

    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>Names of the residual blocks in forward order: "stage1.block1", ...</summary>
    public IReadOnlyList<string> BlockNames => _blocks.Keys.ToList();

    /// <summary>Blocks skipped in forward: a deleted block outputs its shortcut of the input (the identity,
    /// or the projection where the block has one), for block-deletion experiments. Names as in <see cref="BlockNames"/>.</summary>
    public IReadOnlySet<string> DeletedBlocks
    {
        get => _deleted;
        set
        {
            var unknown = value.Where(n => !_blocks.ContainsKey(n)).ToList();
            if (unknown.Count > 0)
            {
                throw new RepscopeException($"no block named {string.Join(", ", unknown.Select(u => $"'{u}'"))} in {Architecture}; blocks are stage1.block1 ... stage3.block{BlocksPerStage}");
            }
            var reshaping = value.Where(n => _blocks[n].ChangesShape && !_blocks[n].HasProjection).ToList();
            if (reshaping.Count > 0)
            {
                throw new RepscopeException($"cannot delete {string.Join(", ", reshaping)} of {Architecture}: the block changes the shape and has no shortcut to pass its input through");
            }
            _deleted = new HashSet<string>(value, StringComparer.Ordinal);
            foreach (var (name, block) in _blocks) { block.Deleted = _deleted.Contains(name); }
        }
    }

    /// <summary>The tap names of <paramref name="set"/>, in forward order.</summary>
    public IReadOnlyList<string> TapNames(TapSet set)
    {
        var names = new List<string>();
        if (set == TapSet.All) { names.AddRange(["stem.conv", "stem.bn"]); }
        names.Add("stem");
        foreach (var (name, block) in _blocks)
        {
            if (set == TapSet.All)
            {
                names.AddRange([$"{name}.branch.conv1", $"{name}.branch.bn1", $"{name}.branch.relu", $"{name}.branch.conv2", $"{name}.branch"]);
                if (block.HasProjection) { names.Add($"{name}.shortcut"); }
            }
            else if (set == TapSet.Branches)
            {
                names.Add($"{name}.branch");
            }
            names.Add(name);
        }
        return names;
    }

    /// <summary>The module whose output is tap <paramref name="tap"/>.</summary>
    internal Module<Tensor, Tensor> TapModule(string tap)
    {
        foreach (var (name, module) in named_modules())
        {
            if (name == tap && module is Module<Tensor, Tensor> m) { return m; }
        }
        throw new RepscopeException($"{Architecture} has no layer '{tap}'");
    }

    public override Tensor forward(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != InChannels)
        {
            throw new RepscopeException($"{Architecture} expects input [batch, {InChannels}, H, W], got [{string.Join(", ", x.shape)}]");
        }
        if (!training) { return EvalForward(x); }
        using var scope = NewDisposeScope();
        // While training, activations go in channels-last (NHWC) memory order, which every layer then keeps: oneDNN's
        // convolutions skip their per-call reorders and BatchNorm runs its channels-last kernels. A one-channel batch
        // (Fashion-MNIST) is NCHW and NHWC at once, and libtorch then keeps NCHW for the stem convolution's output
        // (its weights are NCHW), so the order is also set on that output: without it the whole network ran in NCHW
        // (ResNet-20 width 1 trained 1.2x slower). Eval mode keeps NCHW, which the taps and exports expect.
        x = ChannelsLast(x);
        var h = x;
        foreach (var layer in stem.children().Cast<Module<Tensor, Tensor>>())
        {
            h = layer.call(h);
            if (layer is Conv2d && h.stride(1) != 1) { h = ChannelsLast(h); }
        }
        h = stage1.call(h);
        h = stage2.call(h);
        h = stage3.call(h);
        h = pool.call(h).flatten(1);
        return fc.call(h).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Eval mode (analyses and exports): the same operations as training's path in NCHW, with each residual block's
    /// output freed as soon as the next block has made its own, so that a forward pass holds two block outputs at a
    /// time instead of all of them (ResNet-56 on a batch of 256 CIFAR images: about 250 MB less; taps are copied out by
    /// their hooks).
    /// </summary>
    private Tensor EvalForward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = stem.call(x);
        foreach (var stage in new[] { stage1, stage2, stage3 })
        {
            foreach (var block in stage.children().Cast<Module<Tensor, Tensor>>())
            {
                var next = block.call(h);
                h.Dispose();
                h = next;
            }
        }
        h = pool.call(h).flatten(1);
        return fc.call(h).MoveToOuterDisposeScope();
    }

    /// <summary>The same [N, C, H, W] tensor with channels-last strides (TorchSharp has no memory-format argument).</summary>
    internal static Tensor ChannelsLast(Tensor x) => x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);

    /// <summary>He (fan-out, ReLU) initialisation of convolutions, BN weight 1 and bias 0, PyTorch's default for
    /// the classifier, all drawn from <paramref name="generator"/> so that a seed fixes the model.</summary>
    public void Initialise(Generator generator)
    {
        using var noGrad = no_grad();
        foreach (var (_, module) in named_modules())
        {
            switch (module)
            {
                case Conv2d conv:
                {
                    var w = conv.weight!;
                    long fanOut = w.shape[0] * w.shape[2] * w.shape[3];
                    using var r = randn(w.shape, generator: generator);
                    using var std = Math.Sqrt(2.0 / fanOut).ToScalar();
                    w.copy_(r.mul_(std));
                    break;
                }
                case BatchNorm2dKeptScalars bn:
                    bn.weight!.fill_(TorchScalars.One);
                    bn.bias!.zero_();
                    break;
                case Linear lin:
                {
                    double bound = 1.0 / Math.Sqrt(lin.weight!.shape[1]);
                    using Scalar span = (2 * bound).ToScalar(), low = bound.ToScalar();
                    using var rw = rand(lin.weight.shape, generator: generator);
                    lin.weight.copy_(rw.mul_(span).sub_(low));
                    using var rb = rand(lin.bias!.shape, generator: generator);
                    lin.bias.copy_(rb.mul_(span).sub_(low));
                    break;
                }
            }
        }
    }

    private Sequential MakeStage(int index, int inChannels, int channels, int stride)
    {
        var blocks = new List<(string, Module<Tensor, Tensor>)>();
        for (int b = 1; b <= BlocksPerStage; b++)
        {
            var block = new BasicBlock(b == 1 ? inChannels : channels, channels, b == 1 ? stride : 1, Residual);
            _blocks[$"stage{index}.block{b}"] = block;
            blocks.Add(($"block{b}", block));
        }
        return Sequential(blocks.ToArray());
    }

    internal static Conv2d Conv3x3(long inChannels, long outChannels, long stride) =>
        Conv2d(inChannels, outChannels, kernel_size: 3, stride: stride, padding: 1, bias: false);

    internal static Conv2d Conv1x1(long inChannels, long outChannels, long stride) =>
        Conv2d(inChannels, outChannels, kernel_size: 1, stride: stride, bias: false);
}

/// <summary>
/// The basic residual block: <c>branch</c> = conv3x3 → BN → ReLU → conv3x3 → BN; output =
/// ReLU(branch(x) + shortcut(x)), or ReLU(branch(x)) without residual connections. The shortcut is
/// the identity, or a 1x1 convolution + BN (<c>shortcut</c>) when the stride or channel count changes; a block
/// without residual connection has no shortcut (and no projection parameters). A deleted block outputs shortcut(x).
/// </summary>
public sealed class BasicBlock : Module<Tensor, Tensor>
{
    private readonly Sequential branch;
    private readonly Sequential? shortcut;

    public BasicBlock(int inChannels, int channels, int stride, bool residual) : base(nameof(BasicBlock))
    {
        Residual = residual;
        ChangesShape = stride != 1 || inChannels != channels;
        branch = Sequential(
            ("conv1", ResNet.Conv3x3(inChannels, channels, stride)), ("bn1", new BatchNorm2dKeptScalars(channels)), ("relu", new TrainingInPlaceReLU()),
            ("conv2", ResNet.Conv3x3(channels, channels, 1)), ("bn2", new BatchNorm2dKeptScalars(channels)));
        if (residual && (stride != 1 || inChannels != channels))
        {
            shortcut = Sequential(("conv", ResNet.Conv1x1(inChannels, channels, stride)), ("bn", new BatchNorm2dKeptScalars(channels)));
        }
        RegisterComponents();
    }

    public bool Residual { get; }
    public bool HasProjection => shortcut is not null;
    public bool ChangesShape { get; }
    public bool Deleted { get; internal set; }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        if (Deleted)
        {
            return (shortcut is null ? x.alias() : shortcut.call(x)).MoveToOuterDisposeScope();
        }
        var h = branch.call(x);
        // In place: the same values with two fewer activation-sized tensors per block. While training, batch norm's
        // backward needs its input, not its output; in eval mode (no autograd) the branch's output is a fresh tensor that
        // nothing else holds: a tap's hook has copied it out (Activations.Stream) before the addition overwrites it.
        if (Residual)
        {
            var s = shortcut is null ? x : shortcut.call(x);
            h = h.add_(s, TorchScalars.One);
        }
        return h.relu_().MoveToOuterDisposeScope();
    }
}

/// <summary>ReLU that works in place while the model trains (its input is a batch norm's output, which the batch
/// norm's backward does not need: the same values and gradients, one activation-sized tensor fewer) and out of place
/// in eval mode, where a hook may hold its input as a tap.</summary>
public sealed class TrainingInPlaceReLU : Module<Tensor, Tensor>
{
    public TrainingInPlaceReLU() : base("ReLU") { }

    public override Tensor forward(Tensor x) => training ? x.relu_().alias() : functional.relu(x);
}
