using System.Text;
using System.Text.Json;

namespace BackupDR.Engine.Validation;

/// <summary>
/// Streams one JSON document whose top level is an object and hands out, one at a time, the raw bytes
/// of each element of the array under <c>arrayName</c> — a seed backup's <c>data</c>, a dynamodump
/// page's <c>Items</c> — without holding the document. The other top-level members are kept raw
/// (each at most <see cref="MaxMemberBytes"/>) for the caller to read at the end.
/// </summary>
/// <remarks>
/// Bounded: an element longer than <c>maxElementBytes</c> and a member longer than
/// <see cref="MaxMemberBytes"/> stop reading (<see cref="DataFileException"/>), as do nesting past
/// <see cref="MaxDepth"/>, a second array of that name and anything that is not JSON. Memory is one
/// element (and the bounded members).
/// </remarks>
internal sealed class JsonElementStream(Stream input, string arrayName, int maxElementBytes)
{
    public const int MaxMemberBytes = 64 * 1024;
    public const int MaxDepth = 72;   // DynamoDB's 32 levels, two JSON levels each in DynamoDB JSON, and the document's own

    private static readonly JsonReaderOptions Options = new() { MaxDepth = MaxDepth, CommentHandling = JsonCommentHandling.Disallow };

    private readonly byte[] _name = Encoding.UTF8.GetBytes(arrayName);
    private byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;
    private bool _final;
    private JsonReaderState _state = new(Options);

    // Where the document is: before its object, in its members, in the array, after the end.
    private enum Place { Start, Members, Array, Done }
    private Place _place;
    private bool _sawArray;
    private string? _pendingMember;

    /// <summary>The top-level members other than the array, as raw JSON, once the document is read.</summary>
    public Dictionary<string, byte[]> Members { get; } = new(StringComparer.Ordinal);

    /// <summary>True when the document had the array (it may be empty).</summary>
    public bool HasArray => _sawArray;

    /// <summary>The elements handed out so far.</summary>
    public long Count { get; private set; }

    /// <summary>The next element's raw bytes, valid until the next call; null when the document has been read to its end.</summary>
    public async ValueTask<ReadOnlyMemory<byte>?> NextAsync(CancellationToken ct)
    {
        if (_next >= 0)
        {
            _start = _next;   // the element handed out last is done with
            _next = -1;
        }
        while (true)
        {
            var step = Step(out var element);
            if (step == StepResult.Element) return element;
            if (step == StepResult.End) return null;
            await FillAsync(ct).ConfigureAwait(false);
        }
    }

    private enum StepResult { Element, End, NeedData }

    private int _next = -1;

    private StepResult Step(out ReadOnlyMemory<byte> element)
    {
        element = default;
        var reader = new Utf8JsonReader(_buffer.AsSpan(_start, _end - _start), _final, _state);
        try
        {
            while (true)
            {
                // The state before each token, to come back to when a value is not whole in the buffer.
                var before = reader.CurrentState;
                int consumed = (int)reader.BytesConsumed;
                if (!reader.Read())
                {
                    if (_final && _place != Place.Done) throw Broken("ends before the document does");
                    return Rewind(before, consumed, _final ? StepResult.End : StepResult.NeedData);
                }
                switch (_place)
                {
                    case Place.Start:
                        if (reader.TokenType != JsonTokenType.StartObject) throw Broken("is not a JSON object");
                        _place = Place.Members;
                        break;
                    case Place.Members when reader.TokenType == JsonTokenType.EndObject:
                        _place = Place.Done;
                        break;
                    case Place.Members when reader.TokenType == JsonTokenType.PropertyName && _pendingMember is null:
                        _pendingMember = reader.GetString();
                        break;
                    case Place.Members:
                    {
                        string member = _pendingMember ?? throw Broken("is not a JSON object of members");
                        if (member == arrayName)
                        {
                            if (reader.TokenType != JsonTokenType.StartArray) throw Broken($"has \"{arrayName}\" that is not an array");
                            if (_sawArray) throw Broken($"has \"{arrayName}\" twice");
                            _sawArray = true;
                            _pendingMember = null;
                            _place = Place.Array;
                            break;
                        }
                        int start = (int)reader.TokenStartIndex;
                        if (!reader.TrySkip())
                        {
                            if (_end - _start - start > MaxMemberBytes) throw Broken($"has a member \"{Printable(member)}\" larger than {MaxMemberBytes / 1024} KiB");
                            return Rewind(before, consumed, StepResult.NeedData);
                        }
                        int length = (int)reader.BytesConsumed - start;
                        if (length > MaxMemberBytes) throw Broken($"has a member \"{Printable(member)}\" larger than {MaxMemberBytes / 1024} KiB");
                        if (!Members.TryAdd(member, _buffer.AsSpan(_start + start, length).ToArray())) throw Broken($"has the member \"{Printable(member)}\" twice");
                        _pendingMember = null;
                        break;
                    }
                    case Place.Array when reader.TokenType == JsonTokenType.EndArray:
                        _place = Place.Members;
                        break;
                    case Place.Array:
                    {
                        int start = (int)reader.TokenStartIndex;
                        if (!reader.TrySkip())
                        {
                            if (_end - _start - start > maxElementBytes) throw TooLong();
                            return Rewind(before, consumed, StepResult.NeedData);
                        }
                        int length = (int)reader.BytesConsumed - start;
                        if (length > maxElementBytes) throw TooLong();
                        element = _buffer.AsMemory(_start + start, length);
                        Count++;
                        _state = reader.CurrentState;
                        _next = _start + (int)reader.BytesConsumed;
                        return StepResult.Element;
                    }
                    case Place.Done:
                        throw Broken("has text after the document");
                }
            }
        }
        catch (JsonException e)
        {
            throw Broken($"is not valid JSON ({e.Message})");
        }
        catch (InvalidOperationException e)
        {
            throw Broken($"is not valid JSON ({e.Message})");
        }
    }

    private StepResult Rewind(JsonReaderState state, int consumed, StepResult result)
    {
        _state = state;
        _start += consumed;
        return result;
    }

    private async ValueTask FillAsync(CancellationToken ct)
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        if (_end == _buffer.Length)
        {
            int max = maxElementBytes + MaxMemberBytes + 64 * 1024;
            if (_buffer.Length >= max) throw TooLong();
            Array.Resize(ref _buffer, Math.Min(_buffer.Length * 2, max));
        }
        int read = await input.ReadAsync(_buffer.AsMemory(_end), ct).ConfigureAwait(false);
        if (read == 0) _final = true;
        _end += read;
    }

    private DataFileException TooLong() =>
        new(ProblemCodes.CorruptData, $"has an element of \"{arrayName}\" (number {Count + 1:N0}) longer than {maxElementBytes / (1024 * 1024)} MiB, more than any DynamoDB item needs (reading stopped)");

    private static DataFileException Broken(string what) => new(ProblemCodes.CorruptData, what);

    private static string Printable(string name) => Storage.UnsafeKeyException.Printable(name.Length > 60 ? name[..60] + "…" : name);
}
