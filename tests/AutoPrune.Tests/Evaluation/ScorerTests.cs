using AutoPrune.Evaluation;

namespace AutoPrune.Tests.Evaluation;

public class ScorerTests
{
    private static PredictionRecord Rec(string id, string pred, string answer, string? cat = null, string? image = null) =>
        new(id, 0, pred, [answer], null, cat, image, [1], 1, 1, 1, 1, 1);

    // ------------------------------------------------------------ exact

    [Theory]
    [InlineData("  Red.</s>", "red")]
    [InlineData("Blue   circle!", "blue circle")]
    [InlineData("yes?!", "yes")]
    [InlineData("LEFT\n side ", "left side")]
    public void Exact_normalization(string raw, string expected) => Assert.Equal(expected, Scorers.NormalizeExact(raw));

    [Fact]
    public void Exact_scores_any_matching_reference()
    {
        var s = new Scorers.ExactScorer();
        Assert.Equal(1, s.Score("Red.", ["red"]));
        Assert.Equal(1, s.Score("left side", ["left", "Left side"]));
        Assert.Equal(0, s.Score("reddish", ["red"]));
        Assert.Equal(0, s.Score("the red", ["red"])); // exact keeps articles, unlike vqa
    }

    // ------------------------------------------------------------ vqa

    [Theory]
    [InlineData("two", "2")]
    [InlineData("None", "0")]
    [InlineData("the cat", "cat")]
    [InlineData("A dog", "dog")]
    [InlineData("yes.", "yes")]
    [InlineData("dont", "don't")]
    [InlineData("don't", "don't")]
    [InlineData("1,000", "1000")]
    [InlineData("2.5", "2.5")]
    [InlineData("red, white", "red white")]
    [InlineData("black-and-white", "black and white")]
    [InlineData("(left)", "left")]
    [InlineData("Yes</s>", "yes")]
    [InlineData("  it's   ten o'clock ", "it's 10 o'clock")]
    public void Vqa_normalization(string raw, string expected) => Assert.Equal(expected, Scorers.NormalizeVqa(raw));

    private static string[] Humans(int matching, string match = "2", string other = "3") =>
        Enumerable.Repeat(match, matching).Concat(Enumerable.Repeat(other, 10 - matching)).ToArray();

    [Theory]
    [InlineData(0, 0.0)]
    [InlineData(1, 0.3)]
    [InlineData(2, 0.6)]
    [InlineData(3, 0.9)]
    [InlineData(4, 1.0)]
    [InlineData(10, 1.0)]
    public void Vqa_accuracy_averages_over_leave_one_out_subsets(int matching, double expected) =>
        Assert.Equal(expected, Scorers.VqaAccuracy("two", Humans(matching)), 10);

    [Fact]
    public void Vqa_accuracy_normalizes_human_answers_too()
    {
        Assert.Equal(0.9, Scorers.VqaAccuracy("The cat.", ["cat", "a cat", "Cat", "dog", "dog", "dog", "dog", "dog", "dog", "dog"]), 10);
        Assert.Equal(1, Scorers.VqaAccuracy("yes", ["Yes."]));   // single reference: plain normalized match
        Assert.Equal(0, Scorers.VqaAccuracy("no", ["yes"]));
        Assert.False(new Scorers.VqaScorer().IsBinary);
    }

    // ------------------------------------------------------------ pope

    [Theory]
    [InlineData("No, there is not.", false)]
    [InlineData("Yes, there is a dog", true)]
    [InlineData("There is no dog in the image", false)]
    [InlineData("There is not a dog.", false)]
    [InlineData("Yes. There is no cat but there is a dog.", true)] // only the first sentence counts
    [InlineData("NO", false)]
    [InlineData("no!", false)]
    [InlineData("Yes</s>", true)]
    [InlineData("I see nothing unusual", true)] // "nothing" is not the word "no"
    public void Pope_yes_no_parsing(string text, bool yes) => Assert.Equal(yes, Scorers.PopeSaysYes(text));

