using System.Text;
using System.Text.RegularExpressions;

namespace AutoPrune.Evaluation;

/// <summary>Scores one prediction against its reference answer(s) and adds benchmark-specific summary numbers.</summary>
public interface IScorer
{
    /// <summary>The --scorer name.</summary>
    string Name { get; }

    /// <summary>True when a question is simply right or wrong (the record's "correct" is then a bool, else a score).</summary>
    bool IsBinary { get; }

    /// <summary>Null when this scorer can use the reference answers, else the problem (checked before a run spends model time).</summary>
    string? CheckAnswers(IReadOnlyList<string> answers);

    /// <summary>Score in [0, 1].</summary>
    double Score(string prediction, IReadOnlyList<string> answers);

    /// <summary>Extra summary numbers (e.g. POPE F1) from all scored records; empty for most scorers.</summary>
    IReadOnlyDictionary<string, double> Extras(IReadOnlyList<PredictionRecord> records);
}

public static class Scorers
{
    public static readonly IReadOnlyList<string> Names = ["exact", "pope", "vqa", "option", "mme"];

    public static IScorer ByName(string name) => name.ToLowerInvariant() switch
    {
        "exact" => new ExactScorer(),
        "pope" => new PopeScorer(),
        "vqa" => new VqaScorer(),
        "option" => new OptionScorer(),
        "mme" => new MmeScorer(),
        _ => throw new EvalSettingsException($"unknown scorer '{name}'; expected one of: {string.Join(", ", Names)}"),
    };

    /// <summary>
    /// Scorer suggested by the benchmark's path (file name first, then its two parent folders, since
    /// the LLaVA layout often names only the folder): pope, vqav2/textvqa -> vqa, scienceqa/mmbench -> option, mme; else exact.
    /// </summary>
    public static IScorer Default(string questionsPath)
    {
        var full = Path.GetFullPath(questionsPath);
        var hints = new List<string> { Path.GetFileName(full) };
        var dir = Path.GetDirectoryName(full);
        for (int i = 0; i < 2 && !string.IsNullOrEmpty(dir); i++)
        {
            hints.Add(Path.GetFileName(dir));
            dir = Path.GetDirectoryName(dir);
        }
        foreach (var raw in hints)
        {
            var h = raw.ToLowerInvariant();
            if (h.Contains("pope")) return new PopeScorer();
            if (h.Contains("vqav2") || h.Contains("textvqa")) return new VqaScorer();
            if (h.Contains("scienceqa") || h.Contains("mmbench")) return new OptionScorer();
            if (h.Contains("mme")) return new MmeScorer();
        }
        return new ExactScorer();
    }

    private static readonly IReadOnlyDictionary<string, double> NoExtras = new Dictionary<string, double>();

    // ---------------------------------------------------------------- shared helpers

    /// <summary>Removes the end-of-sequence marker some decoders leave in the text.</summary>
    internal static string StripEos(string s) => s.Replace("</s>", " ");

    // ---------------------------------------------------------------- exact (ShapeWorld, GQA)

    /// <summary>Lowercase, drop "&lt;/s&gt;", trim, strip trailing punctuation, collapse whitespace.</summary>
    public static string NormalizeExact(string s)
    {
        s = StripEos(s).ToLowerInvariant();
        s = Regex.Replace(s, @"\s+", " ").Trim();
        s = s.TrimEnd('.', ',', '!', '?', ';', ':', ' ');
        return s;
    }

    public sealed class ExactScorer : IScorer
    {
        public string Name => "exact";
        public bool IsBinary => true;
        public string? CheckAnswers(IReadOnlyList<string> answers) =>
            answers.All(a => NormalizeExact(a).Length == 0) ? "reference answer is empty after normalization" : null;
        public double Score(string prediction, IReadOnlyList<string> answers)
        {
            var p = NormalizeExact(prediction);
            return answers.Any(a => NormalizeExact(a) == p) ? 1 : 0;
        }
        public IReadOnlyDictionary<string, double> Extras(IReadOnlyList<PredictionRecord> records) => NoExtras;
    }

    // ---------------------------------------------------------------- pope

