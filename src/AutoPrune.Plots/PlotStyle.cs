using ScottPlot;

namespace AutoPrune.Plots;

/// <summary>Sizes, fonts and colors shared by the ScottPlot charts.</summary>
internal static class PlotStyle
{
    public const int Width = 1200, Height = 700;

    private static readonly Color[] Palette =
    [
        ScottPlot.Color.FromHex("#1f77b4"), ScottPlot.Color.FromHex("#d62728"), ScottPlot.Color.FromHex("#2ca02c"), ScottPlot.Color.FromHex("#ff7f0e"),
        ScottPlot.Color.FromHex("#9467bd"), ScottPlot.Color.FromHex("#8c564b"), ScottPlot.Color.FromHex("#e377c2"), ScottPlot.Color.FromHex("#17becf"),
        ScottPlot.Color.FromHex("#bcbd22"), ScottPlot.Color.FromHex("#7f7f7f"),
    ];

    public static Color Pick(int i) => Palette[((i % Palette.Length) + Palette.Length) % Palette.Length];

    public static readonly LinePattern[] Patterns = [LinePattern.Solid, LinePattern.Dashed, LinePattern.Dotted, LinePattern.DenselyDashed];

    public static Plot New(string title, string xLabel, string yLabel)
    {
        var plt = new Plot();
        plt.Title(title, size: 20);
        plt.XLabel(xLabel, size: 16);
        plt.YLabel(yLabel, size: 16);
        plt.Axes.Bottom.TickLabelStyle.FontSize = 13;
        plt.Axes.Left.TickLabelStyle.FontSize = 13;
        plt.Legend.FontSize = 13;
        return plt;
    }

    /// <summary>Layer axes: whole numbers only.</summary>
    public static void IntegerTicks(Plot plt) =>
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };

    public static void Save(Plot plt, string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir != null) Directory.CreateDirectory(dir);
        plt.SavePng(path, Width, Height);
    }
}
