using System.Text.Json.Nodes;

namespace BackupDR.Engine.Deploy;

/// <summary>
/// The least-privilege IAM policy of the functions' execution role: exactly the calls the engine
/// makes (docs/deploy.md lists them), on the tables, bucket prefixes, topics, namespace and log groups
/// they touch; and the trust policy that lets Lambda assume the role.
/// </summary>
public static class FunctionPolicy
{
    /// <param name="tables">The tables backed up and restored into; none means every table of the account in the region.</param>
    public static JsonObject Build(string region, string account, string functionNamePrefix, string bucket, string backupPrefix,
        IReadOnlyList<string> tables, IEnumerable<string> topicArns, string metricNamespace, bool tracing)
    {
        string prefix = backupPrefix.Trim('/');
        JsonArray TableArns() => tables.Count == 0
            ? Strings($"arn:aws:dynamodb:{region}:{account}:table/*")
            : Strings(tables.Select(t => $"arn:aws:dynamodb:{region}:{account}:table/{t}").ToArray());
        var statements = new JsonArray(
            Statement("ReadTablesForBackup", ["dynamodb:DescribeTable", "dynamodb:Scan", "dynamodb:DescribeTimeToLive", "dynamodb:ListTagsOfResource"], TableArns()),
            Statement("WriteTablesForRestore",
                ["dynamodb:CreateTable", "dynamodb:TagResource", "dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:BatchGetItem"], TableArns()),
            Statement("ListBackups", ["s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:GetBucketNotification"], Strings($"arn:aws:s3:::{bucket}")),
            Statement("ReadWriteBackups",
                ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                Strings($"arn:aws:s3:::{bucket}/{(prefix.Length == 0 ? "" : prefix + "/")}*", $"arn:aws:s3:::{bucket}/backupdr-checkpoints/*")),
            Statement("PutMetrics", ["cloudwatch:PutMetricData"], Strings("*"),
                new JsonObject { ["StringEquals"] = new JsonObject { ["cloudwatch:namespace"] = metricNamespace } }),
            Statement("WriteLogs", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                Strings($"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{functionNamePrefix}-*", $"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{functionNamePrefix}-*:*")));
        var topics = topicArns.Distinct(StringComparer.Ordinal).ToArray();
        if (topics.Length > 0) statements.Add((JsonNode)Statement("Notify", ["sns:Publish"], Strings(topics)));
        if (tracing) statements.Add((JsonNode)Statement("Trace", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], Strings("*")));
        return new JsonObject
        {
            ["PolicyDocument"] = new JsonObject { ["Version"] = "2012-10-17", ["Statement"] = statements },
            ["TrustPolicy"] = new JsonObject
            {
                ["Version"] = "2012-10-17",
                ["Statement"] = new JsonArray(new JsonObject
                {
                    ["Effect"] = "Allow",
                    ["Principal"] = new JsonObject { ["Service"] = "lambda.amazonaws.com" },
                    ["Action"] = "sts:AssumeRole",
                }),
            },
        };
    }

    private static JsonArray Strings(params string[] values) => new(values.Select(v => (JsonNode)JsonValue.Create(v)).ToArray());

    private static JsonObject Statement(string sid, string[] actions, JsonArray resources, JsonObject? condition = null)
    {
        var statement = new JsonObject
        {
            ["Sid"] = sid,
            ["Effect"] = "Allow",
            ["Action"] = Strings(actions),
            ["Resource"] = resources,
        };
        if (condition is not null) statement["Condition"] = condition;
        return statement;
    }
}
