using BackupDR.Engine.Aws;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;

namespace BackupDR.Engine;

/// <summary>Entry points for hosts that do not need the runners' finer control.</summary>
public static class Operations
{
    /// <summary>Checks the backup at <paramref name="uri"/>.</summary>
    public static async Task<IntegrityReport> CheckIntegrityAsync(string uri, IntegrityLevel level, AwsOptions aws, IOperationHost host, CancellationToken cancellationToken)
    {
        AwsClientFactory.ValidateRegion(aws.Region);
        var location = BackupLocation.Parse(uri);
        using var folder = BackupFolder.Open(location, new AwsClientFactory(aws));
        try
        {
            var (report, _) = await new IntegrityChecker(folder, host).CheckAsync(level, cancellationToken).ConfigureAwait(false);
            return report;
        }
        catch (Exception e)
        {
            throw AwsErrors.Translate(e, uri);
        }
    }
}
