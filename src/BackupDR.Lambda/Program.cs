using BackupDR.Engine;
using BackupDR.Lambda;

// The Lambda custom runtime: the function named by _HANDLER (backup, validation or recovery), one
// invocation at a time, until the Runtime API ends the run.
string? requestId = null;
var log = new LambdaLog(() => requestId);
using var api = RuntimeApi.FromEnvironment();
string handler = Environment.GetEnvironmentVariable("_HANDLER") ?? "";
IFunction? function;
try
{
    var settings = FunctionSettings.FromEnvironment(Environment.GetEnvironmentVariable("AWS_LAMBDA_FUNCTION_NAME") ?? handler);
    function = Functions.Create(handler, settings, log);
    if (function is null)
    {
        await api.InitFailedAsync("Runtime.InvalidHandler",
            $"The handler is '{handler}'; BackupDR's bootstrap runs one of: {string.Join(", ", Functions.Names)}.", CancellationToken.None);
        return 1;
    }
}
catch (FunctionException e)
{
    log.Error(e.Message);
    await api.InitFailedAsync(e.ErrorType, e.Message, CancellationToken.None);
    return 1;
}

log.Write("info", $"BackupDR {EngineInfo.Version} {handler} function ready.");
while (await api.NextAsync(CancellationToken.None) is { } invocation)
{
    requestId = invocation.RequestId;
    Environment.SetEnvironmentVariable("_X_AMZN_TRACE_ID", invocation.TraceId);
    try
    {
        byte[] answer = await function.HandleAsync(invocation, CancellationToken.None);
        await api.RespondAsync(invocation.RequestId, answer, CancellationToken.None);
    }
    catch (FunctionException e)
    {
        string message = Phrasing.Render(e.Message);
        log.Error($"{e.ErrorType}: {message}");
        await api.FailAsync(invocation.RequestId, e.ErrorType, message, CancellationToken.None);
    }
    catch (BackupDRException e)
    {
        string message = Phrasing.Render(e.Message);
        log.Error($"{e.ErrorId}: {message}");
        await api.FailAsync(invocation.RequestId, e.ErrorId, message, CancellationToken.None);
    }
    catch (Exception e)
    {
        log.Error($"UnexpectedError: {e}");
        await api.FailAsync(invocation.RequestId, ErrorIds.UnexpectedError, $"{e.GetType().Name}: {e.Message}", CancellationToken.None);
    }
    requestId = null;
}
return 0;
