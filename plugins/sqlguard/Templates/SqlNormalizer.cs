using System.Buffers;

namespace Governor.Plugins.SqlGuard.Templates;

/// <summary>
/// Turns command text into its statement template: the shape of the statement without the
/// values that change from call to call, so that <c>WHERE id = 42</c> and <c>WHERE id = 43</c>
/// share one breaker and one set of counters.
/// <list type="bullet">
/// <item>string, number, hex, bit and boolean literals (TRUE/FALSE) become <c>?</c>; a sign in front
/// of a number goes with it where it cannot be a subtraction (<c>= -1</c>);</item>
/// <item>comments (<c>--</c>, <c>/* */</c>, MySQL <c>#</c>) are removed and runs of white space
/// become one space; leading and trailing space and semicolons are dropped;</item>
/// <item>lists whose length varies collapse to one element: <c>IN (1, 2, 3)</c> and
/// <c>IN (@p0, @p1)</c> become <c>IN (?)</c>, <c>VALUES (1, 'a'), (2, 'b')</c> becomes
/// <c>VALUES (?)</c>, <c>ARRAY[1, 2]</c> becomes <c>ARRAY[?]</c> — only when every element is a
/// literal, a parameter, NULL (or DEFAULT in VALUES); a subquery or an expression keeps the list;</item>
/// <item>parameters stay as written (<c>@p</c>, <c>:p</c>, <c>$1</c>, <c>?</c>): they already are placeholders;</item>
/// <item>identifiers, quoted identifiers, keywords and their case are kept.</item>
/// </list>
/// Normalizing a template again gives the same template (targets in rules are normalized with
/// the same code, so a rule may quote the raw SQL). Templates longer than
/// <see cref="MaxTemplateLength"/> are cut and end in a hash of the whole, so that they stay
/// distinct without holding on to megabytes of text.
/// </summary>
internal static class SqlNormalizer
{
    public const int MaxTemplateLength = 2048;

    private const int StackBufferLength = 512;

    public static string Normalize(string sql, SqlDialect dialect)
    {
        ArgumentNullException.ThrowIfNull(sql);
        Span<char> initial = stackalloc char[StackBufferLength];
        var scanner = new Scanner(sql, dialect, initial);
        try
        {
            scanner.Run();
            return scanner.Result();
        }
        finally
        {
            scanner.Dispose();
        }
    }

    /// <summary>What the last emitted token was; decides whether a sign is unary and whether a list may collapse.</summary>
    private enum Last
    {
        None,
        Word,
        Keyword,
        Value,
        Operator,
        Open,
        Comma,
    }

    private enum ListKind
    {
        None,
        In,
        Values,
        Array,
    }

