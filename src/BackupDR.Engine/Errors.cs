namespace BackupDR.Engine;

/// <summary>What kind of failure an error is; hosts map it to their own categories.</summary>
public enum ErrorKind
{
    InvalidArgument,
    ObjectNotFound,
    InvalidData,
    ResourceExists,
    InvalidOperation,
    ConnectionError,
    PermissionDenied,
    OperationStopped,
    WriteError,
    NotSpecified,
}

/// <summary>
/// Every failure the engine reports on purpose. <see cref="ErrorId"/> is stable: scripts and tests
/// match on it, so an id is never renamed once shipped.
/// </summary>
public sealed class BackupDRException : Exception
{
    public BackupDRException(string errorId, ErrorKind kind, string message, string? target = null, Exception? inner = null)
        : base(message, inner)
    {
        ErrorId = errorId;
        Kind = kind;
        Target = target;
    }

    public string ErrorId { get; }
    public ErrorKind Kind { get; }

    /// <summary>The table, URI or file the error is about.</summary>
    public string? Target { get; }
}

/// <summary>The stable error ids. docs/errors.md lists what each means and how to fix it.</summary>
public static class ErrorIds
{
    public const string TableNotFound = "TableNotFound";
    public const string BucketNotFound = "BucketNotFound";
    public const string PathNotFound = "PathNotFound";
    public const string InvalidBackupUri = "InvalidBackupUri";
    public const string InvalidArgument = "InvalidArgument";
    public const string BackupNotFound = "BackupNotFound";
    public const string BackupNotCommitted = "BackupNotCommitted";
    public const string BackupIntegrityFailed = "BackupIntegrityFailed";
    public const string UnsupportedFormatVersion = "UnsupportedFormatVersion";
    public const string KeySchemaMismatch = "KeySchemaMismatch";
    public const string TargetTableNotEmpty = "TargetTableNotEmpty";
    public const string ItemsNotWritten = "ItemsNotWritten";
    public const string AwsConfiguration = "AwsConfiguration";
    public const string ProfileNotFound = "ProfileNotFound";
    public const string AccessDenied = "AccessDenied";
    public const string AwsRequestFailed = "AwsRequestFailed";
    public const string OperationCancelled = "OperationCancelled";
    public const string TableCreationFailed = "TableCreationFailed";
    public const string UnexpectedError = "UnexpectedError";
    public const string CheckpointNotFound = "CheckpointNotFound";
    public const string CheckpointInvalid = "CheckpointInvalid";
    public const string CheckpointMismatch = "CheckpointMismatch";
    public const string TableDiffersFromBackup = "TableDiffersFromBackup";
    public const string ReportNotSent = "ReportNotSent";
    public const string LedgerNotWritten = "LedgerNotWritten";
    public const string PointInTimeRecoveryDisabled = "PointInTimeRecoveryDisabled";
    public const string ExportFailed = "ExportFailed";
    public const string ImportFailed = "ImportFailed";
    public const string LedgerInvalid = "LedgerInvalid";
    public const string ComplianceFailed = "ComplianceFailed";
    public const string InvalidPackage = "InvalidPackage";
    public const string DeployFailed = "DeployFailed";
    public const string UnsafeObjectKey = "UnsafeObjectKey";
    public const string TargetTableMismatch = "TargetTableMismatch";
    public const string NotConfirmed = "NotConfirmed";
    public const string InsecureEndpoint = "InsecureEndpoint";
    public const string ExportChainGap = "ExportChainGap";
    public const string PointInTimeNotCovered = "PointInTimeNotCovered";
    public const string KeySchemaRequired = "KeySchemaRequired";
    public const string DrillFailed = "DrillFailed";
}
