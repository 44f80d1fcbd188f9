namespace Repscope.Data;

/// <summary>
/// Finds and loads a data set. Without a path, looks for a folder named after the data set in
/// $REPSCOPE_DATA, ./data, the repository's data/ folder and /usr/share/datasets, in that order.
/// For Fashion-MNIST the first folder with the full data set wins; when none has it, the test
/// split alone (shipped in the repository) is used, split 8,000 / 2,000, and the run says so.
/// </summary>
public static class DataSets
{
    /// <summary>Seed of the fixed 8,000 / 2,000 split of the shipped Fashion-MNIST test split.</summary>
    public const int SmallSplitSeed = 20210;
    public const long SmallTrainCount = 8000;
    /// <summary>Seed of test-set subsets (--test-examples): fixed, so every run evaluates on the same examples.</summary>
    public const int TestSubsetSeed = 0;
    /// <summary>Seed of the 80 / 20 split of an image folder without train/ and test/.</summary>
    public const int FolderSplitSeed = 0;

    public static readonly IReadOnlyList<string> FashionMnistClasses =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
    public static readonly IReadOnlyList<string> Cifar10Classes =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck$"];

    public static DataSplits Load(DataSpec spec, IProgressReporter? progress = null)
    {
        spec.Validate();
        progress ??= ProgressReporter.None;
        var (trainRaw, testRaw, classNames, source, location) = LoadRaw(spec, progress);
        return MakeSplits(spec, trainRaw, testRaw, classNames, source, location);
    }

    /// <summary>Only the test split (with --test-examples applied), normalised with <paramref name="normalisation"/>
    /// (a run's recorded statistics): what analyses need, without normalising the whole training split.</summary>
    public static ImageDataset LoadTest(DataSpec spec, Normalisation normalisation, IProgressReporter? progress = null)
    {
        spec.Validate();
        var (_, testRaw, classNames, _, _) = LoadRaw(spec, progress ?? ProgressReporter.None);
        if (normalisation.Mean.Length != testRaw.Channels)
        {
            throw new RepscopeException($"normalisation has {normalisation.Mean.Length} channels, the {DataSpec.NameOf(spec.Name)} images have {testRaw.Channels}$");
        }
        return new ImageDataset(DataSpec.NameOf(spec.Name), TestSubset(spec, testRaw, classNames.Count), classNames.Count, classNames, normalisation);
    }

    /// <summary>The test split (with --test-examples applied) as raw pixels, and its class names.</summary>
    public static (RawImages Images, IReadOnlyList<string> Classes) LoadTestRaw(DataSpec spec, IProgressReporter? progress = null)
    {
        spec.Validate();
        var (_, testRaw, classNames, _, _) = LoadRaw(spec, progress ?? ProgressReporter.None);
        return (TestSubset(spec, testRaw, classNames.Count), classNames);
    }

    private static RawImages TestSubset(DataSpec spec, RawImages testRaw, int classes)
    {
        if (spec.TestExamples is not { } m) { return testRaw; }
        if (m > testRaw.Count) { throw new RepscopeException($"{RepscopeException.Option("testExamples")} {m}: the {DataSpec.NameOf(spec.Name)} test split has only {testRaw.Count} examples"); }
        return testRaw.Select(Subsets.Stratified(testRaw.Labels, classes, m, TestSubsetSeed));
    }

    private static DataSplits MakeSplits(DataSpec spec, RawImages trainRaw, RawImages testRaw, IReadOnlyList<string> classNames,
                                         DataSource source, string location)
    {
        string name = DataSpec.NameOf(spec.Name);
        int classes = classNames.Count;
        testRaw = TestSubset(spec, testRaw, classes);
        var norm = trainRaw.Statistics();
        long available = trainRaw.Count;
        long count = spec.TrainExamples ?? (spec.TrainFraction is { } f ? Math.Max(1, (long)Math.Round(f * available))
                                           : Math.Min(spec.TrainExamplesCap ?? available, available));
        if (count > available) { throw new RepscopeException($"{RepscopeException.Option("trainExamples")} {count}: the {name} training split ({SourceText(source)}) has only {available} examples"); }
        if (count < available) { trainRaw = trainRaw.Select(Subsets.Stratified(trainRaw.Labels, classes, count, spec.Seed)); }
        var train = new ImageDataset(name, trainRaw, classes, classNames, norm);
        var test = new ImageDataset(name, testRaw, classes, classNames, norm);
        return new DataSplits(train, test, source, location, available);
    }

    public static string SourceText(DataSource s) => s switch
    {
        DataSource.Full => "full data set",
        DataSource.TestSplitOnly => "test split only, 8,000 / 2,000",
        _ => "folder split 80 / 20",
    };

