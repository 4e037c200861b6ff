namespace BackupDR.Engine;

/// <summary>
/// The bounds of the streaming pipelines. Memory is set by these, never by the table's size.
/// A backup holds at most Encoders × (ScanQueuePages + 1) Scan pages (a page is at most 1 MB of
/// items; a scanner with no room leaves its response in the socket), and Encoders × (PartsInFlight + 1)
/// part buffers of about PartSizeBytes. A restore holds at most RestoreQueueBatches batches of 25 items, plus one read
/// buffer per reader.
/// </summary>
public sealed record PipelineOptions
{
    public static readonly PipelineOptions Default = new();

    /// <summary>Encoders (JSON → gzip → hashes → upload), each writing its own data files; 0 means one per two processors. Never more than the scan segments.</summary>
    public int Encoders { get; init; }

    /// <summary>Scan pages queued per encoder: the scanners wait when the queue is full.</summary>
    public int ScanQueuePages { get; init; } = 2;

    /// <summary>Size at which a part of a data file is shipped (S3 needs at least 5 MiB for all parts but the last).</summary>
    public int PartSizeBytes { get; init; } = 5 * 1024 * 1024;

    /// <summary>Parts of one data file uploading while the next one fills.</summary>
    public int PartsInFlight { get; init; } = 1;

    /// <summary>Batches of 25 items read ahead of the writers; 0 means 4 per writer.</summary>
    public int RestoreQueueBatches { get; init; }

    /// <summary>Data files read at the same time during a restore.</summary>
    public int RestoreReaders { get; init; } = 4;

    /// <summary>
    /// Bytes a run may allocate before it asks for a gen0 collection (<see cref="GarbageBudget"/>);
    /// 0 leaves collections to the GC. Keeps a long run's resident memory near a short one's.
    /// </summary>
    public long GarbageBudgetBytes { get; init; } = 4 * 1024 * 1024;

    internal void Validate()
    {
        if (Encoders < 0) throw Invalid(nameof(Encoders), "0 (automatic) or more");
        if (ScanQueuePages < 1) throw Invalid(nameof(ScanQueuePages), "at least 1");
        if (PartSizeBytes < 1024) throw Invalid(nameof(PartSizeBytes), "at least 1024");
        if (PartsInFlight < 1) throw Invalid(nameof(PartsInFlight), "at least 1");
        if (RestoreQueueBatches < 0) throw Invalid(nameof(RestoreQueueBatches), "0 (automatic) or more");
        if (RestoreReaders < 1) throw Invalid(nameof(RestoreReaders), "at least 1");
        if (GarbageBudgetBytes < 0) throw Invalid(nameof(GarbageBudgetBytes), "0 (left to the GC) or more");
    }

    private static BackupDRException Invalid(string name, string rule) =>
        new(ErrorIds.InvalidArgument, ErrorKind.InvalidArgument, $"Pipeline option {name} must be {rule}.", name);
}
