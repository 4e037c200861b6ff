using Amazon.Runtime;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Aws;

/// <summary>Turns SDK exceptions that reach the top of an operation into BackupDR errors with stable ids.</summary>
internal static class AwsErrors
{
    public static BackupDRException Translate(Exception e, string target)
    {
        switch (e)
        {
            case BackupDRException bdr:
                return bdr;
            case UntrustedInputException untrusted:
                return new BackupDRException(ErrorIds.BackupIntegrityFailed, ErrorKind.InvalidData,
                    $"{untrusted.Message} Nothing more was read from it.", target, e);
            case OperationCanceledException:
                return new BackupDRException(ErrorIds.OperationCancelled, ErrorKind.OperationStopped, "The operation was cancelled.", target, e);
            case AmazonServiceException ase when ase.StatusCode == System.Net.HttpStatusCode.Forbidden
                                              || ase.ErrorCode is "AccessDenied" or "AccessDeniedException" or "UnrecognizedClientException" or "InvalidAccessKeyId":
                return new BackupDRException(ErrorIds.AccessDenied, ErrorKind.PermissionDenied,
                    $"AWS denied access to '{target}' ({ase.ErrorCode}): {ase.Message} Check the credentials, region and IAM permissions.", target, e);
            case AmazonServiceException ase:
                return new BackupDRException(ErrorIds.AwsRequestFailed, ErrorKind.ConnectionError,
                    $"An AWS request for '{target}' failed after retries ({ase.ErrorCode}, HTTP {(int)ase.StatusCode}): {ase.Message}", target, e);
            case AmazonClientException ace when ace.Message.Contains("credentials", StringComparison.OrdinalIgnoreCase)
                                             || ace.Message.Contains("region", StringComparison.OrdinalIgnoreCase)
                                             || ace.Message.Contains("RegionEndpoint", StringComparison.Ordinal):
                return new BackupDRException(ErrorIds.AwsConfiguration, ErrorKind.InvalidOperation,
                    $"AWS is not configured: {ace.Message} Set {Say.Region} and {Say.Profile}, or AWS_REGION and credentials in the environment.", target, e);
            case AmazonClientException ace:
                return new BackupDRException(ErrorIds.AwsRequestFailed, ErrorKind.ConnectionError,
                    $"Could not complete an AWS request for '{target}': {ace.Message}", target, e);
            case HttpRequestException or IOException:
                return new BackupDRException(ErrorIds.AwsRequestFailed, ErrorKind.ConnectionError,
                    $"Could not reach AWS for '{target}': {e.Message}", target, e);
            default:
                return new BackupDRException(ErrorIds.UnexpectedError, ErrorKind.NotSpecified,
                    $"BackupDR failed unexpectedly on '{target}' ({e.GetType().Name}): {e.Message} Please report this with {Say.ErrorDetails}.", target, e);
        }
    }
}
