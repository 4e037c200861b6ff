using System.Text;

namespace BackupDR.Engine.Json;

/// <summary>
/// DynamoDB numbers as decimal text, never floats. DynamoDB may re-render a number (1.50 → 1.5,
/// 1E+2 → 100), so equality is on a canonical form: sign, significant digits, exponent.
/// </summary>
public static class DynamoNumber
{
    /// <summary>
    /// The canonical text of a number: "0", or [-]0.DIGITS e EXP with no leading or trailing zeros in
    /// DIGITS, e.g. "1.50" → "0.15e1", "-0.00012" → "-0.12e-3". Throws FormatException if the text is
    /// not a decimal number.
    /// </summary>
    public static string Canonical(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        ReadOnlySpan<char> s = text.AsSpan().Trim();
        int i = 0;
        bool negative = false;
        if (i < s.Length && (s[i] == '-' || s[i] == '+')) { negative = s[i] == '-'; i++; }

        var digits = new StringBuilder(40);
        int pointPosition = -1;   // digits before the decimal point
        bool sawDigit = false;
        for (; i < s.Length; i++)
        {
            char c = s[i];
            if (c >= '0' && c <= '9') { digits.Append(c); sawDigit = true; }
            else if (c == '.' && pointPosition < 0) pointPosition = digits.Length;
            else break;
        }
        if (!sawDigit) throw new FormatException($"'{text}' is not a number.");
        if (pointPosition < 0) pointPosition = digits.Length;

        long exponent = 0;
        if (i < s.Length && (s[i] == 'e' || s[i] == 'E'))
        {
            i++;
            bool expNegative = false;
            if (i < s.Length && (s[i] == '-' || s[i] == '+')) { expNegative = s[i] == '-'; i++; }
            int start = i;
            for (; i < s.Length && s[i] >= '0' && s[i] <= '9'; i++)
            {
                exponent = checked(exponent * 10 + (s[i] - '0'));
            }
            if (i == start) throw new FormatException($"'{text}' has an empty exponent.");
            if (expNegative) exponent = -exponent;
        }
        if (i != s.Length) throw new FormatException($"'{text}' is not a number.");

        string all = digits.ToString();
        int lead = 0;
        while (lead < all.Length && all[lead] == '0') lead++;
        if (lead == all.Length) return "0";
        int end = all.Length;
        while (all[end - 1] == '0') end--;
        string significant = all[lead..end];
        long scale = pointPosition - lead + exponent;   // value = 0.significant × 10^scale
        return (negative ? "-" : "") + "0." + significant + "e" + scale.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// True when the UTF-8 text is a number <see cref="Canonical"/> accepts: optional surrounding
    /// whitespace, an optional sign, digits with at most one decimal point, an optional exponent.
    /// Checks without allocating, for validating records as they stream past.
    /// </summary>
    public static bool IsWellFormed(ReadOnlySpan<byte> utf8)
    {
        var s = utf8.Trim(" \t\r\n\f\v"u8);
        int i = 0;
        if (i < s.Length && (s[i] == '-' || s[i] == '+')) i++;
        bool sawDigit = false, sawPoint = false;
        for (; i < s.Length; i++)
        {
            byte c = s[i];
            if (c >= '0' && c <= '9') sawDigit = true;
            else if (c == '.' && !sawPoint) sawPoint = true;
            else break;
        }
        if (!sawDigit) return false;
        if (i < s.Length && (s[i] == 'e' || s[i] == 'E'))
        {
            i++;
            if (i < s.Length && (s[i] == '-' || s[i] == '+')) i++;
            int start = i;
            while (i < s.Length && s[i] >= '0' && s[i] <= '9') i++;
            // Canonical accumulates the exponent in a long: 18 digits always fit.
            if (i == start || i - start > 18) return false;
        }
        return i == s.Length;
    }

    /// <summary>
    /// For a well-formed number: null when DynamoDB can store it, else why not — more than 38
    /// significant digits, or a magnitude outside 1E-130 .. 9.9999999999999999999999999999999999999E+125
    /// (zero is always storable). A restore checks this before writing, so such a number fails the
    /// verification, not a batch half-way through the table.
    /// </summary>
    public static string? StorableProblem(ReadOnlySpan<byte> utf8)
    {
        var s = utf8.Trim(" \t\r\n\f\v"u8);
        int i = 0;
        if (i < s.Length && (s[i] == '-' || s[i] == '+')) i++;
        int digits = 0, first = -1, last = -1, point = -1;
        for (; i < s.Length; i++)
        {
            byte c = s[i];
            if (c == '.') { point = digits; continue; }
            if (c < '0' || c > '9') break;
            if (c != '0') { if (first < 0) first = digits; last = digits; }
            digits++;
        }
        if (first < 0) return null;   // zero
        if (point < 0) point = digits;
        long exponent = 0;
        if (i < s.Length && (s[i] == 'e' || s[i] == 'E'))
        {
            i++;
            bool negative = i < s.Length && s[i] == '-';
            if (i < s.Length && (s[i] == '-' || s[i] == '+')) i++;
            for (; i < s.Length && s[i] >= '0' && s[i] <= '9'; i++) exponent = exponent * 10 + (s[i] - '0');
            if (negative) exponent = -exponent;
        }
        if (last - first + 1 > 38) return $"has {last - first + 1} significant digits; DynamoDB stores at most 38";
        long adjusted = point - first + exponent;   // the value is 0.DIGITS × 10^adjusted
        return adjusted is < -129 or > 126 ? "is outside the range DynamoDB stores (1E-130 to 9.9999999999999999999999999999999999999E+125 in magnitude)" : null;
    }

    /// <summary>True when the two texts denote the same number.</summary>
    public static bool AreEqual(string a, string b) => string.Equals(Canonical(a), Canonical(b), StringComparison.Ordinal);
}
