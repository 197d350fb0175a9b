using System.Reflection;
using Xunit.Abstractions;
using Xunit.Sdk;

[assembly: TestFramework("AutoPrune.Tests.Support.TempCleanupFramework", "AutoPrune.Tests")]

namespace AutoPrune.Tests.Support;

/// <summary>
/// xunit's framework plus one step: the process's temporary root (<see cref="TestPaths.TempRoot"/>) is deleted
/// after the last test and before the run reports itself finished. A ProcessExit handler is too late: the
/// test host is stopped soon after the run ends, in the middle of a large delete.
/// </summary>
public sealed class TempCleanupFramework(IMessageSink sink) : XunitTestFramework(sink)
{
    protected override ITestFrameworkExecutor CreateExecutor(AssemblyName assemblyName) =>
        new Executor(assemblyName, SourceInformationProvider, DiagnosticMessageSink);

    private sealed class Executor(AssemblyName name, ISourceInformationProvider source, IMessageSink diagnostics)
        : XunitTestFrameworkExecutor(name, source, diagnostics)
    {
        protected override async void RunTestCases(IEnumerable<IXunitTestCase> testCases, IMessageSink executionMessageSink,
            ITestFrameworkExecutionOptions executionOptions)
        {
            using var runner = new Runner(TestAssembly, testCases, DiagnosticMessageSink, executionMessageSink, executionOptions);
            await runner.RunAsync();
        }
    }

    private sealed class Runner(ITestAssembly assembly, IEnumerable<IXunitTestCase> testCases, IMessageSink diagnostics,
        IMessageSink execution, ITestFrameworkExecutionOptions options)
        : XunitTestAssemblyRunner(assembly, testCases, diagnostics, execution, options)
    {
        protected override Task BeforeTestAssemblyFinishedAsync()
        {
            TestPaths.DeleteTempRoot();
            return base.BeforeTestAssemblyFinishedAsync();
        }
    }
}
