using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Amazon;
using Amazon.Runtime;
using BackupDR.Engine.Aws;

namespace BackupDR.Engine.Deploy;

/// <summary>The Lambda operations Deploy-BackupFunctions uses, behind one interface so the official package can replace them.</summary>
public interface ILambdaApi
{
    Task<JsonObject?> GetFunctionAsync(string name, CancellationToken cancellationToken);
    Task<JsonObject> GetConfigurationAsync(string name, CancellationToken cancellationToken);
    Task<JsonObject> CreateFunctionAsync(JsonObject request, CancellationToken cancellationToken);
    Task<JsonObject> UpdateCodeAsync(string name, byte[] zip, string architecture, CancellationToken cancellationToken);
    Task<JsonObject> UpdateConfigurationAsync(string name, JsonObject configuration, CancellationToken cancellationToken);
    Task<JsonObject> PublishVersionAsync(string name, string codeSha256, string description, CancellationToken cancellationToken);
    Task<JsonObject?> GetAliasAsync(string name, string alias, CancellationToken cancellationToken);
    Task<JsonObject> CreateAliasAsync(string name, JsonObject alias, CancellationToken cancellationToken);
    Task<JsonObject> UpdateAliasAsync(string name, string alias, JsonObject update, CancellationToken cancellationToken);

    /// <summary>The statements of the function's (or qualifier's) resource policy; empty when it has none.</summary>
    Task<JsonArray> GetPolicyStatementsAsync(string name, string? qualifier, CancellationToken cancellationToken);
    Task AddPermissionAsync(string name, string? qualifier, JsonObject statement, CancellationToken cancellationToken);

    /// <summary>Removes one statement of the function's (or qualifier's) resource policy; one already gone is not an error.</summary>
    Task RemovePermissionAsync(string name, string? qualifier, string statementId, CancellationToken cancellationToken);
    Task<JsonObject?> GetEventInvokeConfigAsync(string name, string? qualifier, CancellationToken cancellationToken);
    Task PutEventInvokeConfigAsync(string name, string? qualifier, JsonObject config, CancellationToken cancellationToken);

    /// <summary>Invoke (RequestResponse or Event): the status, the function error (null on success) and the payload.</summary>
    Task<(HttpStatusCode Status, string? FunctionError, byte[] Payload)> InvokeAsync(string name, string? qualifier, byte[] payload, bool asynchronous, CancellationToken cancellationToken);
}

/// <summary>Lambda's REST-JSON API (2015-03-31, 2019-09-25), signed with SigV4.</summary>
internal sealed class LambdaApi(SignedHttpClient http, RegionEndpoint region) : ILambdaApi
{
    private const string Json = "application/json";
    private Uri Endpoint { get; } = ServiceEndpoint.Resolve("LAMBDA", "lambda", region);

    public async Task<JsonObject?> GetFunctionAsync(string name, CancellationToken cancellationToken) =>
        await OptionalAsync(() => CallAsync(HttpMethod.Get, $"2015-03-31/functions/{Escape(name)}", null, cancellationToken)).ConfigureAwait(false);

    public async Task<JsonObject> GetConfigurationAsync(string name, CancellationToken cancellationToken) =>
        await CallAsync(HttpMethod.Get, $"2015-03-31/functions/{Escape(name)}/configuration", null, cancellationToken).ConfigureAwait(false);

    public Task<JsonObject> CreateFunctionAsync(JsonObject request, CancellationToken cancellationToken) =>
        CallAsync(HttpMethod.Post, "2015-03-31/functions", request, cancellationToken);

    public Task<JsonObject> UpdateCodeAsync(string name, byte[] zip, string architecture, CancellationToken cancellationToken) =>
        CallAsync(HttpMethod.Put, $"2015-03-31/functions/{Escape(name)}/code",
            new JsonObject { ["ZipFile"] = Convert.ToBase64String(zip), ["Architectures"] = new JsonArray(architecture) }, cancellationToken);

    public Task<JsonObject> UpdateConfigurationAsync(string name, JsonObject configuration, CancellationToken cancellationToken) =>
        CallAsync(HttpMethod.Put, $"2015-03-31/functions/{Escape(name)}/configuration", configuration, cancellationToken);