    /// <summary>
    /// POPE's yes/no reading of free-form text: keep the first sentence, drop commas, and answer "no"
    /// when a word is "no" or "not", else "yes". Case-insensitive and tolerant of other punctuation
    /// around words (the reference script is case-sensitive on "No"/"no"/"not" only).
    /// </summary>
    public static bool PopeSaysYes(string text)
    {
        text = StripEos(text);
        int dot = text.IndexOf('.');
        if (dot >= 0) text = text[..dot];
        text = text.Replace(",", "");
        foreach (var raw in text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            var w = raw.Trim('!', '?', ';', ':', '"', '\'', '(', ')').ToLowerInvariant();
            if (w is "no" or "not") return false;
        }
        return true;
    }

    private static bool? PopeLabel(string answer) => NormalizeExact(answer) switch { "yes" => true, "no" => false, _ => null };

    public sealed class PopeScorer : IScorer
    {
        public string Name => "pope";
        public bool IsBinary => true;
        public string? CheckAnswers(IReadOnlyList<string> answers) =>
            answers.Count == 1 && PopeLabel(answers[0]) is not null ? null : "POPE needs exactly one reference answer 'yes' or 'no'";
        public double Score(string prediction, IReadOnlyList<string> answers) =>
            PopeSaysYes(prediction) == PopeLabel(answers[0]) ? 1 : 0;

        /// <summary>Precision/recall/F1 with "yes" as the positive class, and the share of "yes" predictions (all in 0-100).</summary>
        public IReadOnlyDictionary<string, double> Extras(IReadOnlyList<PredictionRecord> records)
        {
            int tp = 0, fp = 0, fn = 0, yes = 0, n = 0;
            foreach (var r in records)
            {
                if (r.Answers is null) continue;
                n++;
                bool p = PopeSaysYes(r.Prediction), l = PopeLabel(r.Answers[0]) == true;
                if (p) yes++;
                if (p && l) tp++;
                else if (p && !l) fp++;
                else if (!p && l) fn++;
            }
            double precision = tp + fp == 0 ? 0 : (double)tp / (tp + fp);
            double recall = tp + fn == 0 ? 0 : (double)tp / (tp + fn);
            double f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
            return new Dictionary<string, double>
            {
                ["precision"] = 100 * precision,
                ["recall"] = 100 * recall,
                ["f1"] = 100 * f1,
                ["yes_ratio"] = n == 0 ? 0 : 100.0 * yes / n,
            };
        }
    }

    // ---------------------------------------------------------------- vqa (VQAv2, TextVQA)

    // The official VQA evaluation's normalization, re-implemented from its published rules.
    private static readonly char[] VqaPunct = [';', '/', '[', ']', '"', '{', '}', '(', ')', '=', '+', '\\', '_', '-', '>', '<', '@', '`', ',', '?', '!'];
    private static readonly Regex CommaBetweenDigits = new(@"\d,\d", RegexOptions.Compiled);
    // A period not followed by a digit is removed ("yes." -> "yes", "2.5" stays).
    private static readonly Regex PeriodStrip = new(@"\.(?!\d)", RegexOptions.Compiled);

    private static readonly Dictionary<string, string> NumberWords = new()
    {
        ["none"] = "0", ["zero"] = "0", ["one"] = "1", ["two"] = "2", ["three"] = "3", ["four"] = "4",
        ["five"] = "5", ["six"] = "6", ["seven"] = "7", ["eight"] = "8", ["nine"] = "9", ["ten"] = "10",
    };

    private static readonly HashSet<string> Articles = ["a", "an", "the"];

