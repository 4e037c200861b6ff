using BackupDR.Engine;

namespace BackupDR.Lambda;

/// <summary>
/// The custom runtime's loop: the function named by the handler, one invocation at a time, until the
/// Runtime API ends the run. Everything it depends on comes in — the Runtime API, the clock (deadlines,
/// rate limits), the environment (settings) and where the log goes — so it runs in-process in tests.
/// </summary>
internal sealed class LambdaHost(IRuntimeApi api, TimeProvider time, Func<string, string?> environment, TextWriter output)
{
    /// <summary>Runs until the API says there are no more invocations (0), or the function cannot start (1, after an init error).</summary>
    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        string? requestId = null;
        var log = new LambdaLog(() => requestId, output, time);
        string handler = environment("_HANDLER") ?? "";
        IFunction function;
        try
        {
            if (!Functions.Names.Contains(Functions.Canonical(handler)))
            {
                await api.InitFailedAsync("Runtime.InvalidHandler",
                    $"The handler is '{handler}'; BackupDR's bootstrap runs one of: {string.Join(", ", Functions.Names)}.", cancellationToken).ConfigureAwait(false);
                return 1;
            }
            var settings = FunctionSettings.FromEnvironment(environment("AWS_LAMBDA_FUNCTION_NAME") ?? handler, environment);
            function = Functions.Create(handler, settings, log, time);
        }
        catch (FunctionException e)
        {
            log.Error($"{e.ErrorType}: {e.Message}");
            await api.InitFailedAsync(e.ErrorType, e.Message, cancellationToken).ConfigureAwait(false);
            return 1;
        }
        catch (Exception e)
        {
            // Whatever stops the function starting is reported where Lambda shows it, not only in the log.
            log.Error($"{ErrorIds.UnexpectedError}: {e}");
            await api.InitFailedAsync(ErrorIds.UnexpectedError, $"{e.GetType().Name}: {e.Message}", cancellationToken).ConfigureAwait(false);
            return 1;
        }

        log.Write("info", $"BackupDR {EngineInfo.Version} {handler} function ready.");
        while (await api.NextAsync(cancellationToken).ConfigureAwait(false) is { } invocation)
        {
            requestId = invocation.RequestId;
            Environment.SetEnvironmentVariable("_X_AMZN_TRACE_ID", invocation.TraceId);
            try
            {
                byte[] answer = await function.HandleAsync(invocation, cancellationToken).ConfigureAwait(false);
                await api.RespondAsync(invocation.RequestId, answer, cancellationToken).ConfigureAwait(false);
            }
            catch (FunctionException e)
            {
                await FailAsync(log, invocation, e.ErrorType, e.Message, cancellationToken).ConfigureAwait(false);
            }
            catch (BackupDRException e)
            {
                await FailAsync(log, invocation, e.ErrorId, e.Message, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                log.Error($"UnexpectedError: {e}");
                await api.FailAsync(invocation.RequestId, ErrorIds.UnexpectedError, $"{e.GetType().Name}: {e.Message}", cancellationToken).ConfigureAwait(false);
            }
            requestId = null;
        }
        return 0;
    }

    private Task FailAsync(LambdaLog log, Invocation invocation, string errorType, string message, CancellationToken cancellationToken)
    {
        string phrased = Phrasing.Render(message);
        log.Error($"{errorType}: {phrased}");
        return api.FailAsync(invocation.RequestId, errorType, phrased, cancellationToken);
    }
}
