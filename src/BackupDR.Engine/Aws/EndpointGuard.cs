using System.Net;

namespace BackupDR.Engine.Aws;

/// <summary>
/// Refuses a plain http:// endpoint unless it is this machine (a local emulator) or the user allowed it:
/// over http, backups, items and AWS's answers cross the network unencrypted and unauthenticated.
/// </summary>
internal static class EndpointGuard
{
    public const string AllowVariable = "BACKUPDR_ALLOW_INSECURE_HTTP";

    /// <param name="configured">The endpoint given in the options, if any (else the SDK's environment variables are what it uses).</param>
    /// <param name="serviceId">The SDK's service id in AWS_ENDPOINT_URL_&lt;id&gt;.</param>
    public static void Check(string service, string? configured, string serviceId, bool allowed)
    {
        string? endpoint = Pick(configured, Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL_" + serviceId), Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL"));
        if (endpoint is null || !Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp) return;
        if (IsLoopback(uri.Host) || allowed || IsTrue(Environment.GetEnvironmentVariable(AllowVariable))) return;
        throw new BackupDRException(ErrorIds.InsecureEndpoint, ErrorKind.InvalidArgument,
            $"The {service} endpoint {uri.GetLeftPart(UriPartial.Authority)} is plain http:// on another machine: backups, items and AWS's answers would cross the network unencrypted " +
            $"and unauthenticated. Use https://, or set {AllowVariable}=true if this network is yours to trust. Nothing was sent.", endpoint);
    }

    private static string? Pick(params string?[] values) => values.FirstOrDefault(v => !string.IsNullOrWhiteSpace(v));

    private static bool IsLoopback(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    private static bool IsTrue(string? value) => value is not null && (value == "1" || value.Equals("true", StringComparison.OrdinalIgnoreCase));
}