    public Task<JsonObject> PublishVersionAsync(string name, string codeSha256, string description, CancellationToken cancellationToken) =>
        CallAsync(HttpMethod.Post, $"2015-03-31/functions/{Escape(name)}/versions",
            new JsonObject { ["CodeSha256"] = codeSha256, ["Description"] = description }, cancellationToken);

    public async Task<JsonObject?> GetAliasAsync(string name, string alias, CancellationToken cancellationToken) =>
        await OptionalAsync(() => CallAsync(HttpMethod.Get, $"2015-03-31/functions/{Escape(name)}/aliases/{Escape(alias)}", null, cancellationToken)).ConfigureAwait(false);

    public Task<JsonObject> CreateAliasAsync(string name, JsonObject alias, CancellationToken cancellationToken) =>
        CallAsync(HttpMethod.Post, $"2015-03-31/functions/{Escape(name)}/aliases", alias, cancellationToken);

    public Task<JsonObject> UpdateAliasAsync(string name, string alias, JsonObject update, CancellationToken cancellationToken) =>
        CallAsync(HttpMethod.Put, $"2015-03-31/functions/{Escape(name)}/aliases/{Escape(alias)}", update, cancellationToken);

    public async Task<JsonArray> GetPolicyStatementsAsync(string name, string? qualifier, CancellationToken cancellationToken)
    {
        var answer = await OptionalAsync(() => CallAsync(HttpMethod.Get, $"2015-03-31/functions/{Escape(name)}/policy{Qualifier(qualifier)}", null, cancellationToken)).ConfigureAwait(false);
        if (answer?["Policy"]?.GetValue<string>() is not { } policy) return [];
        return JsonNode.Parse(policy)?["Statement"] as JsonArray ?? [];
    }

    public Task AddPermissionAsync(string name, string? qualifier, JsonObject statement, CancellationToken cancellationToken) =>
        CallAsync(HttpMethod.Post, $"2015-03-31/functions/{Escape(name)}/policy{Qualifier(qualifier)}", statement, cancellationToken);

    public async Task RemovePermissionAsync(string name, string? qualifier, string statementId, CancellationToken cancellationToken) =>
        await OptionalAsync(() => CallAsync(HttpMethod.Delete, $"2015-03-31/functions/{Escape(name)}/policy/{Escape(statementId)}{Qualifier(qualifier)}", null, cancellationToken)).ConfigureAwait(false);

    public async Task<JsonObject?> GetEventInvokeConfigAsync(string name, string? qualifier, CancellationToken cancellationToken) =>
        await OptionalAsync(() => CallAsync(HttpMethod.Get, $"2019-09-25/functions/{Escape(name)}/event-invoke-config{Qualifier(qualifier)}", null, cancellationToken)).ConfigureAwait(false);

    public Task PutEventInvokeConfigAsync(string name, string? qualifier, JsonObject config, CancellationToken cancellationToken) =>
        CallAsync(HttpMethod.Put, $"2019-09-25/functions/{Escape(name)}/event-invoke-config{Qualifier(qualifier)}", config, cancellationToken);

    public async Task<(HttpStatusCode Status, string? FunctionError, byte[] Payload)> InvokeAsync(string name, string? qualifier, byte[] payload, bool asynchronous, CancellationToken cancellationToken)
    {
        var response = await http.SendAsync("lambda", region, HttpMethod.Post, new Uri(Endpoint, $"2015-03-31/functions/{Escape(name)}/invocations{Qualifier(qualifier)}"),
            payload, Json, cancellationToken, headers: new Dictionary<string, string> { ["X-Amz-Invocation-Type"] = asynchronous ? "Event" : "RequestResponse" }).ConfigureAwait(false);
        if (!response.IsSuccess) throw ToException(response);
        string? error = response.Headers.TryGetValues("X-Amz-Function-Error", out var values) ? values.FirstOrDefault() : null;
        return (response.Status, error, response.Body);
    }