    // Apostrophe-less spellings mapped to the canonical contraction (the apostrophe survives punctuation handling).
    private static readonly Dictionary<string, string> Contractions = new()
    {
        ["aint"] = "ain't", ["arent"] = "aren't", ["cant"] = "can't", ["couldnt"] = "couldn't", ["couldve"] = "could've",
        ["didnt"] = "didn't", ["doesnt"] = "doesn't", ["dont"] = "don't", ["hadnt"] = "hadn't", ["hasnt"] = "hasn't",
        ["havent"] = "haven't", ["hed"] = "he'd", ["hes"] = "he's", ["howd"] = "how'd", ["howll"] = "how'll",
        ["hows"] = "how's", ["im"] = "i'm", ["ive"] = "i've", ["isnt"] = "isn't", ["itd"] = "it'd",
        ["itll"] = "it'll", ["itsnt"] = "it'sn't", ["lets"] = "let's", ["mightnt"] = "mightn't", ["mightve"] = "might've",
        ["mustnt"] = "mustn't", ["mustve"] = "must've", ["neednt"] = "needn't", ["notve"] = "not've", ["oclock"] = "o'clock",
        ["shant"] = "shan't", ["shed"] = "she'd", ["shes"] = "she's", ["shouldnt"] = "shouldn't", ["shouldve"] = "should've",
        ["somebodys"] = "somebody's", ["someones"] = "someone's", ["somethings"] = "something's", ["thats"] = "that's",
        ["thered"] = "there'd", ["therere"] = "there're", ["theres"] = "there's", ["theyd"] = "they'd", ["theyll"] = "they'll",
        ["theyre"] = "they're", ["theyve"] = "they've", ["wasnt"] = "wasn't", ["wed"] = "we'd", ["weve"] = "we've",
        ["werent"] = "weren't", ["whatll"] = "what'll", ["whatre"] = "what're", ["whats"] = "what's", ["whatve"] = "what've",
        ["whens"] = "when's", ["whered"] = "where'd", ["wheres"] = "where's", ["whereve"] = "where've", ["whod"] = "who'd",
        ["wholl"] = "who'll", ["whos"] = "who's", ["whove"] = "who've", ["whyll"] = "why'll", ["whyre"] = "why're",
        ["whys"] = "why's", ["wont"] = "won't", ["wouldnt"] = "wouldn't", ["wouldve"] = "would've", ["yall"] = "y'all",
        ["youd"] = "you'd", ["youll"] = "you'll", ["youre"] = "you're", ["youve"] = "you've",
    };

    /// <summary>
    /// VQA answer normalization: punctuation (removed when it touches a space or the text has a
    /// digit-comma-digit like "1,000", else replaced by a space), period stripping, lowercase,
    /// number words to digits, articles dropped, contractions canonicalized, whitespace collapsed.
    /// </summary>
    public static string NormalizeVqa(string s)
    {
        s = StripEos(s).Replace('\n', ' ').Replace('\t', ' ').Trim();
        bool digitComma = CommaBetweenDigits.IsMatch(s);
        foreach (var p in VqaPunct)
        {
            if (s.IndexOf(p) < 0) continue;
            bool remove = digitComma || s.Contains(p + " ") || s.Contains(" " + p);
            s = s.Replace(p.ToString(), remove ? "" : " ");
        }
        s = PeriodStrip.Replace(s, "");
        var words = new List<string>();
        foreach (var raw in s.ToLowerInvariant().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            var w = NumberWords.GetValueOrDefault(raw, raw);
            if (Articles.Contains(w)) continue;
            words.Add(Contractions.GetValueOrDefault(w, w));
        }
        return string.Join(' ', words);
    }

    /// <summary>
    /// VQA accuracy: for each human answer left out in turn, min(#remaining humans agreeing / 3, 1),
    /// averaged (the official 10-choose-9 averaging). With a single reference it is plain normalized match.
    /// </summary>
    public static double VqaAccuracy(string prediction, IReadOnlyList<string> answers)
    {
        var p = NormalizeVqa(prediction);
        var gts = answers.Select(NormalizeVqa).ToArray();
        if (gts.Length == 1) return gts[0] == p ? 1 : 0;
        int matching = gts.Count(g => g == p);
        double sum = 0;
        foreach (var g in gts)
        {
            int others = matching - (g == p ? 1 : 0);
            sum += Math.Min(1.0, others / 3.0);
        }
        return sum / gts.Length;
    }

    public sealed class VqaScorer : IScorer
    {
        public string Name => "vqa";
        public bool IsBinary => false;
        public string? CheckAnswers(IReadOnlyList<string> answers) => answers.Count == 0 ? "no reference answers" : null;
        public double Score(string prediction, IReadOnlyList<string> answers) => VqaAccuracy(prediction, answers);
        public IReadOnlyDictionary<string, double> Extras(IReadOnlyList<PredictionRecord> records) => NoExtras;
    }