    private ref struct Scanner
    {
        private readonly ReadOnlySpan<char> _s;
        private readonly SqlDialect _dialect;
        private char[]? _rented;
        private Span<char> _out;
        private int _length;
        private int _pos;
        private bool _space;
        private Last _last;
        private ListKind _list;

        public Scanner(ReadOnlySpan<char> sql, SqlDialect dialect, Span<char> buffer)
        {
            _s = sql;
            _dialect = dialect;
            _rented = null;
            _out = buffer;
            _length = 0;
            _pos = 0;
            _space = false;
            _last = Last.None;
            _list = ListKind.None;
        }

        public void Run()
        {
            var s = _s;
            while (_pos < s.Length)
            {
                char c = s[_pos];
                if (char.IsWhiteSpace(c))
                {
                    _space = true;
                    _pos++;
                    continue;
                }

                int end = SkipComment(_pos);
                if (end != _pos)
                {
                    _space = true;
                    _pos = end;
                    continue;
                }

                if (c == '\'' || (c == '"' && _dialect == SqlDialect.MySql))
                {
                    EmitLiteral(ReadQuoted(_pos, c, Backslashes(plainString: true)));
                    continue;
                }

                if (c == '"' || c == '`' || (c == '[' && BracketIdentifiers && _list != ListKind.Array))
                {
                    end = ReadQuoted(_pos, c == '[' ? ']' : c, backslash: false);
                    Emit(s[_pos..end], Last.Value);
                    _pos = end;
                    continue;
                }

                if (c == '$' && _dialect is SqlDialect.PostgreSql or SqlDialect.Generic && TryReadDollarString(_pos, out end))
                {
                    EmitLiteral(end);
                    continue;
                }

                if (IsDigit(c) || (c == '.' && IsDigit(At(_pos + 1))))
                {
                    end = ReadNumber(_pos);
                    if (IsWordPart(At(end)))
                    {
                        // "1st_table" (MySQL allows identifiers that start with digits) is a word.
                        end = ReadWord(end);
                        Emit(s[_pos..end], Last.Word);
                        _pos = end;
                    }
                    else
                    {
                        EmitLiteral(end);
                    }

                    continue;
                }

                if ((c == '-' || c == '+') && SignIsUnary() && (IsDigit(At(_pos + 1)) || (At(_pos + 1) == '.' && IsDigit(At(_pos + 2)))))
                {
                    EmitLiteral(ReadNumber(_pos + 1));
                    continue;
                }

                end = ReadParameter(_pos);
                if (end != _pos)
                {
                    Emit(s[_pos..end], Last.Value);
                    _pos = end;
                    continue;
                }

                if (IsWordStart(c))
                {
                    end = ReadWord(_pos);
                    var word = s[_pos..end];
                    if (At(end) == '\'' && IsStringPrefix(word))
                    {
                        EmitLiteral(ReadQuoted(end, '\'', Backslashes(plainString: false) || IsEscapePrefix(word)));
                        continue;
                    }

                    if (At(end) == '&' && At(end + 1) == '\'' && word.Equals("U", StringComparison.OrdinalIgnoreCase))
                    {
                        EmitLiteral(ReadQuoted(end + 1, '\'', backslash: false));
                        continue;
                    }

                    _pos = end;
                    if (IsBoolean(word))
                    {
                        Emit("?", Last.Value);
                        continue;
                    }

                    bool keyword = IsExpressionKeyword(word);
                    Emit(word, keyword ? Last.Keyword : Last.Word);
                    _list = ListStartedBy(word);
                    continue;
                }

                if ((c == '(' && _list is ListKind.In or ListKind.Values) || (c == '[' && _list == ListKind.Array))
                {
                    var kind = _list;
                    if (TryScanCollapsible(_pos, kind, out end))
                    {
                        // Always "IN (?)": "IN(1)" and "IN (1, 2)" must give the same template.
                        if (kind != ListKind.Array)
                        {
                            _space = true;
                        }

                        Emit(kind == ListKind.Array ? "[?]" : "(?)", Last.Value);
                        _pos = end;
                        continue;
                    }
                }

                if (c == ':' && At(_pos + 1) == ':')
                {
                    Emit("::", Last.Operator);
                    _pos += 2;
                    continue;
                }

                Emit(s.Slice(_pos, 1), c switch
                {
                    '(' or '[' => Last.Open,
                    ',' => Last.Comma,
                    ')' or ']' => Last.Value,
                    _ => Last.Operator,
                });
                _pos++;
            }
        }

        public string Result()
        {
            // Trailing semicolons and space say nothing about the statement.
            while (_length > 0 && (_out[_length - 1] == ' ' || _out[_length - 1] == ';'))
            {
                _length--;
            }

            var text = _out[.._length];
            if (text.Length <= MaxTemplateLength)
            {
                return new string(text);
            }

            // Cut, but keep templates that differ after the cut distinct.
            ulong hash = 14695981039346656037UL;
            foreach (char ch in text)
            {
                hash = (hash ^ ch) * 1099511628211UL;
            }

            const int keep = MaxTemplateLength - 18;
            return string.Create(MaxTemplateLength, (Hash: hash, Text: _rented!, Keep: keep), static (dest, st) =>
            {
                st.Text.AsSpan(0, st.Keep).CopyTo(dest);
                dest[st.Keep] = '…';
                dest[st.Keep + 1] = '#';
                st.Hash.TryFormat(dest[(st.Keep + 2)..], out _, "x16", System.Globalization.CultureInfo.InvariantCulture);
            });
        }

        public void Dispose()
        {
            if (_rented is not null)
            {
                ArrayPool<char>.Shared.Return(_rented);
                _rented = null;
            }
        }

        private readonly bool BracketIdentifiers => _dialect is SqlDialect.SqlServer or SqlDialect.Sqlite;

        private readonly bool Backslashes(bool plainString) => _dialect == SqlDialect.MySql || (!plainString && _dialect == SqlDialect.PostgreSql);

        private readonly char At(int i) => i < _s.Length ? _s[i] : '\0';

        private readonly bool SignIsUnary() => _last is Last.None or Last.Operator or Last.Open or Last.Comma or Last.Keyword;

        private void EmitLiteral(int end)
        {
            Emit("?", Last.Value);
            _pos = end;
        }

        private void Emit(scoped ReadOnlySpan<char> token, Last kind)
        {
            if (_space && _length > 0)
            {
                Append(' ');
            }

            _space = false;
            foreach (char ch in token)
            {
                Append(ch);
            }

            _last = kind;
            _list = ListKind.None;
        }

        private void Append(char c)
        {
            if (_length == _out.Length)
            {
                var bigger = ArrayPool<char>.Shared.Rent(Math.Max(_out.Length * 2, 1024));
                _out[.._length].CopyTo(bigger);
                if (_rented is not null)
                {
                    ArrayPool<char>.Shared.Return(_rented);
                }

                _rented = bigger;
                _out = bigger;
            }

            _out[_length++] = c;
        }

        /// <summary>The end of a comment starting at <paramref name="p"/>, or <paramref name="p"/> when none starts there.</summary>
        private readonly int SkipComment(int p)
        {
            char c = At(p);
            if ((c == '-' && At(p + 1) == '-') || (c == '#' && _dialect == SqlDialect.MySql))
            {
                int nl = _s[p..].IndexOf('\n');
                return nl < 0 ? _s.Length : p + nl + 1;
            }

            if (c == '/' && At(p + 1) == '*')
            {
                bool nested = _dialect is SqlDialect.PostgreSql or SqlDialect.SqlServer;
                int depth = 1;
                int i = p + 2;
                while (i < _s.Length)
                {
                    if (_s[i] == '*' && At(i + 1) == '/')
                    {
                        i += 2;
                        if (--depth == 0)
                        {
                            return i;
                        }
                    }
                    else if (nested && _s[i] == '/' && At(i + 1) == '*')
                    {
                        depth++;
                        i += 2;
                    }
                    else
                    {
                        i++;
                    }
                }

                return _s.Length;
            }

            return p;
        }

        private readonly int SkipTrivia(int p)
        {
            while (p < _s.Length)
            {
                if (char.IsWhiteSpace(_s[p]))
                {
                    p++;
                    continue;
                }

                int end = SkipComment(p);
                if (end == p)
                {
                    break;
                }

                p = end;
            }

            return p;
        }

        /// <summary>The end (after the closing quote) of a quoted run starting at <paramref name="p"/>; doubled quotes escape.</summary>
        private readonly int ReadQuoted(int p, char close, bool backslash)
        {
            int i = p + 1;
            while (i < _s.Length)
            {
                char ch = _s[i];
                if (backslash && ch == '\\')
                {
                    i += 2;
                    continue;
                }

                if (ch == close)
                {
                    if (At(i + 1) == close)
                    {
                        i += 2;
                        continue;
                    }

                    return i + 1;
                }

                i++;
            }

            return _s.Length;
        }

        /// <summary>PostgreSQL $$...$$ and $tag$...$tag$ strings (a $1 parameter is not one).</summary>
        private readonly bool TryReadDollarString(int p, out int end)
        {
            end = p;
            int q = p + 1;
            if (IsDigit(At(q)))
            {
                return false;
            }

            while (q < _s.Length && _s[q] != '$')
            {
                if (!IsWordPart(_s[q]) || _s[q] == '$')
                {
                    return false;
                }

                q++;
            }

            if (q >= _s.Length)
            {
                return false;
            }

            var tag = _s[p..(q + 1)];
            int close = _s[(q + 1)..].IndexOf(tag);
            end = close < 0 ? _s.Length : q + 1 + close + tag.Length;
            return true;
        }

        private readonly int ReadNumber(int p)
        {
            int i = p;
            if (At(i) == '0' && (At(i + 1) == 'x' || At(i + 1) == 'X') && IsHexDigit(At(i + 2)))
            {
                i += 2;
                while (IsHexDigit(At(i)))
                {
                    i++;
                }

                return i;
            }

            while (IsDigit(At(i)))
            {
                i++;
            }

            if (At(i) == '.' && At(i + 1) != '.')
            {
                i++;
                while (IsDigit(At(i)))
                {
                    i++;
                }
            }

            if ((At(i) == 'e' || At(i) == 'E') && (IsDigit(At(i + 1)) || ((At(i + 1) == '+' || At(i + 1) == '-') && IsDigit(At(i + 2)))))
            {
                i += 2;
                while (IsDigit(At(i)))
                {
                    i++;
                }
            }

            return i;
        }

        /// <summary>The end of a parameter placeholder at <paramref name="p"/> (@p, @@var, :p, $1, ?), or <paramref name="p"/>.</summary>
        private readonly int ReadParameter(int p)
        {
            char c = At(p);
            switch (c)
            {
                case '?':
                    return p + 1;
                case '@':
                    int start = At(p + 1) == '@' ? p + 2 : p + 1;
                    return IsWordPart(At(start)) ? ReadWord(start) : p;
                case ':':
                    return At(p + 1) != ':' && IsWordStart(At(p + 1)) ? ReadWord(p + 1) : p;
                case '$':
                    if (!IsDigit(At(p + 1)))
                    {
                        return p;
                    }

                    int i = p + 1;
                    while (IsDigit(At(i)))
                    {
                        i++;
                    }

                    return i;
                default:
                    return p;
            }
        }

        private readonly int ReadWord(int p)
        {
            int i = p + 1;
            while (i < _s.Length && IsWordPart(_s[i]))
            {
                i++;
            }

            return i;
        }

        private readonly bool IsWordStart(char c) => char.IsLetter(c) || c == '_' || (c == '#' && _dialect == SqlDialect.SqlServer);

        private readonly bool IsWordPart(char c) => char.IsLetterOrDigit(c) || c == '_' || c == '$' || (c == '#' && _dialect == SqlDialect.SqlServer);

        private readonly bool IsStringPrefix(ReadOnlySpan<char> word)
        {
            if (word.Length == 1)
            {
                return (word[0] | 0x20) is 'e' or 'n' or 'x' or 'b';
            }

            // MySQL character set introducers: _utf8mb4'text'.
            return _dialect == SqlDialect.MySql && word[0] == '_';
        }

        private readonly bool IsEscapePrefix(ReadOnlySpan<char> word) => word.Length == 1 && (word[0] | 0x20) == 'e' && _dialect is SqlDialect.PostgreSql or SqlDialect.Generic;

        /// <summary>
        /// Whether the list starting at <paramref name="p"/> holds only literals and parameters,
        /// and where it ends. VALUES takes every following tuple; IN takes tuples of literals too.
        /// </summary>
        private readonly bool TryScanCollapsible(int p, ListKind kind, out int end)
        {
            switch (kind)
            {
                case ListKind.Array:
                    return TryScanList(p, ']', tuples: false, allowDefault: false, out end);
                case ListKind.In:
                    return TryScanList(p, ')', tuples: true, allowDefault: false, out end);
                default:
                    if (!TryScanList(p, ')', tuples: false, allowDefault: true, out end))
                    {
                        return false;
                    }

                    while (true)
                    {
                        int q = SkipTrivia(end);
                        if (At(q) != ',')
                        {
                            return true;
                        }

                        q = SkipTrivia(q + 1);
                        if (At(q) != '(' || !TryScanList(q, ')', tuples: false, allowDefault: true, out int next))
                        {
                            return true;
                        }

                        end = next;
                    }
            }
        }

        private readonly bool TryScanList(int p, char close, bool tuples, bool allowDefault, out int end)
        {
            end = p;
            int i = p + 1;
            int items = 0;
            while (true)
            {
                i = SkipTrivia(i);
                if (i >= _s.Length)
                {
                    return false;
                }

                if (tuples && _s[i] == '(')
                {
                    if (!TryScanList(i, ')', tuples: false, allowDefault: false, out i))
                    {
                        return false;
                    }
                }
                else if (!TryScanScalar(ref i, allowDefault))
                {
                    return false;
                }

                items++;
                i = SkipTrivia(i);
                if (At(i) == ',')
                {
                    i++;
                    continue;
                }

                if (At(i) == close && items > 0)
                {
                    end = i + 1;
                    return true;
                }

                return false;
            }
        }

        private readonly bool TryScanScalar(ref int i, bool allowDefault)
        {
            char c = At(i);
            if ((c == '-' || c == '+') && (IsDigit(At(i + 1)) || At(i + 1) == '.'))
            {
                i++;
                c = At(i);
            }

            if (IsDigit(c) || (c == '.' && IsDigit(At(i + 1))))
            {
                int end = ReadNumber(i);
                if (IsWordPart(At(end)))
                {
                    return false;
                }

                i = end;
                return true;
            }

            if (c == '\'' || (c == '"' && _dialect == SqlDialect.MySql))
            {
                i = ReadQuoted(i, c, Backslashes(plainString: true));
                return true;
            }

            if (c == '$' && _dialect is SqlDialect.PostgreSql or SqlDialect.Generic && TryReadDollarString(i, out int dollarEnd))
            {
                i = dollarEnd;
                return true;
            }

            int paramEnd = ReadParameter(i);
            if (paramEnd != i)
            {
                i = paramEnd;
                return true;
            }

            if (!IsWordStart(c))
            {
                return false;
            }

            int wordEnd = ReadWord(i);
            var word = _s[i..wordEnd];
            if (At(wordEnd) == '\'' && IsStringPrefix(word))
            {
                i = ReadQuoted(wordEnd, '\'', Backslashes(plainString: false) || IsEscapePrefix(word));
                return true;
            }

            if (IsBoolean(word) || word.Equals("NULL", StringComparison.OrdinalIgnoreCase) || (allowDefault && word.Equals("DEFAULT", StringComparison.OrdinalIgnoreCase)))
            {
                i = wordEnd;
                return true;
            }

            return false;
        }

        private static ListKind ListStartedBy(ReadOnlySpan<char> word)
        {
            if (word.Equals("IN", StringComparison.OrdinalIgnoreCase))
            {
                return ListKind.In;
            }

            if (word.Equals("VALUES", StringComparison.OrdinalIgnoreCase))
            {
                return ListKind.Values;
            }

            return word.Equals("ARRAY", StringComparison.OrdinalIgnoreCase) ? ListKind.Array : ListKind.None;
        }

        private static bool IsBoolean(ReadOnlySpan<char> word) => word.Equals("TRUE", StringComparison.OrdinalIgnoreCase) || word.Equals("FALSE", StringComparison.OrdinalIgnoreCase);

        /// <summary>Keywords after which a sign belongs to the number (<c>SELECT -1</c>, <c>WHERE -1 &lt; x</c>), unlike after a column name.</summary>
        private static bool IsExpressionKeyword(ReadOnlySpan<char> w) => w.Length switch
        {
            2 => w.Equals("IN", StringComparison.OrdinalIgnoreCase) || w.Equals("IS", StringComparison.OrdinalIgnoreCase) || w.Equals("OR", StringComparison.OrdinalIgnoreCase)
                || w.Equals("ON", StringComparison.OrdinalIgnoreCase) || w.Equals("BY", StringComparison.OrdinalIgnoreCase) || w.Equals("AS", StringComparison.OrdinalIgnoreCase),
            3 => w.Equals("AND", StringComparison.OrdinalIgnoreCase) || w.Equals("NOT", StringComparison.OrdinalIgnoreCase) || w.Equals("SET", StringComparison.OrdinalIgnoreCase)
                || w.Equals("TOP", StringComparison.OrdinalIgnoreCase),
            4 => w.Equals("WHEN", StringComparison.OrdinalIgnoreCase) || w.Equals("THEN", StringComparison.OrdinalIgnoreCase) || w.Equals("ELSE", StringComparison.OrdinalIgnoreCase)
                || w.Equals("LIKE", StringComparison.OrdinalIgnoreCase) || w.Equals("CASE", StringComparison.OrdinalIgnoreCase),
            5 => w.Equals("WHERE", StringComparison.OrdinalIgnoreCase) || w.Equals("LIMIT", StringComparison.OrdinalIgnoreCase),
            6 => w.Equals("SELECT", StringComparison.OrdinalIgnoreCase) || w.Equals("VALUES", StringComparison.OrdinalIgnoreCase) || w.Equals("OFFSET", StringComparison.OrdinalIgnoreCase)
                || w.Equals("HAVING", StringComparison.OrdinalIgnoreCase) || w.Equals("RETURN", StringComparison.OrdinalIgnoreCase),
            7 => w.Equals("BETWEEN", StringComparison.OrdinalIgnoreCase),
            _ => false,
        };

        private static bool IsDigit(char c) => (uint)(c - '0') <= 9;

        private static bool IsHexDigit(char c) => char.IsAsciiHexDigit(c);
    }
}