    private async Task<JsonObject> CallAsync(HttpMethod method, string path, JsonObject? body, CancellationToken cancellationToken)
    {
        byte[]? content = body is null ? null : Encoding.UTF8.GetBytes(body.ToJsonString());
        var response = await http.SendAsync("lambda", region, method, new Uri(Endpoint, path), content, body is null ? null : Json, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccess) throw ToException(response);
        return response.Body.Length == 0 ? [] : JsonNode.Parse(response.Body) as JsonObject ?? [];
    }

    private static async Task<JsonObject?> OptionalAsync(Func<Task<JsonObject>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (AmazonServiceException e) when (e.ErrorCode == "ResourceNotFoundException")
        {
            return null;
        }
    }

    private static string Escape(string segment) => Uri.EscapeDataString(segment);
    private static string Qualifier(string? qualifier) => qualifier is null ? "" : "?Qualifier=" + Uri.EscapeDataString(qualifier);

    /// <summary>REST-JSON errors: the type in x-amzn-ErrorType (or the body's __type / Type), the message in the body.</summary>
    internal static AmazonServiceException ToException(AwsResponse response)
    {
        JsonObject? body = null;
        try { body = response.Body.Length > 0 ? JsonNode.Parse(response.Body) as JsonObject : null; } catch (System.Text.Json.JsonException) { }
        string? type = response.Headers.TryGetValues("x-amzn-ErrorType", out var values) ? values.FirstOrDefault() : null;
        type ??= body?["__type"]?.GetValue<string>() ?? body?["Type"]?.GetValue<string>();
        type = type?.Split(':')[0].Split('#')[^1];
        string message = body?["message"]?.GetValue<string>() ?? body?["Message"]?.GetValue<string>() ?? $"HTTP {(int)response.Status}";
        string? requestId = response.Headers.TryGetValues("x-amzn-RequestId", out var ids) ? ids.FirstOrDefault() : null;
        return new AmazonServiceException(message, null, (int)response.Status >= 500 ? ErrorType.Receiver : ErrorType.Sender, type ?? $"HTTP{(int)response.Status}", requestId, response.Status);
    }
}

/// <summary>EventBridge rules (JSON 1.1): the backup function's schedule.</summary>
public interface IScheduleApi
{
    Task<JsonObject?> DescribeRuleAsync(string name, CancellationToken cancellationToken);
    Task<string> PutRuleAsync(string name, string scheduleExpression, string description, CancellationToken cancellationToken);

    /// <summary>A rule on the default event bus that matches events by <paramref name="eventPattern"/> (JSON) rather than by a schedule.</summary>
    Task<string> PutPatternRuleAsync(string name, string eventPattern, string description, CancellationToken cancellationToken);
    Task<JsonArray> ListTargetsAsync(string rule, CancellationToken cancellationToken);
    /// <summary>A target of the rule; <paramref name="input"/> null: the target receives the matched event itself.</summary>
    Task PutTargetAsync(string rule, string id, string arn, string? input, CancellationToken cancellationToken);
    Task RemoveTargetAsync(string rule, string id, CancellationToken cancellationToken);
}

internal sealed class EventBridgeApi(SignedHttpClient http, RegionEndpoint region) : IScheduleApi
{
    private Uri Endpoint { get; } = ServiceEndpoint.Resolve("EVENTBRIDGE", "events", region);

