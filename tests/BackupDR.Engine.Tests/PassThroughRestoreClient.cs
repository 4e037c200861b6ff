using BackupDR.Engine.Aws;

namespace BackupDR.Engine.Tests;

/// <summary>Passes every call on to a real client; test doubles override what they change.</summary>
internal abstract class PassThroughRestoreClient(IRestoreClient inner) : IRestoreClient
{
    protected IRestoreClient Inner => inner;

    public virtual Task<BatchWriteOutcome> BatchWriteAsync(string tableName, IReadOnlyList<ReadOnlyMemory<byte>> items, bool returnConsumedCapacity, CancellationToken cancellationToken) =>
        inner.BatchWriteAsync(tableName, items, returnConsumedCapacity, cancellationToken);

    public virtual Task<BatchWriteOutcome> BatchDeleteAsync(string tableName, IReadOnlyList<ReadOnlyMemory<byte>> keys, bool returnConsumedCapacity, CancellationToken cancellationToken) =>
        inner.BatchDeleteAsync(tableName, keys, returnConsumedCapacity, cancellationToken);

    public virtual Task<IReadOnlyList<ReadOnlyMemory<byte>>> FindItemsAsync(string tableName, IReadOnlyList<ReadOnlyMemory<byte>> keys, IReadOnlyList<string>? projection, CancellationToken cancellationToken) =>
        inner.FindItemsAsync(tableName, keys, projection, cancellationToken);

    public virtual Task<bool> PutIfAbsentAsync(string tableName, ReadOnlyMemory<byte> item, string hashKeyName, CancellationToken cancellationToken) =>
        inner.PutIfAbsentAsync(tableName, item, hashKeyName, cancellationToken);
}
