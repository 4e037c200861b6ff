using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Restore;
using BackupDR.Engine.Validation;

namespace BackupDR.Lambda;

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UseStringEnumConverter = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(List<BackupResult>))]
[JsonSerializable(typeof(List<IntegrityReport>))]
[JsonSerializable(typeof(RestoreResult))]
[JsonSerializable(typeof(BackupDR.Engine.Drill.DrillReport))]
[JsonSerializable(typeof(IReadOnlyList<BackupDR.Engine.Ledger.ComplianceRow>))]
internal sealed partial class LambdaJsonContext : JsonSerializerContext;

/// <summary>JSON for the Runtime API and the handlers' answers, without reflection (the host is NativeAOT).</summary>
internal static class LambdaJson
{
    public static byte[] Error(string errorType, string message) => Write(w =>
    {
        w.WriteString("errorType", errorType);
        w.WriteString("errorMessage", message);
    });

    /// <summary>An answer: <c>statusCode</c> 200 (as the seed's functions answered), then what <paramref name="body"/> writes.</summary>
    public static byte[] Response(Action<Utf8JsonWriter> body) => Write(w =>
    {
        w.WriteNumber("statusCode", 200);
        body(w);
    });

    private static byte[] Write(Action<Utf8JsonWriter> members)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            members(w);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The event as a JSON object; an empty event is an empty object.</summary>
    public static JsonObject ParseEvent(byte[] json)
    {
        if (json.Length == 0) return [];
        try
        {
            return JsonNode.Parse(json) as JsonObject ?? throw new FunctionException("InvalidEvent", "The event is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new FunctionException("InvalidEvent", $"The event is not valid JSON: {e.Message}");
        }
    }

    public static string? String(JsonObject e, string name) => e[name] switch
    {
        null => null,
        JsonValue v when v.TryGetValue(out string? s) => s,
        _ => throw new FunctionException("InvalidEvent", $"\"{name}\" must be a string."),
    };

    public static int? Int(JsonObject e, string name) => e[name] switch
    {
        null => null,
        JsonValue v when v.TryGetValue(out int i) => i,
        JsonValue v when v.TryGetValue(out string? s) && int.TryParse(s, out int parsed) => parsed,
        _ => throw new FunctionException("InvalidEvent", $"\"{name}\" must be a whole number."),
    };

    public static double? Number(JsonObject e, string name) => e[name] switch
    {
        null => null,
        JsonValue v when v.TryGetValue(out double d) => d,
        _ => throw new FunctionException("InvalidEvent", $"\"{name}\" must be a number."),
    };

    public static bool? Bool(JsonObject e, string name) => e[name] switch
    {
        null => null,
        JsonValue v when v.TryGetValue(out bool b) => b,
        _ => throw new FunctionException("InvalidEvent", $"\"{name}\" must be true or false."),
    };

    public static List<string>? Strings(JsonObject e, string name) => e[name] switch
    {
        null => null,
        JsonArray a => a.Select(n => n is JsonValue v && v.TryGetValue(out string? s) && !string.IsNullOrWhiteSpace(s) ? s
            : throw new FunctionException("InvalidEvent", $"\"{name}\" must be a list of names.")).ToList(),
        _ => throw new FunctionException("InvalidEvent", $"\"{name}\" must be a list."),
    };
}

/// <summary>A failed invocation: <see cref="ErrorType"/> is the stable error id Lambda reports.</summary>
internal sealed class FunctionException(string errorType, string message) : Exception(message)
{
    public string ErrorType { get; } = errorType;
}
