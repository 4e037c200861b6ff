using System.Net;
using System.Text;
using System.Xml;
using Amazon;
using Amazon.Runtime;
using BackupDR.Engine.Aws;

namespace BackupDR.Engine.Reporting;

/// <summary>
/// AWS's query protocol (SNS, CloudWatch): a form POST of Action, Version and the parameters; an XML
/// answer, or an ErrorResponse whose Code and Message become an AmazonServiceException, so errors
/// translate as the SDK's do (AccessDenied, throttling, …).
/// </summary>
internal static class QueryProtocol
{
    private const string FormContentType = "application/x-www-form-urlencoded; charset=utf-8";

    public static async Task<XmlDocument> CallAsync(SignedHttpClient http, string service, RegionEndpoint region, Uri endpoint,
        IEnumerable<KeyValuePair<string, string>> parameters, CancellationToken cancellationToken)
    {
        byte[] body = Encoding.UTF8.GetBytes(string.Join("&", parameters.Select(p => Encode(p.Key) + "=" + Encode(p.Value))));
        var response = await http.SendAsync(service, region, HttpMethod.Post, endpoint, body, FormContentType, cancellationToken,
            r => r.Status == HttpStatusCode.TooManyRequests || (int)r.Status >= 500 || IsThrottling(r)).ConfigureAwait(false);
        var xml = Parse(response.Body);
        if (!response.IsSuccess) throw ToException(response, xml);
        return xml ?? throw new AmazonClientException($"{service} answered HTTP {(int)response.Status} without an XML body.");
    }

    /// <summary>RFC 3986 percent-encoding, as SigV4 and the query protocol require (space is %20, not +).</summary>
    public static string Encode(string value) => Uri.EscapeDataString(value);

    /// <summary>The text of the first element with this local name, or null.</summary>
    public static string? Text(XmlDocument xml, string localName) =>
        xml.SelectSingleNode($"//*[local-name()='{localName}']")?.InnerText;

    private static bool IsThrottling(AwsResponse response) =>
        Parse(response.Body) is { } xml && Text(xml, "Code") is "Throttling" or "ThrottlingException" or "ThrottledException" or "RequestLimitExceeded";

    private static XmlDocument? Parse(byte[] body)
    {
        if (body.Length == 0) return null;
        try
        {
            var xml = new XmlDocument { XmlResolver = null };
            using var reader = XmlReader.Create(new MemoryStream(body), new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null });
            xml.Load(reader);
            return xml;
        }
        catch (XmlException)
        {
            return null;
        }
    }

    private static AmazonServiceException ToException(AwsResponse response, XmlDocument? xml)
    {
        string code = (xml is null ? null : Text(xml, "Code")) ?? $"HTTP{(int)response.Status}";
        string message = (xml is null ? null : Text(xml, "Message")) ?? Encoding.UTF8.GetString(response.Body.AsSpan(0, Math.Min(response.Body.Length, 300)));
        string? requestId = xml is null ? null : Text(xml, "RequestId");
        var type = (int)response.Status >= 500 ? ErrorType.Receiver : ErrorType.Sender;
        return new AmazonServiceException(message, null, type, code, requestId, response.Status);
    }
}
