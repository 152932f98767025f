//! How keys and values are given on the command line and shown on output.

use base64::prelude::{Engine as _, BASE64_STANDARD};

use crate::failure::Failure;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 text as typed. On output, bytes that would make a line ambiguous
    /// (invalid UTF-8, control characters, backslash) are escaped.
    Text,
    Hex,
    Base64,
}

impl Encoding {
    /// The bytes an argument stands for; `what` names it in the error.
    pub fn decode(self, what: &str, arg: &str) -> Result<Vec<u8>, Failure> {
        match self {
            Encoding::Text => Ok(arg.as_bytes().to_vec()),
            Encoding::Hex => hex::decode(arg)
                .map_err(|e| Failure::usage(format!("{what} is not valid hex ({e}): {arg:?}"))),
            Encoding::Base64 => BASE64_STANDARD
                .decode(arg)
                .map_err(|e| Failure::usage(format!("{what} is not valid base64 ({e}): {arg:?}"))),
        }
    }

    /// Appends the printed form of `bytes` to `out`.
    pub fn encode_into(self, bytes: &[u8], out: &mut Vec<u8>) {
        match self {
            Encoding::Text => escape_text(bytes, out),
            Encoding::Hex => push_hex(bytes, out),
            Encoding::Base64 => {
                let start = out.len();
                out.resize(
                    start + base64::encoded_len(bytes.len(), true).unwrap_or(0),
                    0,
                );
                let n = BASE64_STANDARD
                    .encode_slice(bytes, &mut out[start..])
                    .expect("buffer sized by encoded_len");
                out.truncate(start + n);
            }
        }
    }
}

/// Lower-case hex of `bytes`, appended to `out`.
pub fn push_hex(bytes: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + bytes.len() * 2, 0);
    hex::encode_to_slice(bytes, &mut out[start..]).expect("buffer is twice the input");
}

/// Printable UTF-8 as it is; `\\`, `\t`, `\n`, `\r` and `\xHH` for the rest, so
/// one entry stays on one line and a binary key is still told apart.
fn escape_text(bytes: &[u8], out: &mut Vec<u8>) {
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.extend_from_slice(b"\\\\"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        escape_byte(b, out);
                    }
                }
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        for &b in chunk.invalid() {
            escape_byte(b, out);
        }
    }
}

fn escape_byte(b: u8, out: &mut Vec<u8>) {
    out.extend_from_slice(b"\\x");
    push_hex(&[b], out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8]) -> String {
        let mut out = Vec::new();
        Encoding::Text.encode_into(bytes, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_escapes_only_what_would_break_a_line() {
        assert_eq!(text("héllo wörld".as_bytes()), "héllo wörld");
        assert_eq!(text(b"a\tb\nc\\d"), "a\\tb\\nc\\\\d");
        assert_eq!(text(b"\x00\xff"), "\\x00\\xff");
    }

    #[test]
    fn hex_and_base64_round_trip() {
        let bytes = [0u8, 1, 0xfe, 0xff, b'a'];
        for enc in [Encoding::Hex, Encoding::Base64] {
            let mut out = Vec::new();
            enc.encode_into(&bytes, &mut out);
            let s = String::from_utf8(out).unwrap();
            assert_eq!(enc.decode("key", &s).unwrap(), bytes);
        }
    }

    #[test]
    fn bad_hex_is_a_usage_error() {
        let err = Encoding::Hex.decode("key", "zz").unwrap_err();
        assert!(
            err.message.contains("key is not valid hex"),
            "{}",
            err.message
        );
        assert_eq!(err.code, crate::failure::USAGE);
    }
}
