using System.Globalization;
using Amazon;
using BackupDR.Engine.Aws;

namespace BackupDR.Engine.Reporting;

/// <summary>Publishes a message to an SNS topic. The official SNS package can replace the implementation.</summary>
public interface INotificationPublisher
{
    /// <summary>Returns the message id SNS assigned.</summary>
    Task<string> PublishAsync(string topicArn, string subject, string message, CancellationToken cancellationToken);
}

/// <summary>One CloudWatch data point.</summary>
public sealed record MetricDatum(string Name, double Value, string Unit, IReadOnlyDictionary<string, string>? Dimensions = null);

/// <summary>Puts metric data into a CloudWatch namespace. The official CloudWatch package can replace the implementation.</summary>
public interface IMetricPublisher
{
    Task PutAsync(string metricNamespace, IReadOnlyList<MetricDatum> metrics, CancellationToken cancellationToken);
}

/// <summary>SNS Publish over the query protocol (2010-03-31), to the topic's own region.</summary>
internal sealed class SnsPublisher(SignedHttpClient http) : INotificationPublisher
{
    public async Task<string> PublishAsync(string topicArn, string subject, string message, CancellationToken cancellationToken)
    {
        var region = RegionEndpoint.GetBySystemName(Arns.SnsTopicRegion(topicArn));
        var xml = await QueryProtocol.CallAsync(http, "sns", region, ServiceEndpoint.Resolve("SNS", "sns", region),
        [
            new("Action", "Publish"),
            new("Version", "2010-03-31"),
            new("TopicArn", topicArn),
            new("Subject", subject),
            new("Message", message),
        ], cancellationToken).ConfigureAwait(false);
        return QueryProtocol.Text(xml, "MessageId") ?? "";
    }
}

/// <summary>CloudWatch PutMetricData over the query protocol (2010-08-01), at most 1,000 data points a call.</summary>
internal sealed class CloudWatchPublisher(SignedHttpClient http, RegionEndpoint region) : IMetricPublisher
{
    private const int MaxPerCall = 1000;

    public async Task PutAsync(string metricNamespace, IReadOnlyList<MetricDatum> metrics, CancellationToken cancellationToken)
    {
        string timestamp = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        foreach (var chunk in metrics.Chunk(MaxPerCall))
        {
            var parameters = new List<KeyValuePair<string, string>>
            {
                new("Action", "PutMetricData"),
                new("Version", "2010-08-01"),
                new("Namespace", metricNamespace),
            };
            for (int i = 0; i < chunk.Length; i++)
            {
                string member = $"MetricData.member.{i + 1}.";
                parameters.Add(new(member + "MetricName", chunk[i].Name));
                parameters.Add(new(member + "Value", chunk[i].Value.ToString("R", CultureInfo.InvariantCulture)));
                parameters.Add(new(member + "Unit", chunk[i].Unit));
                parameters.Add(new(member + "Timestamp", timestamp));
                int d = 0;
                foreach (var (name, value) in chunk[i].Dimensions ?? new Dictionary<string, string>())
                {
                    d++;
                    parameters.Add(new($"{member}Dimensions.member.{d}.Name", name));
                    parameters.Add(new($"{member}Dimensions.member.{d}.Value", value));
                }
            }
            await QueryProtocol.CallAsync(http, "monitoring", region, ServiceEndpoint.Resolve("CLOUDWATCH", "monitoring", region), parameters, cancellationToken).ConfigureAwait(false);
        }
    }
}

/// <summary>ARN checks, so a wrong value is refused before anything runs.</summary>
public static class Arns
{
    /// <summary>The region of <c>arn:&lt;partition&gt;:sns:&lt;region&gt;:&lt;account&gt;:&lt;topic&gt;</c>; InvalidArgument for anything else.</summary>
    public static string SnsTopicRegion(string arn)
    {
        string[] parts = arn.Split(':');
        bool ok = parts.Length == 6 && parts[0] == "arn" && parts[1].StartsWith("aws", StringComparison.Ordinal) && parts[2] == "sns"
                  && RegionEndpoint.EnumerableAllRegions.Any(r => r.SystemName == parts[3])
                  && parts[4].Length == 12 && parts[4].All(char.IsAsciiDigit)
                  && parts[5].Length is >= 1 and <= 256 && parts[5].All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
        if (!ok)
        {
            throw new BackupDRException(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument,
                $"'{arn}' is not an SNS topic ARN (arn:aws:sns:<region>:<12-digit account>:<topic name>).", arn);
        }
        return parts[3];
    }
}
