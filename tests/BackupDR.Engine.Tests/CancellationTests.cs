using BackupDR.Engine.Backup;
using BackupDR.Engine.Storage;

namespace BackupDR.Engine.Tests;

/// <summary>Ctrl+C (cancellation) stops a backup cleanly: an error, and no backup left behind that could pass for complete.</summary>
public sealed class CancellationTests(LocalServices services) : IClassFixture<LocalServices>
{
    /// <summary>Cancels the operation the first time it reports progress, i.e. in the middle of the scan.</summary>
    private sealed class CancelOnProgress(CancellationTokenSource source) : IOperationHost
    {
        public void Progress(OperationProgress progress) => source.Cancel();
        public void Verbose(string message) { }
        public void Warning(string message) { }
        public Task<bool> ConfirmAsync(string target, string action, CancellationToken cancellationToken) => Task.FromResult(true);
        public Task<bool> ConfirmDangerAsync(string target, string question, CancellationToken cancellationToken) => Task.FromResult(true);
    }

    [Fact]
    public async Task A_cancelled_backup_fails_and_leaves_no_backup()
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(51, 3000));
        string folder = Path.Combine(Path.GetTempPath(), "bdr-cancel-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        using var cancel = new CancellationTokenSource();
        var results = new List<BackupResult>();

        var error = await Assert.ThrowsAsync<BackupDRException>(() => BackupRunner.RunAsync(
            new BackupRequest { TableNames = [table], Target = BackupLocation.ForFolder(folder), Segments = 2 },
            new CancelOnProgress(cancel), results.Add, cancel.Token));

        Assert.Equal(ErrorIds.OperationCancelled, error.ErrorId);
        Assert.Empty(results);
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_cancelled_restore_stops_with_an_error()
    {
        string table = await services.CreateTableAsync();
        await services.PutItemsAsync(table, TestItems.Random(52, 500));
        string folder = Path.Combine(Path.GetTempPath(), "bdr-cancel-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        var backups = new List<BackupResult>();
        await BackupRunner.RunAsync(new BackupRequest { TableNames = [table], Target = BackupLocation.ForFolder(folder) },
            NullOperationHost.Instance, backups.Add, CancellationToken.None);

        using var cancel = new CancellationTokenSource();
        var error = await Assert.ThrowsAsync<BackupDRException>(() => Restore.RestoreRunner.RunAsync(
            new Restore.RestoreRequest { Uri = backups[0].Uri, TableName = LocalServices.UniqueName("cancelled") },
            new CancelOnProgress(cancel), cancel.Token));
        Assert.Equal(ErrorIds.OperationCancelled, error.ErrorId);
    }
}
