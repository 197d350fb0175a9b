#!/usr/bin/env -S dotnet run -c Release
#:project ../src/AutoPrune.Benchmarking/AutoPrune.Benchmarking.csproj
// Writes a random-weight llava-hf LLaVA-1.5 folder of a named shape (BF16 safetensors, streamed tensor by tensor) for
// checks that need a real-size model on disk, such as the 13B memory check in docs/memory.md. Run from the repository:
//   dotnet run -c Release bench/random-model.cs -- llava-13b /big/disk/llava-13b-bf16
using AutoPrune.Benchmarking;

if (args.Length != 2)
{
    Console.Error.WriteLine("usage: dotnet run -c Release bench/random-model.cs -- llava-7b|llava-13b DIR");
    return 2;
}
try
{
    Console.WriteLine(RandomLlavaFolder.Create(args[1], args[0], progress: Console.WriteLine));
    return 0;
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
