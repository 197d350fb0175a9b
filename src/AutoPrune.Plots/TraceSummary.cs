using System.Globalization;
using AutoPrune.Accounting;

namespace AutoPrune.Plots;

/// <summary>How plots and the CLI show a trace's policy entries: the labelled values in one line.</summary>
public static class TraceSummary
{
    /// <summary>"MI0=0.41, MI1=3.2, k=0.00" from the values the policy labelled; "" when none.</summary>
    public static string Line(PrefillTrace t) => string.Join(", ", t.Values.Labelled.Select(v => $"{v.Label}={Fmt(v.Value)}"));

    internal static string Fmt(double v) => v.ToString(Math.Abs(v) >= 100 ? "F0" : Math.Abs(v) >= 10 ? "F1" : "F2", CultureInfo.InvariantCulture);
}