    public async Task<JsonObject?> DescribeRuleAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            return await CallAsync("DescribeRule", new JsonObject { ["Name"] = name }, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonServiceException e) when (e.ErrorCode == "ResourceNotFoundException")
        {
            return null;
        }
    }

    public async Task<string> PutRuleAsync(string name, string scheduleExpression, string description, CancellationToken cancellationToken) =>
        (await CallAsync("PutRule", new JsonObject { ["Name"] = name, ["ScheduleExpression"] = scheduleExpression, ["State"] = "ENABLED", ["Description"] = description }, cancellationToken)
            .ConfigureAwait(false))["RuleArn"]!.GetValue<string>();

    public async Task<string> PutPatternRuleAsync(string name, string eventPattern, string description, CancellationToken cancellationToken) =>
        (await CallAsync("PutRule", new JsonObject { ["Name"] = name, ["EventPattern"] = eventPattern, ["State"] = "ENABLED", ["Description"] = description }, cancellationToken)
            .ConfigureAwait(false))["RuleArn"]!.GetValue<string>();

    public async Task<JsonArray> ListTargetsAsync(string rule, CancellationToken cancellationToken) =>
        (await CallAsync("ListTargetsByRule", new JsonObject { ["Rule"] = rule }, cancellationToken).ConfigureAwait(false))["Targets"] as JsonArray ?? [];

    public async Task PutTargetAsync(string rule, string id, string arn, string? input, CancellationToken cancellationToken)
    {
        var target = new JsonObject { ["Id"] = id, ["Arn"] = arn };
        if (input is not null) target["Input"] = input;
        var answer = await CallAsync("PutTargets", new JsonObject { ["Rule"] = rule, ["Targets"] = new JsonArray(target) }, cancellationToken).ConfigureAwait(false);
        if (answer["FailedEntryCount"]?.GetValue<int>() is > 0)
        {
            throw new AmazonServiceException($"EventBridge refused the target of rule {rule}: {answer["FailedEntries"]?.ToJsonString()}");
        }
    }

    public async Task RemoveTargetAsync(string rule, string id, CancellationToken cancellationToken)
    {
        var answer = await CallAsync("RemoveTargets", new JsonObject { ["Rule"] = rule, ["Ids"] = new JsonArray(id) }, cancellationToken).ConfigureAwait(false);
        if (answer["FailedEntryCount"]?.GetValue<int>() is > 0)
        {
            throw new AmazonServiceException($"EventBridge did not remove target {id} of rule {rule}: {answer["FailedEntries"]?.ToJsonString()}");
        }
    }

    private async Task<JsonObject> CallAsync(string action, JsonObject body, CancellationToken cancellationToken)
    {
        var response = await http.SendAsync("events", region, HttpMethod.Post, Endpoint, Encoding.UTF8.GetBytes(body.ToJsonString()), "application/x-amz-json-1.1",
            cancellationToken, headers: new Dictionary<string, string> { ["X-Amz-Target"] = "AWSEvents." + action }).ConfigureAwait(false);
        if (!response.IsSuccess) throw LambdaApi.ToException(response);
        return JsonNode.Parse(response.Body) as JsonObject ?? [];
    }
}

/// <summary>Invokes a deployed function (its alias) and answers its response; a function error is thrown with the function's own error type and message.</summary>
public sealed class LambdaFunctionInvoker : Backup.IFunctionInvoker, IDisposable
{
    private readonly SignedHttpClient _http;
    private readonly LambdaApi _lambda;
    private readonly string _name;
    private readonly string? _qualifier;

    /// <param name="name">The function's name (e.g. backupdr-backup).</param>
    /// <param name="qualifier">Its alias (e.g. live); null: $LATEST.</param>
    public LambdaFunctionInvoker(AwsOptions aws, string name, string? qualifier)
    {
        // One attempt per call, for as long as an invocation may run: the fan-out retries a failed worker itself.
        var options = aws with { RequestTimeout = TimeSpan.FromMinutes(16), Retry = new RetryPolicy(1, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1)) };
        var factory = new AwsClientFactory(options);
        _http = SignedHttpClient.For(factory);
        _lambda = new LambdaApi(_http, SignedHttpClient.ResolveRegion(options));
        (_name, _qualifier) = (name, qualifier);
    }

    public async Task<JsonObject> InvokeAsync(JsonObject payload, CancellationToken cancellationToken)
    {
        var (_, error, body) = await _lambda.InvokeAsync(_name, _qualifier, Encoding.UTF8.GetBytes(payload.ToJsonString()), asynchronous: false, cancellationToken).ConfigureAwait(false);
        JsonObject? answer;
        try { answer = JsonNode.Parse(body) as JsonObject; }
        catch (System.Text.Json.JsonException) { answer = null; }
        if (error is not null || answer is null)
        {
            throw new BackupDRException(answer?["errorType"]?.ToString() ?? "FunctionFailed", ErrorKind.InvalidOperation,
                $"{_name} failed: {answer?["errorMessage"]?.ToString() ?? Encoding.UTF8.GetString(body)}", _name);
        }
        return answer;
    }

    public void Dispose() => _http.Dispose();
}
