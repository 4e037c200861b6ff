using Amazon.Runtime;
using Amazon.SecurityToken;
using Amazon.SecurityToken.Model;

namespace BackupDR.Engine.Aws;

/// <summary>
/// Credentials of a role assumed with STS AssumeRole from the caller's own credentials, renewed before they
/// expire. The STS client is built here (not by the SDK's reflection-based assume-role profile support), so
/// it works in the NativeAOT functions too. Its endpoint follows the SDK's settings (AWS_ENDPOINT_URL_STS).
/// </summary>
internal sealed class AssumedRoleCredentials(AWSCredentials source, string roleArn, string? region, string? externalId) : RefreshingAWSCredentials
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromHours(1);

    protected override CredentialsRefreshState GenerateNewCredentials() =>
        GenerateNewCredentialsAsync().ConfigureAwait(false).GetAwaiter().GetResult();

    protected override async Task<CredentialsRefreshState> GenerateNewCredentialsAsync()
    {
        var config = new AmazonSecurityTokenServiceConfig();
        if (!string.IsNullOrEmpty(region)) config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(region);
        using var sts = new AmazonSecurityTokenServiceClient(source, config);
        var answer = await sts.AssumeRoleAsync(new AssumeRoleRequest
        {
            RoleArn = roleArn,
            RoleSessionName = $"backupdr-{Environment.ProcessId}-{DateTime.UtcNow:yyyyMMddHHmmss}",
            DurationSeconds = (int)Lifetime.TotalSeconds,
            ExternalId = externalId,
        }).ConfigureAwait(false);
        var c = answer.Credentials;
        return new CredentialsRefreshState(new ImmutableCredentials(c.AccessKeyId, c.SecretAccessKey, c.SessionToken),
            c.Expiration?.ToUniversalTime() ?? DateTime.UtcNow.Add(Lifetime));
    }
}
