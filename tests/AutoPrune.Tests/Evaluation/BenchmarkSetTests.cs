using AutoPrune.Evaluation;

namespace AutoPrune.Tests.Evaluation;

public class BenchmarkSetTests
{
    private const string Q0 = """{"question_id": 0, "image": "a.png", "text": "What?", "category": "color"}""";
    private const string Q1 = """{"question_id": "x1", "image": "b.png", "text": "Where?"}""";
    private const string A0 = """{"question_id": 0, "answer": "red"}""";
    private const string A1 = """{"question_id": "x1", "answer": ["left", "left side"], "category": "position"}""";

    private static BenchmarkFormatException LoadFails(string[] q, string[]? a, string[]? images = null)
    {
        var dir = EvalFixtures.WriteBenchmark(q, a, images ?? ["a.png", "b.png"]);
        return Assert.Throws<BenchmarkFormatException>(() => EvalFixtures.Load(dir));
    }

    [Fact]
    public void Loads_ids_images_answers_and_categories_from_either_file()
    {
        var dir = EvalFixtures.WriteBenchmark([Q0, "", "   ", Q1], [A1, A0], ["a.png", "b.png"]);
        var set = EvalFixtures.Load(dir);
        Assert.Equal(["0", "x1"], set.Questions.Select(q => q.QuestionId));
        Assert.Equal([0, 1], set.Questions.Select(q => q.Index));
        Assert.Equal(Path.Combine(dir, "images", "b.png"), set.Questions[1].ImagePath);
        Assert.Equal("b.png", set.Questions[1].Image);
        Assert.Equal("color", set.Questions[0].Category);
        Assert.Equal("position", set.Questions[1].Category); // taken from the answers file
        Assert.Equal(["left", "left side"], set.Answers!["x1"]);
        Assert.Equal(["red"], set.Answers["0"]);
    }

    [Fact]
    public void Answers_file_is_optional()
    {
        var dir = EvalFixtures.WriteBenchmark([Q0], null, ["a.png"]);
        var set = BenchmarkSet.Load(Path.Combine(dir, "questions.jsonl"), null, Path.Combine(dir, "images"));
        Assert.Null(set.Answers);
        Assert.Single(set.Questions);
    }

    [Fact]
    public void Malformed_json_names_file_and_line()
    {
        var e = LoadFails([Q0, "", "{\"question_id\": 1, \"image\": "], [A0]);
        Assert.EndsWith("questions.jsonl", e.FilePath);
        Assert.Equal(3, e.LineNumber);
        Assert.Contains("questions.jsonl:3:", e.Message);
        Assert.Contains("malformed JSON", e.Message);
    }

    [Theory]
    [InlineData("""{"image": "a.png", "text": "t"}""", "question_id")]
    [InlineData("""{"question_id": 5, "text": "t"}""", "image")]
    [InlineData("""{"question_id": 5, "image": "a.png"}""", "text")]
    [InlineData("""{"question_id": true, "image": "a.png", "text": "t"}""", "question_id")]
    [InlineData("""[1, 2]""", "JSON object")]
    public void Missing_or_mistyped_question_fields_name_the_line(string bad, string mention)
    {
        var e = LoadFails([Q0, bad], [A0]);
        Assert.Equal(2, e.LineNumber);
        Assert.Contains(mention, e.Message);
    }

    [Fact]
    public void Missing_image_names_line_and_image()
    {
        var e = LoadFails([Q0, Q1], [A0, A1], images: ["a.png"]);
        Assert.Equal(2, e.LineNumber);
        Assert.Contains("b.png", e.Message);
    }

    [Fact]
    public void Duplicate_question_id_is_an_error_even_across_number_and_string_forms()
    {
        var e = LoadFails([Q0, """{"question_id": "0", "image": "b.png", "text": "t"}"""], [A0]);
        Assert.Equal(2, e.LineNumber);
        Assert.Contains("duplicate question_id 0", e.Message);
        Assert.Contains("line 1", e.Message);
    }

    [Fact]
    public void Answer_for_unknown_id_names_answers_file_line()
    {
        var e = LoadFails([Q0, Q1], [A0, A1, """{"question_id": 99, "answer": "x"}"""]);
        Assert.EndsWith("answers.jsonl", e.FilePath);
        Assert.Equal(3, e.LineNumber);
        Assert.Contains("unknown question_id 99", e.Message);
    }

    [Fact]
    public void Duplicate_answer_is_an_error()
    {
        var e = LoadFails([Q0, Q1], [A0, A1, A0]);
        Assert.EndsWith("answers.jsonl", e.FilePath);
        Assert.Equal(3, e.LineNumber);
    }

    [Fact]
    public void Question_without_answer_names_the_question_line()
    {
        var e = LoadFails([Q0, Q1], [A0]);
        Assert.EndsWith("questions.jsonl", e.FilePath);
        Assert.Equal(2, e.LineNumber);
        Assert.Contains("x1", e.Message);
    }

    [Theory]
    [InlineData("""{"question_id": 0}""", "answer")]
    [InlineData("""{"question_id": 0, "answer": []}""", "empty list")]
    [InlineData("""{"question_id": 0, "answer": {"a": 1}}""", "string")]
    [InlineData("""{"question_id": 0, "answer": "red", "category": "shape"}""", "category")]
    public void Bad_answer_lines_name_the_line(string bad, string mention)
    {
        var e = LoadFails([Q0], ["", bad]);
        Assert.EndsWith("answers.jsonl", e.FilePath);
        Assert.Equal(2, e.LineNumber);
        Assert.Contains(mention, e.Message);
    }

    [Fact]
    public void Empty_or_missing_files_are_errors()
    {
        Assert.Contains("no questions", LoadFails(["", ""], null).Message);
        var dir = EvalFixtures.WriteBenchmark([Q0], null, ["a.png"]);
        var e = Assert.Throws<BenchmarkFormatException>(() =>
            BenchmarkSet.Load(Path.Combine(dir, "questions.jsonl"), Path.Combine(dir, "nope.jsonl"), Path.Combine(dir, "images")));
        Assert.Contains("nope.jsonl", e.Message);
    }

    [Theory]
    [InlineData("/data/shapes-vqa/dev/questions.jsonl", "shapes-vqa/dev")]
    [InlineData("/data/pope/llava_pope_test.jsonl", "llava_pope_test")]
    public void Name_comes_from_the_path(string path, string name) => Assert.Equal(name, BenchmarkSet.NameFromPath(path));
}