    [Fact]
    public void Pope_metrics()
    {
        // labels: y y y n n ; predictions: y y n y n -> tp 2, fn 1, fp 1, tn 1
        var recs = new[]
        {
            Rec("1", "Yes", "yes"), Rec("2", "Yes, it is", "yes"), Rec("3", "No.", "yes"),
            Rec("4", "Yes", "no"), Rec("5", "There is no car", "no"),
        };
        var s = new Scorers.PopeScorer();
        Assert.Equal(3, recs.Sum(r => s.Score(r.Prediction, r.Answers!)));
        var x = s.Extras(recs);
        Assert.Equal(100 * 2.0 / 3, x["precision"], 9);
        Assert.Equal(100 * 2.0 / 3, x["recall"], 9);
        Assert.Equal(100 * 2.0 / 3, x["f1"], 9);
        Assert.Equal(60, x["yes_ratio"], 9);
        Assert.NotNull(s.CheckAnswers(["maybe"]));
        Assert.Null(s.CheckAnswers(["Yes"]));
    }

    // ------------------------------------------------------------ option

    [Theory]
    [InlineData("A", 'A')]
    [InlineData("(B)", 'B')]
    [InlineData("C.", 'C')]
    [InlineData("D. The blue one", 'D')]
    [InlineData("(E) neither", 'E')]
    [InlineData("The answer is B.", 'B')]
    [InlineData("I think the answer is (C) because ...", 'C')]
    [InlineData("Answer: D", 'D')]
    [InlineData("A</s>", 'A')]
    public void Option_letter_extraction(string text, char letter) => Assert.Equal(letter, Scorers.ExtractOption(text));

    [Theory]
    [InlineData("A cat is sitting")]
    [InlineData("the answer is a cat")]
    [InlineData("F")]
    [InlineData("")]
    public void Option_letter_absent(string text) => Assert.Null(Scorers.ExtractOption(text));

    [Fact]
    public void Option_scores_letters()
    {
        var s = new Scorers.OptionScorer();
        Assert.Equal(1, s.Score("The answer is B.", ["B"]));
        Assert.Equal(0, s.Score("A cat", ["A"]));
        Assert.NotNull(s.CheckAnswers(["blue"]));
    }

    // ------------------------------------------------------------ mme

    [Fact]
    public void Mme_acc_plus_counts_images_with_both_questions_right()
    {
        var recs = new[]
        {
            Rec("1", "Yes", "yes", "color", "x.jpg"), Rec("2", "No", "no", "color", "x.jpg"),    // both right
            Rec("3", "Yes", "yes", "color", "y.jpg"), Rec("4", "Yes", "no", "color", "y.jpg"),   // one right
            Rec("5", "No, it is not", "no", "count", "z.jpg"), Rec("6", "Yes, two", "yes", "count", "z.jpg"), // both right
            Rec("7", "maybe", "yes", "count", "w.jpg"), Rec("8", "No", "no", "count", "w.jpg"), // "maybe" is neither
        };
        var s = new Scorers.MmeScorer();
        Assert.Equal(6, recs.Sum(r => s.Score(r.Prediction, r.Answers!)));
        var x = s.Extras(recs);
        Assert.Equal(50, x["acc_plus"], 9);                        // x and z of x, y, z, w
        Assert.Equal(100 * (0.75 + 0.5) * 2, x["mme_score"], 9);    // color: 75 + 50, count: 75 + 50
    }

    [Theory]
    [InlineData("Yes", true)]
    [InlineData("no.", false)]
    [InlineData("Yes, there is", true)]
    [InlineData("No, there is not", false)]
    [InlineData("The image shows yes", null)]
    public void Mme_yes_no(string text, bool? yes) => Assert.Equal(yes, Scorers.MmeYesNo(text));

    // ------------------------------------------------------------ names

    [Theory]
    [InlineData("/d/pope/llava_pope_test.jsonl", "pope")]
    [InlineData("/d/vqav2/llava_vqav2_mscoco_test-dev2015.jsonl", "vqa")]
    [InlineData("/d/textvqa/questions.jsonl", "vqa")]
    [InlineData("/d/scienceqa/llava_test_CQM-A.json", "option")]
    [InlineData("/d/MMBench/mmbench_dev_20230712.jsonl", "option")]
    [InlineData("/d/MME/llava_mme.jsonl", "mme")]
    [InlineData("/d/shapes-vqa/dev/questions.jsonl", "exact")]
    [InlineData("/d/gqa/llava_gqa_testdev_balanced.jsonl", "exact")]
    public void Default_scorer_from_path(string path, string name) => Assert.Equal(name, Scorers.Default(path).Name);

    [Fact]
    public void Scorers_by_name()
    {
        foreach (var n in Scorers.Names) Assert.Equal(n, Scorers.ByName(n).Name);
        Assert.Throws<EvalSettingsException>(() => Scorers.ByName("bleu"));
    }
}
