using AutoPrune.Tensors;

namespace AutoPrune.Loading.Gguf;

/// <summary>Metadata value types of the GGUF format (the u32 tag before each value).</summary>
public enum GgufValueType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7,
    String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
}

/// <summary>A metadata array: its element type and the values (string[], float[], int[], ... or object[] for nested arrays).</summary>
public sealed record GgufArray(GgufValueType ElementType, Array Values)
{
    public int Count => Values.Length;
}

/// <summary>GGML tensor type ids (ggml_type) and the ones this engine runs.</summary>
public static class GgmlTypes
{
    private static readonly (int Id, string Name)[] Names =
    [
        (0, "F32"), (1, "F16"), (2, "Q4_0"), (3, "Q4_1"), (6, "Q5_0"), (7, "Q5_1"), (8, "Q8_0"), (9, "Q8_1"),
        (10, "Q2_K"), (11, "Q3_K"), (12, "Q4_K"), (13, "Q5_K"), (14, "Q6_K"), (15, "Q8_K"), (16, "IQ2_XXS"),
        (17, "IQ2_XS"), (18, "IQ3_XXS"), (19, "IQ1_S"), (20, "IQ4_NL"), (21, "IQ3_S"), (22, "IQ2_S"), (23, "IQ4_XS"),
        (24, "I8"), (25, "I16"), (26, "I32"), (27, "I64"), (28, "F64"), (29, "IQ1_M"), (30, "BF16"),
        (34, "TQ1_0"), (35, "TQ2_0"), (39, "MXFP4"),
    ];

    public static DType? ToDType(uint id) => id switch
    {
        0 => DType.F32, 1 => DType.F16, 30 => DType.BF16, 8 => DType.Q8_0, 2 => DType.Q4_0, 3 => DType.Q4_1,
        6 => DType.Q5_0, 7 => DType.Q5_1, 12 => DType.Q4_K, 13 => DType.Q5_K, 14 => DType.Q6_K,
        _ => null,
    };

    public static uint ToId(DType t) => t switch
    {
        DType.F32 => 0, DType.F16 => 1, DType.BF16 => 30, DType.Q8_0 => 8, DType.Q4_0 => 2, DType.Q4_1 => 3,
        DType.Q5_0 => 6, DType.Q5_1 => 7, DType.Q4_K => 12, DType.Q5_K => 13, _ => 14,
    };

    public static string Name(uint id)
    {
        foreach (var (i, n) in Names) if (i == id) return n;
        return $"type {id}";
    }

    public const string Supported = "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K";
}
