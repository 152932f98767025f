using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace LightningDB.Tests
{
    /// <summary>A small JSON reader for the conformance scenarios: objects become
    /// Dictionary&lt;string, object&gt;, arrays List&lt;object&gt;, numbers double, and
    /// true/false/null themselves. Mono ships no JSON reader without extra packages.</summary>
    internal sealed class Json
    {
        private readonly string _text;
        private int _at;

        private Json(string text) { _text = text; }

        public static object Parse(string text)
        {
            var json = new Json(text);
            object value = json.Value();
            json.Space();
            if (json._at != text.Length) throw json.Fail("trailing characters");
            return value;
        }

        private Exception Fail(string what)
        {
            return new FormatException("JSON: " + what + " at offset " + _at);
        }

        private void Space()
        {
            while (_at < _text.Length && char.IsWhiteSpace(_text[_at])) _at++;
        }

        private object Value()
        {
            Space();
            if (_at >= _text.Length) throw Fail("unexpected end");
            char c = _text[_at];
            switch (c)
            {
                case '{': return Object();
                case '[': return Array();
                case '"': return String();
                case 't': Word("true"); return true;
                case 'f': Word("false"); return false;
                case 'n': Word("null"); return null;
                default: return Number();
            }
        }

        private void Word(string word)
        {
            if (string.CompareOrdinal(_text, _at, word, 0, word.Length) != 0) throw Fail("expected " + word);
            _at += word.Length;
        }

        private Dictionary<string, object> Object()
        {
            var result = new Dictionary<string, object>();
            _at++;
            Space();
            if (_text[_at] == '}') { _at++; return result; }
            while (true)
            {
                Space();
                string key = String();
                Space();
                if (_text[_at++] != ':') throw Fail("expected ':'");
                result[key] = Value();
                Space();
                char c = _text[_at++];
                if (c == '}') return result;
                if (c != ',') throw Fail("expected ',' or '}'");
            }
        }

        private List<object> Array()
        {
            var result = new List<object>();
            _at++;
            Space();
            if (_text[_at] == ']') { _at++; return result; }
            while (true)
            {
                result.Add(Value());
                Space();
                char c = _text[_at++];
                if (c == ']') return result;
                if (c != ',') throw Fail("expected ',' or ']'");
            }
        }

        private string String()
        {
            if (_text[_at] != '"') throw Fail("expected a string");
            _at++;
            var s = new StringBuilder();
            while (true)
            {
                char c = _text[_at++];
                if (c == '"') return s.ToString();
                if (c != '\\') { s.Append(c); continue; }
                char e = _text[_at++];
                switch (e)
                {
                    case '"': s.Append('"'); break;
                    case '\\': s.Append('\\'); break;
                    case '/': s.Append('/'); break;
                    case 'b': s.Append('\b'); break;
                    case 'f': s.Append('\f'); break;
                    case 'n': s.Append('\n'); break;
                    case 'r': s.Append('\r'); break;
                    case 't': s.Append('\t'); break;
                    case 'u':
                        s.Append((char)int.Parse(_text.Substring(_at, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        _at += 4;
                        break;
                    default: throw Fail("bad escape");
                }
            }
        }

        private double Number()
        {
            int start = _at;
            while (_at < _text.Length && "+-0123456789.eE".IndexOf(_text[_at]) >= 0) _at++;
            if (start == _at) throw Fail("unexpected character");
            return double.Parse(_text.Substring(start, _at - start), NumberStyles.Float, CultureInfo.InvariantCulture);
        }
    }
}