    private static (RawImages Train, RawImages Test, IReadOnlyList<string> Classes, DataSource Source, string Location)
        LoadRaw(DataSpec spec, IProgressReporter progress)
    {
        using var task = progress.Start($"loading {DataSpec.NameOf(spec.Name)}", 1);
        var result = spec.Name switch
        {
            DataName.FashionMnist or DataName.FashionMnistSmall or DataName.Mnist => LoadIdx(spec),
            DataName.Cifar10 => LoadCifar10(spec),
            DataName.Cifar100 => LoadCifar100(spec),
            _ => LoadFolder(spec, progress),
        };
        task.Complete($"{result.Item1.Count} train, {result.Item2.Count} test from {result.Item5}");
        return result;
    }

    private const string IdxTrainImages = "train-images-idx3-ubyte", IdxTrainLabels = "train-labels-idx1-ubyte";
    private const string IdxTestImages = "t10k-images-idx3-ubyte", IdxTestLabels = "t10k-labels-idx1-ubyte";

    private static (RawImages, RawImages, IReadOnlyList<string>, DataSource, string) LoadIdx(DataSpec spec)
    {
        bool fashion = spec.Name != DataName.Mnist;
        string dirName = fashion ? "fashion-mnist" : "mnist";
        IReadOnlyList<string> classes = fashion ? FashionMnistClasses : Enumerable.Range(0, 10).Select(i => i.ToString()).ToList();
        bool HasFull(string d) => FindIdx(d, IdxTrainImages) != null && FindIdx(d, IdxTrainLabels) != null && HasTest(d);
        bool HasTest(string d) => FindIdx(d, IdxTestImages) != null && FindIdx(d, IdxTestLabels) != null;

        var candidates = spec.Path is { } p ? [p] : SearchFolders(dirName);
        string? full = spec.Name == DataName.FashionMnistSmall ? null : candidates.FirstOrDefault(HasFull);
        if (full != null)
        {
            var train = Idx.Read(FindIdx(full, IdxTrainImages)!, FindIdx(full, IdxTrainLabels)!, 10);
            var test = Idx.Read(FindIdx(full, IdxTestImages)!, FindIdx(full, IdxTestLabels)!, 10);
            return (train, test, classes, DataSource.Full, full);
        }
        string? small = fashion ? candidates.FirstOrDefault(HasTest) : null;
        if (small != null)
        {
            var all = Idx.Read(FindIdx(small, IdxTestImages)!, FindIdx(small, IdxTestLabels)!, 10);
            var trainIdx = Subsets.Stratified(all.Labels, 10, SmallTrainCount, SmallSplitSeed);
            var testIdx = Subsets.Complement(all.Count, trainIdx);
            return (all.Select(trainIdx), all.Select(testIdx), classes, DataSource.TestSplitOnly, small);
        }
        string need = spec.Name == DataName.FashionMnistSmall
            ? $"{IdxTestImages}[.gz] and {IdxTestLabels}[.gz]"
            : $"{IdxTrainImages}, {IdxTrainLabels}, {IdxTestImages}, {IdxTestLabels} (each optionally .gz)";
        string how = fashion
            ? "install Debian's dataset-fashion-mnist package, or download the four IDX files from https://github.com/zalandoresearch/fashion-mnist (MIT licence) into one of these folders"
            : "download the four IDX files of MNIST into one of these folders";
        throw NotFound(DataSpec.NameOf(spec.Name), candidates, need, how);
    }

    private static (RawImages, RawImages, IReadOnlyList<string>, DataSource, string) LoadCifar10(DataSpec spec)
    {
        string[] trainFiles = Enumerable.Range(1, 5).Select(i => $"data_batch_{i}.bin").ToArray();
        string? dir = FindWithFiles(spec.Path, "cifar10", "cifar-10-batches-bin", [.. trainFiles, "test_batch.bin"]);
        if (dir is null)
        {
            throw NotFound("cifar10", spec.Path is { } p ? [p] : SearchFolders("cifar10"), "data_batch_1..5.bin and test_batch.bin",
                "download the CIFAR-10 binary version (cifar-10-binary.tar.gz) from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it into one of these folders");
        }
        var train = CifarBinary.ReadCifar10(trainFiles.Select(f => Path.Combine(dir, f)).ToList());
        var test = CifarBinary.ReadCifar10([Path.Combine(dir, "test_batch.bin")]);
        var names = CifarBinary.ReadNames(Path.Combine(dir, "batches.meta.txt"), 10) ?? Cifar10Classes;
        return (train, test, names, DataSource.Full, dir);
    }

