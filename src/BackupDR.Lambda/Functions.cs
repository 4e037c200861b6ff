using System.Text.Json;
using BackupDR.Engine;
using BackupDR.Engine.Aws;

namespace BackupDR.Lambda;

/// <summary>One of the three functions; _HANDLER names it.</summary>
internal interface IFunction
{
    /// <summary>Returns the answer's JSON; throws <see cref="FunctionException"/> for a failed invocation.</summary>
    Task<byte[]> HandleAsync(Invocation invocation, CancellationToken cancellationToken);
}

internal static class Functions
{
    public static readonly string[] Names = ["backup", "validation", "recovery"];

    /// <summary>The function _HANDLER names; null for an unknown name.</summary>
    public static IFunction? Create(string handler, FunctionSettings settings, LambdaLog log) => handler.Trim().ToLowerInvariant() switch
    {
        "backup" => new BackupFunction(settings, log),
        "validation" or "validator" => new ValidationFunction(settings, log),
        "recovery" or "restore" => new RecoveryFunction(settings, log),
        _ => null,
    };

    /// <summary>Cancelled <paramref name="margin"/> before the invocation's deadline.</summary>
    public static CancellationTokenSource Deadline(Invocation invocation, TimeSpan margin, CancellationToken cancellationToken)
    {
        var source = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var left = invocation.Deadline - DateTimeOffset.UtcNow - margin;
        source.CancelAfter(left > TimeSpan.Zero ? left : TimeSpan.Zero);
        return source;
    }

    /// <summary>An engine failure as the invocation's error; a stop at the deadline says so and says what to do.</summary>
    public static FunctionException Failure(BackupDRException error, CancellationTokenSource deadline, FunctionSettings settings, string doneSoFar)
    {
        if (error.ErrorId == ErrorIds.OperationCancelled && deadline.IsCancellationRequested)
        {
            return new FunctionException("DeadlineReached",
                $"Stopped {settings.DeadlineMargin.TotalSeconds:N0} s before the invocation's deadline, cleanly. {doneSoFar} " +
                "Raise the function's timeout, or invoke it again (see docs/lambda.md).");
        }
        return new FunctionException(error.ErrorId, Phrasing.Render($"{error.Message} {doneSoFar}".Trim()));
    }

    public static AwsOptions Aws => new() { Region = Environment.GetEnvironmentVariable("AWS_REGION") };

    public static void WriteReportFailures(Utf8JsonWriter w, IEnumerable<string> failures, LambdaLog log)
    {
        w.WriteStartArray("reportFailures");
        foreach (string failure in failures)
        {
            log.Error(failure);
            w.WriteStringValue(failure);
        }
        w.WriteEndArray();
    }
}
