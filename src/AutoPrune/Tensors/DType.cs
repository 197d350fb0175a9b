namespace AutoPrune.Tensors;

/// <summary>
/// Element types of weights: the float types of safetensors files plus the llama.cpp (GGML) block types of
/// GGUF files. A block type stores a row in fixed-size blocks of <see cref="DTypes.BlockElements"/> values,
/// each <see cref="DTypes.BlockBytes"/> bytes (scales + packed integers).
/// </summary>
public enum DType { F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K }

public static class DTypes
{
    /// <summary>Values per block: 1 for float types, 32 for Q*_0/Q*_1, 256 for the K-quants.</summary>
    public static int BlockElements(this DType t) => t switch
    {
        DType.F32 or DType.F16 or DType.BF16 => 1,
        DType.Q8_0 or DType.Q4_0 or DType.Q4_1 or DType.Q5_0 or DType.Q5_1 => 32,
        _ => 256,
    };

    /// <summary>Bytes of one block.</summary>
    public static int BlockBytes(this DType t) => t switch
    {
        DType.F32 => 4,
        DType.F16 or DType.BF16 => 2,
        DType.Q8_0 => 34,
        DType.Q4_0 => 18,
        DType.Q4_1 => 20,
        DType.Q5_0 => 22,
        DType.Q5_1 => 24,
        DType.Q4_K => 144,
        DType.Q5_K => 176,
        _ => 210, // Q6_K
    };

    public static bool IsQuantized(this DType t) => t.BlockElements() > 1;

    /// <summary>Bytes per element of a float type; block types have no per-element size.</summary>
    public static int Size(this DType t) => t.IsQuantized()
        ? throw new InvalidOperationException($"{t.Name()} is a block type: use BlockBytes/BlockElements")
        : t.BlockBytes();

    /// <summary>Bytes of <paramref name="elements"/> values (a whole number of blocks).</summary>
    public static long ByteCount(this DType t, long elements) => elements / t.BlockElements() * t.BlockBytes();

    /// <summary>Parses the safetensors dtype string; null when unsupported.</summary>
    public static DType? Parse(string s) => s switch
    {
        "F32" => DType.F32,
        "F16" => DType.F16,
        "BF16" => DType.BF16,
        _ => null,
    };

    public static string Name(this DType t) => t.ToString();
}