    private static (RawImages, RawImages, IReadOnlyList<string>, DataSource, string) LoadCifar100(DataSpec spec)
    {
        string? dir = FindWithFiles(spec.Path, "cifar100", "cifar-100-binary", ["train.bin", "test.bin"]);
        if (dir is null)
        {
            throw NotFound("cifar100", spec.Path is { } p ? [p] : SearchFolders("cifar100"), "train.bin and test.bin",
                "download the CIFAR-100 binary version (cifar-100-binary.tar.gz) from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it into one of these folders");
        }
        bool coarse = spec.Cifar100Labels == Cifar100Labels.Coarse;
        int classes = coarse ? 20 : 100;
        var train = CifarBinary.ReadCifar100([Path.Combine(dir, "train.bin")], spec.Cifar100Labels);
        var test = CifarBinary.ReadCifar100([Path.Combine(dir, "test.bin")], spec.Cifar100Labels);
        var names = CifarBinary.ReadNames(Path.Combine(dir, coarse ? "coarse_label_names.txt" : "fine_label_names.txt"), classes)
                    ?? Enumerable.Range(0, classes).Select(i => $"class {i}").ToList();
        return (train, test, names, DataSource.Full, dir);
    }

    private static (RawImages, RawImages, IReadOnlyList<string>, DataSource, string) LoadFolder(DataSpec spec, IProgressReporter progress)
    {
        string dir = spec.Path!;
        string trainDir = Path.Combine(dir, "train"), testDir = Path.Combine(dir, "test");
        if (Directory.Exists(trainDir) && Directory.Exists(testDir))
        {
            var (train, trainNames) = ImageFolder.Read(trainDir, spec.ImageSize, progress);
            var (test, testNames) = ImageFolder.Read(testDir, spec.ImageSize, progress);
            if (!trainNames.SequenceEqual(testNames))
            {
                throw new RepscopeException($"{dir}: train/ and test/ have different class folders ({string.Join(",", trainNames)} vs {string.Join(",", testNames)})");
            }
            return (train, test, trainNames, DataSource.Full, dir);
        }
        var (all, names) = ImageFolder.Read(dir, spec.ImageSize, progress);
        if (all.Count < 10) { throw new RepscopeException($"{dir}: only {all.Count} images; need at least 10 to split into train and test"); }
        var trainIdx = Subsets.Stratified(all.Labels, names.Count, (long)Math.Round(0.8 * all.Count), FolderSplitSeed);
        return (all.Select(trainIdx), all.Select(Subsets.Complement(all.Count, trainIdx)), names, DataSource.FolderSplit, dir);
    }

    /// <summary>The folders searched for data set <paramref name="dirName"/>, in order, existing or not.</summary>
    public static IReadOnlyList<string> SearchFolders(string dirName)
    {
        var list = new List<string>();
        if (Environment.GetEnvironmentVariable("REPSCOPE_DATA") is { Length: > 0 } env) { list.Add(Path.Combine(env, dirName)); }
        list.Add(Path.GetFullPath(Path.Combine("data", dirName)));
        if (RepositoryRoot() is { } repo) { list.Add(Path.Combine(repo, "data", dirName)); }
        list.Add(Path.Combine("/usr/share/datasets", dirName));
        return list.Distinct().ToList();
    }

    /// <summary>The repository this program was built from (the folder holding Repscope.slnx above the binaries), if any.</summary>
    public static string? RepositoryRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "Repscope.slnx"))) { return d.FullName; }
        }
        return null;
    }

    private static string? FindIdx(string dir, string stem)
    {
        foreach (string f in new[] { stem + ".gz", stem })
        {
            string p = Path.Combine(dir, f);
            if (File.Exists(p)) { return p; }
        }
        return null;
    }

    private static string? FindWithFiles(string? path, string dirName, string archiveDir, string[] files)
    {
        var roots = path is { } p ? [p] : SearchFolders(dirName);
        foreach (string r in roots)
        {
            foreach (string d in new[] { r, Path.Combine(r, archiveDir) })
            {
                if (files.All(f => File.Exists(Path.Combine(d, f)))) { return d; }
            }
        }
        return null;
    }

    private static RepscopeException NotFound(string name, IReadOnlyList<string> looked, string need, string how) =>
        new($"data set '{name}' not found: no folder with {need}; looked in {string.Join(", ", looked)}" +
            (Environment.GetEnvironmentVariable("REPSCOPE_DATA") is { Length: > 0 } ? "" : " ($REPSCOPE_DATA not set)") +
            $". To get it: {how}, or pass {RepscopeException.Option("data")} {name}:PATH.");
}
