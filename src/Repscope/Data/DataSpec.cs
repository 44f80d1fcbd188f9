namespace Repscope.Data;

/// <summary>The data sets Repscope reads. <see cref="FashionMnistSmall"/> is the 10,000-image
/// Fashion-MNIST test split shipped in the repository (data/fashion-mnist), split into 8,000
/// training and 2,000 evaluation images: the data a fresh machine without internet has.</summary>
public enum DataName { FashionMnist, FashionMnistSmall, Mnist, Cifar10, Cifar100, Folder }

/// <summary>Which files a data set came from.</summary>
public enum DataSource
{
    /// <summary>The data set's own train and test splits.</summary>
    Full,
    /// <summary>Fashion-MNIST's test split only (what ships in the repository), split 8,000 / 2,000.</summary>
    TestSplitOnly,
    /// <summary>An image folder without train/ and test/ sub-folders, split 80 / 20.</summary>
    FolderSplit,
}

/// <summary>
/// What to load: the data set, where (null: search $REPSCOPE_DATA, ./data, the repository's data/,
/// /usr/share/datasets), and which training examples (a seeded, stratified subset).
/// </summary>
public sealed record DataSpec
{
    public DataName Name { get; init; } = DataName.FashionMnist;
    public string? Path { get; init; }
    /// <summary>Fraction of the training split to train on (stratified, seeded); null with <see cref="TrainExamples"/> null = all.</summary>
    public double? TrainFraction { get; init; }
    /// <summary>Number of training examples (stratified, seeded); overrides nothing: give at most one of the two.</summary>
    public long? TrainExamples { get; init; }
    /// <summary>When neither <see cref="TrainFraction"/> nor <see cref="TrainExamples"/> is given: at most this many
    /// training examples (stratified, seeded), all of them when the split is smaller. Null = no cap.</summary>
    public long? TrainExamplesCap { get; init; }
    /// <summary>Evaluate on this many test examples (stratified, fixed seed, the same for every run); null = all.</summary>
    public long? TestExamples { get; init; }
    /// <summary>Seed of the training subset.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Side of the square images an image folder is resized to.</summary>
    public int ImageSize { get; init; } = 32;
    public Cifar100Labels Cifar100Labels { get; init; } = Cifar100Labels.Fine;

    public static readonly IReadOnlyDictionary<string, DataName> Names = new Dictionary<string, DataName>(StringComparer.OrdinalIgnoreCase)
    {
        ["fashion-mnist"] = DataName.FashionMnist,
        ["fashion-mnist-small"] = DataName.FashionMnistSmall,
        ["mnist"] = DataName.Mnist,
        ["cifar10"] = DataName.Cifar10,
        ["cifar100"] = DataName.Cifar100,
        ["folder"] = DataName.Folder,
    };

    public static string NameOf(DataName name) => Names.First(kv => kv.Value == name).Key;

    /// <summary>Parses <c>NAME[:PATH]</c>, e.g. <c>fashion-mnist</c>, <c>cifar10:/data/cifar-10-batches-bin</c>, <c>folder:./pets</c>.</summary>
    public static (DataName Name, string? Path) ParseNameAndPath(string text)
    {
        string t = text.Trim();
        int colon = t.IndexOf(':');
        string name = colon < 0 ? t : t[..colon];
        string? path = colon < 0 ? null : t[(colon + 1)..];
        if (!Names.TryGetValue(name, out var dn))
        {
            throw new RepscopeException($"unknown data set '{name}'; known: {string.Join(", ", Names.Keys)} (as NAME or NAME:PATH)");
        }
        if (path is { Length: 0 }) { throw new RepscopeException($"{RepscopeException.Option("data")} {text}: empty path after ':'"); }
        if (dn == DataName.Folder && path is null) { throw new RepscopeException($"{RepscopeException.Option("data")} folder needs a path: folder:PATH (one sub-folder per class)"); }
        return (dn, path);
    }

    /// <summary>Checks the numbers; throws RepscopeException naming the option.</summary>
    public void Validate()
    {
        if (TrainFraction is not null && TrainExamples is not null) { throw new RepscopeException($"give {RepscopeException.Option("trainFraction")} or {RepscopeException.Option("trainExamples")}, not both"); }
        if (TrainFraction is { } f && (!(f > 0) || f > 1)) { throw new RepscopeException($"{RepscopeException.Option("trainFraction")} must be in (0, 1], got {f}"); }
        if (TrainExamples is { } n && n < 1) { throw new RepscopeException($"{RepscopeException.Option("trainExamples")} must be positive, got {n}"); }
        if (TestExamples is { } m && m < 1) { throw new RepscopeException($"{RepscopeException.Option("testExamples")} must be positive, got {m}"); }
        if (ImageSize < 4) { throw new RepscopeException($"{RepscopeException.Option("imageSize")} must be at least 4, got {ImageSize}"); }
    }
}

/// <summary>Loaded data: the (subset of the) training split, the test split, and where they came from.</summary>
public sealed class DataSplits(ImageDataset train, ImageDataset test, DataSource source, string location, long trainAvailable) : IDisposable
{
    public ImageDataset Train { get; } = train;
    public ImageDataset Test { get; } = test;
    public DataSource Source { get; } = source;
    /// <summary>The folder the files were read from.</summary>
    public string Location { get; } = location;
    /// <summary>Size of the whole training split before subsetting.</summary>
    public long TrainAvailable { get; } = trainAvailable;
    public Normalisation Normalisation => Train.Normalisation;

    public void Dispose() { Train.Dispose(); Test.Dispose(); }
}
