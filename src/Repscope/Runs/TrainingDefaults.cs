namespace Repscope.Runs;

/// <summary>
/// The training recipe's defaults, defined once: the paper's recipe (SGD, momentum 0.9, batch 128, cosine decay,
/// weight decay, crop + flip) sized to finish in minutes on 2 cores. <c>train</c>, <c>reproduce</c> and the run
/// format all take them from here.
/// </summary>
public static class TrainingDefaults
{
    public const int Depth = 20;
    public const double Width = 1;
    public const int Epochs = 5;
    public const int BatchSize = 128;
    public const double Lr = 0.1;
    public const double WeightDecay = 5e-4;
    public const double Momentum = 0.9;
    /// <summary>Epochs of linear learning-rate warm-up before the cosine decay.</summary>
    public const double WarmupEpochs = 1;
    /// <summary>Padding of the random crops.</summary>
    public const int CropPadding = 4;
    /// <summary>The cap on the training-set size when neither a fraction nor a number of training examples is given:
    /// the size of the shipped split, so a default run is the same whether or not the full Fashion-MNIST is installed.</summary>
    public const long TrainExamples = 8000;
    public const int Seed = 1;
}
