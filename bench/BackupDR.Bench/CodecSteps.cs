using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Amazon.DynamoDBv2.Model;
using BackupDR.Engine.Backup;
using BackupDR.Engine.Format;
using BackupDR.Engine.Json;
using BackupDR.Engine.Storage;
using BackupDR.Engine.Validation;

namespace BackupDR.Bench;

/// <summary>
/// The engine alone, off the network, on one thread: encode (Scan pages as DynamoDB sends them →
/// export records → gzip → SHA-256/MD5 → part buffers, the backup's own path) and decode (stored bytes → hashes → gunzip → lines → records checked
/// token by token and their keys read, the restore's own path).
/// Throughput is MB of DynamoDB JSON per CPU-second of this process, i.e. per core.
/// </summary>
internal static class CodecSteps
{
    public static async Task RunAsync(Options options, JsonObject result)
    {
        int count = options.Int("items", 50_000);
        int itemSize = options.Int("item-size", 1024);
        int rounds = options.Int("rounds", 3);
        var items = new List<Dictionary<string, AttributeValue>>(count);
        for (int i = 0; i < count; i++) items.Add(BenchItems.Create(i, itemSize));
        var pages = ScanPages(items, 1000);
        var store = new MemoryStore();
        var folder = new BackupFolder(store, "bench/");

        var encode = new List<double>();
        var decode = new List<double>();
        DataFileEntry? entry = null;
        // The first rounds warm up: tiered compilation keeps recompiling the hot methods (and charging
        // this process's CPU for it) for a few rounds, and a backup of any size runs in the steady state.
        const int warmUp = 3;
        for (int round = 0; round < warmUp + rounds; round++)
        {
            var (encodeSeconds, written) = await MeasureAsync(async () =>
            {
                // The backup's path: Scan pages as DynamoDB sends them, transcoded into records.
                await using var writer = new DataFileWriter(folder, "data/s000-f0000.json.gz", System.Buffers.ArrayPool<byte>.Shared, new ItemWalker([new KeyAttribute("pk", "S"), new KeyAttribute("sk", "N")]));
                foreach (var page in pages)
                {
                    writer.WriteScanItems(page, new ScanPageCursor(), long.MaxValue);
                    await writer.ShipFullPartsAsync(CancellationToken.None).ConfigureAwait(false);
                }
                return await writer.CompleteAsync(CancellationToken.None).ConfigureAwait(false);
            }).ConfigureAwait(false);
            entry = written;
            var (decodeSeconds, lines) = await MeasureAsync(async () =>
            {
                long n = 0;
                var walker = new ItemWalker([new KeyAttribute("pk", "S"), new KeyAttribute("sk", "N")]);
                var check = new CheckOnly();
                var reader = await DataFileReader.OpenAsync(folder, written, CancellationToken.None).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    while (await reader.NextLineAsync(CancellationToken.None).ConfigureAwait(false) is { } line)
                    {
                        // The restore's path: every token checked, the key taken out, the item's bytes kept for the request.
                        var item = walker.WalkRecord(line.Span, ref check);
                        string key = walker.KeyText(line.Span);
                        Consume(line[item].ToArray(), key);
                        n++;
                    }
                    var (sha, _, _) = await reader.FinishAsync(CancellationToken.None).ConfigureAwait(false);
                    if (sha != written.Sha256Checksum) throw new InvalidOperationException("decode: checksum mismatch");
                }
                return n;
            }).ConfigureAwait(false);
            if (lines != count) throw new InvalidOperationException($"decode read {lines} items, expected {count}");
            if (round < warmUp) continue;
            encode.Add(written.UncompressedSizeBytes / 1e6 / encodeSeconds);
            decode.Add(written.UncompressedSizeBytes / 1e6 / decodeSeconds);
        }
        encode.Sort();
        decode.Sort();
        result["items"] = count;
        result["jsonBytes"] = entry!.UncompressedSizeBytes;
        result["storedBytes"] = entry.SizeBytes;
        result["encodeMBPerCpuSecond"] = encode[encode.Count / 2];
        result["decodeMBPerCpuSecond"] = decode[decode.Count / 2];
        result["rounds"] = rounds;
    }

    /// <summary>Scan response bodies of <paramref name="perPage"/> items each, as DynamoDB renders them.</summary>
    private static List<BackupDR.Engine.Aws.ScanPage> ScanPages(List<Dictionary<string, AttributeValue>> items, int perPage)
    {
        var pages = new List<BackupDR.Engine.Aws.ScanPage>();
        foreach (var chunk in items.Chunk(perPage))
        {
            var body = new System.Buffers.ArrayBufferWriter<byte>();
            int start;
            using (var w = new System.Text.Json.Utf8JsonWriter(body))
            {
                w.WriteStartObject();
                w.WriteNumber("Count", chunk.Length);
                w.WritePropertyName("Items");
                w.Flush();
                start = body.WrittenCount;
                w.WriteStartArray();
                foreach (var item in chunk) DynamoJson.WriteItem(w, item);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            int end = body.WrittenSpan.LastIndexOf((byte)']') + 1;
            // Never disposed: the buffers live for the whole measurement.
            pages.Add(new BackupDR.Engine.Aws.ScanPage(body.WrittenSpan.ToArray(), body.WrittenCount, System.Buffers.ArrayPool<byte>.Shared, null)
            {
                Items = start..end,
                Count = chunk.Length,
            });
        }
        return pages;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Consume(byte[] item, string? key)
    {
        GC.KeepAlive(item);
        GC.KeepAlive(key);
    }

    /// <summary>CPU seconds of the whole process (the GC's threads included) while <paramref name="work"/> runs.</summary>
    private static async Task<(double CpuSeconds, T Result)> MeasureAsync<T>(Func<Task<T>> work)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var before = process.TotalProcessorTime;
        T value = await work().ConfigureAwait(false);
        process.Refresh();
        return ((process.TotalProcessorTime - before).TotalSeconds, value);
    }

    /// <summary>Objects in memory: what the engine writes is what it reads back.</summary>
    private sealed class MemoryStore : IBackupStore
    {
        private readonly ConcurrentDictionary<string, byte[]> _objects = new(StringComparer.Ordinal);
        public string Root => "memory://";
        public string UriOf(string key) => "memory://" + key;
        public Task EnsureAvailableAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task PutAsync(string key, byte[] content, CancellationToken cancellationToken) { _objects[key] = content; return Task.CompletedTask; }
        public IObjectUpload BeginUpload(string key) => new Upload(this, key);
        public Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken) =>
            _objects.TryGetValue(key, out var b) ? Task.FromResult<Stream>(new MemoryStream(b, writable: false)) : throw new FileNotFoundException(key);
        public Task<byte[]?> TryReadAllAsync(string key, long maxBytes, CancellationToken cancellationToken) => Task.FromResult(_objects.TryGetValue(key, out var b) ? b : null);
        public Task<StoredObject?> HeadAsync(string key, CancellationToken cancellationToken) =>
            Task.FromResult(_objects.TryGetValue(key, out var b) ? new StoredObject(key, b.Length, null) : null);
        public async IAsyncEnumerable<StoredObject> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.CompletedTask.ConfigureAwait(false);
            foreach (var (key, b) in _objects.Where(o => o.Key.StartsWith(prefix, StringComparison.Ordinal))) yield return new StoredObject(key, b.Length, null);
        }
        public Task DeleteAsync(string key, CancellationToken cancellationToken) { _objects.TryRemove(key, out _); return Task.CompletedTask; }
        public async IAsyncEnumerable<PendingUpload> ListPendingUploadsAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.CompletedTask.ConfigureAwait(false);
            yield break;
        }
        public Task AbortUploadAsync(PendingUpload upload, CancellationToken cancellationToken) => Task.CompletedTask;

        private sealed class Upload(MemoryStore store, string key) : IObjectUpload
        {
            private readonly MemoryStream _data = new();
            public Task AppendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) { _data.Write(data.Span); return Task.CompletedTask; }
            public Task CompleteAsync(ReadOnlyMemory<byte> tail, CancellationToken cancellationToken)
            {
                _data.Write(tail.Span);
                store._objects[key] = _data.ToArray();
                return Task.CompletedTask;
            }
            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }
}