    // ---------------------------------------------------------------- option (ScienceQA, MMBench)

    private static readonly Regex[] OptionPatterns =
    [
        new(@"^\(?([A-E])\)?[.:)]?$", RegexOptions.Compiled),                  // "A", "(A)", "A.", "A)"
        new(@"^\(?([A-E])(?:\)|[.:])(?:\s|$)", RegexOptions.Compiled),          // "A. blue", "(A) blue", "A: blue"
        new(@"(?i:answer)\s*(?:(?i:is)|:)?\s*:?\s*\(?([A-E])\b", RegexOptions.Compiled), // "The answer is A"
        new(@"\(([A-E])\)", RegexOptions.Compiled),                              // "... (B) ..."
    ];

    /// <summary>The chosen option letter A-E, or null when the text names none.</summary>
    public static char? ExtractOption(string text)
    {
        var s = StripEos(text).Trim();
        foreach (var re in OptionPatterns)
        {
            var m = re.Match(s);
            if (m.Success) return char.ToUpperInvariant(m.Groups[1].Value[0]);
        }
        return null;
    }

    public sealed class OptionScorer : IScorer
    {
        public string Name => "option";
        public bool IsBinary => true;
        public string? CheckAnswers(IReadOnlyList<string> answers) =>
            answers.Count == 1 && ExtractOption(answers[0]) is not null ? null : "option scorer needs exactly one reference answer naming a letter A-E";
        public double Score(string prediction, IReadOnlyList<string> answers)
        {
            var p = ExtractOption(prediction);
            return p is not null && p == ExtractOption(answers[0]) ? 1 : 0;
        }
        public IReadOnlyDictionary<string, double> Extras(IReadOnlyList<PredictionRecord> records) => NoExtras;
    }

    // ---------------------------------------------------------------- mme

    /// <summary>MME's reading of a response: exactly yes/no, else "yes"/"no" within the first 4 characters, else neither (null).</summary>
    public static bool? MmeYesNo(string text)
    {
        var s = NormalizeExact(text);
        if (s == "yes") return true;
        if (s == "no") return false;
        var prefix = s.Length > 4 ? s[..4] : s;
        if (prefix.Contains("yes")) return true;
        if (prefix.Contains("no")) return false;
        return null;
    }

    public sealed class MmeScorer : IScorer
    {
        public string Name => "mme";
        public bool IsBinary => true;
        public string? CheckAnswers(IReadOnlyList<string> answers) =>
            answers.Count == 1 && NormalizeExact(answers[0]) is "yes" or "no" ? null : "MME needs exactly one reference answer 'yes' or 'no'";
        public double Score(string prediction, IReadOnlyList<string> answers)
        {
            var p = MmeYesNo(prediction);
            return p is not null && p == (NormalizeExact(answers[0]) == "yes") ? 1 : 0;
        }

        /// <summary>
        /// acc_plus: share of images (per category) whose questions are all correct, in 0-100.
        /// mme_score: the MME total, sum over categories of 100*(acc + acc+).
        /// </summary>
        public IReadOnlyDictionary<string, double> Extras(IReadOnlyList<PredictionRecord> records)
        {
            var scored = records.Where(r => r.Answers is not null).ToList();
            var groups = scored.GroupBy(r => (r.Category ?? "", r.Image ?? r.QuestionId)).ToList();
            double accPlus = groups.Count == 0 ? 0 : 100.0 * groups.Count(g => g.All(r => Score(r.Prediction, r.Answers!) == 1)) / groups.Count;
            double total = 0;
            foreach (var cat in scored.GroupBy(r => r.Category ?? ""))
            {
                double acc = cat.Average(r => Score(r.Prediction, r.Answers!));
                var pairs = cat.GroupBy(r => r.Image ?? r.QuestionId).ToList();
                double plus = (double)pairs.Count(g => g.All(r => Score(r.Prediction, r.Answers!) == 1)) / pairs.Count;
                total += 100 * (acc + plus);
            }
            return new Dictionary<string, double> { ["acc_plus"] = accPlus, ["mme_score"] = total };
        }
    }
}
