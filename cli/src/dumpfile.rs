//! The text dump format that Berkeley DB's `db_dump` and LMDB's `mdb_dump` share,
//! so a dump moves to and from those stores with their own `db_load`/`mdb_load`:
//!
//! ```text
//! VERSION=3
//! format=bytevalue        (or format=print: printable bytes as they are, \\ and \hh)
//! type=btree
//! HEADER=END
//!  6b6579                 a key: one space, then its bytes in hex
//!  76616c7565             its value, the same way
//! DATA=END
//! ```
//!
//! Both sides stream: the writer formats one entry at a time into a reused
//! buffer, the reader keeps one line in memory.

use std::io::{BufRead, Write};

use crate::encoding::push_hex;
use crate::failure::{Failure, Outcome};

pub fn write_header(
    out: &mut impl Write,
    printable: bool,
    mapsize: Option<u64>,
) -> std::io::Result<()> {
    let format = if printable { "print" } else { "bytevalue" };
    write!(out, "VERSION=3\nformat={format}\ntype=btree\n")?;
    if let Some(bytes) = mapsize {
        writeln!(out, "mapsize={bytes}")?;
    }
    out.write_all(b"HEADER=END\n")
}

/// Appends the two data lines of one entry to `buf`.
pub fn push_entry(buf: &mut Vec<u8>, key: &[u8], value: &[u8], printable: bool) {
    for bytes in [key, value] {
        buf.push(b' ');
        if printable {
            push_printable(bytes, buf);
        } else {
            push_hex(bytes, buf);
        }
        buf.push(b'\n');
    }
}

pub fn write_footer(out: &mut impl Write) -> std::io::Result<()> {
    out.write_all(b"DATA=END\n")
}

/// mdb_dump's `-p` form: `isprint` bytes as they are, a backslash doubled, any
/// other byte as a backslash and two hex digits.
fn push_printable(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x20..=0x7e => out.push(b),
            _ => {
                out.push(b'\\');
                push_hex(&[b], out);
            }
        }
    }
}

/// Reads a dump one entry at a time; every error names the line.
pub struct DumpReader<R> {
    input: R,
    name: String,
    line: Vec<u8>,
    line_no: u64,
    key_line: u64,
    printable: bool,
    done: bool,
}

impl<R: BufRead> DumpReader<R> {
    /// Reads and checks the header. `name` is how errors refer to the input.
    pub fn new(input: R, name: impl Into<String>) -> Outcome<Self> {
        let mut reader = DumpReader {
            input,
            name: name.into(),
            line: Vec::new(),
            line_no: 0,
            key_line: 0,
            printable: false,
            done: false,
        };
        reader.read_header()?;
        Ok(reader)
    }

    /// The line of the last entry's key, for errors about the entry.
    pub fn key_line(&self) -> u64 {
        self.key_line
    }

    pub fn error(&self, what: impl std::fmt::Display) -> Failure {
        Failure::new(format!("{}: line {}: {what}", self.name, self.line_no))
    }

    /// The next line without its line ending; false at the end of the input.
    fn next_line(&mut self) -> Outcome<bool> {
        self.line.clear();
        let n = self
            .input
            .read_until(b'\n', &mut self.line)
            .map_err(|e| Failure::io(format!("read {}", self.name), e))?;
        if n == 0 {
            return Ok(false);
        }
        self.line_no += 1;
        if self.line.last() == Some(&b'\n') {
            self.line.pop();
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
        }
        Ok(true)
    }

    fn read_header(&mut self) -> Outcome<()> {
        if !self.next_line()? {
            return Err(Failure::new(format!(
                "{}: empty input, not a dump (expected VERSION=3)",
                self.name
            )));
        }
        if self.line != b"VERSION=3" {
            return Err(self.error(format!(
                "not a db_dump/mdb_dump file: expected VERSION=3, found {:?}",
                String::from_utf8_lossy(&self.line)
            )));
        }
        loop {
            if !self.next_line()? {
                return Err(self.error("file ends inside the header (no HEADER=END)"));
            }
            let line = String::from_utf8_lossy(&self.line).into_owned();
            if line == "HEADER=END" {
                return Ok(());
            }
            let Some((name, value)) = line.split_once('=') else {
                return Err(
                    self.error(format!("expected NAME=VALUE in the header, found {line:?}"))
                );
            };
            match (name, value) {
                ("format", "bytevalue") => self.printable = false,
                ("format", "print") => self.printable = true,
                ("format", other) => {
                    return Err(self.error(format!(
                        "unknown format {other:?} (expected bytevalue or print)"
                    )))
                }
                ("type", "btree" | "hash") => {}
                ("type", other) => {
                    return Err(self.error(format!(
                        "database type {other:?} has no keys of its own; only btree and hash dumps load"
                    )))
                }
                ("duplicates" | "dupsort", "1") => {
                    return Err(self.error(
                        "a database with duplicate keys cannot load: a key holds one value here",
                    ))
                }
                // Other stores' tuning (mapsize, db_pagesize, maxreaders, a
                // sub-database's name, ...) means nothing here; mdb_load too
                // ignores keywords it does not know.
                _ => {}
            }
        }
    }

    /// Decodes the next entry into `key` and `value`; false after DATA=END.
    pub fn next_entry(&mut self, key: &mut Vec<u8>, value: &mut Vec<u8>) -> Outcome<bool> {
        if self.done {
            return Ok(false);
        }
        if !self.data_line()? {
            self.done = true;
            self.check_end()?;
            return Ok(false);
        }
        self.decode_line(key)?;
        self.key_line = self.line_no;
        if !self.data_line()? {
            return Err(self.error("a key without a value before DATA=END"));
        }
        self.decode_line(value)?;
        Ok(true)
    }

    /// Reads a data line; false if it is DATA=END.
    fn data_line(&mut self) -> Outcome<bool> {
        if !self.next_line()? {
            return Err(Failure::new(format!(
                "{}: line {}: file ends before DATA=END (truncated?)",
                self.name, self.line_no
            )));
        }
        if self.line == b"DATA=END" {
            return Ok(false);
        }
        if self.line.first() != Some(&b' ') {
            return Err(self.error(format!(
                "expected a data line starting with a space, or DATA=END; found {:?}",
                String::from_utf8_lossy(&self.line[..self.line.len().min(40)])
            )));
        }
        Ok(true)
    }

    fn decode_line(&self, out: &mut Vec<u8>) -> Outcome<()> {
        out.clear();
        let text = &self.line[1..];
        if self.printable {
            let mut i = 0;
            while i < text.len() {
                if text[i] != b'\\' {
                    out.push(text[i]);
                    i += 1;
                } else if text.get(i + 1) == Some(&b'\\') {
                    out.push(b'\\');
                    i += 2;
                } else {
                    let pair = text.get(i + 1..i + 3).ok_or_else(|| {
                        self.error(format!(
                            "backslash at column {} not followed by two hex digits",
                            i + 2
                        ))
                    })?;
                    let mut byte = [0u8];
                    hex::decode_to_slice(pair, &mut byte).map_err(|_| {
                        self.error(format!(
                            "backslash at column {} not followed by two hex digits",
                            i + 2
                        ))
                    })?;
                    out.push(byte[0]);
                    i += 3;
                }
            }
        } else {
            if text.len() % 2 != 0 {
                return Err(self.error("odd number of hex digits"));
            }
            out.resize(text.len() / 2, 0);
            hex::decode_to_slice(text, out).map_err(|e| self.error(format!("bad hex: {e}")))?;
        }
        Ok(())
    }

    /// After DATA=END only blank lines may follow: `mdb_dump -a` writes one section
    /// per database, and loading them all into one key space would mix them.
    fn check_end(&mut self) -> Outcome<()> {
        while self.next_line()? {
            if !self.line.iter().all(u8::is_ascii_whitespace) {
                return Err(self.error(
                    "more than one database in this dump; load one at a time (mdb_dump -s NAME)",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &str) -> Outcome<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut r = DumpReader::new(text.as_bytes(), "input")?;
        let (mut k, mut v) = (Vec::new(), Vec::new());
        let mut out = Vec::new();
        while r.next_entry(&mut k, &mut v)? {
            out.push((k.clone(), v.clone()));
        }
        Ok(out)
    }

    #[test]
    fn round_trips_both_forms() {
        let entries: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (b"a\\b".to_vec(), vec![]),
            (vec![0, 0xff, b'\n'], b"plain text".to_vec()),
        ];
        for printable in [false, true] {
            let mut buf = Vec::new();
            write_header(&mut buf, printable, Some(1 << 20)).unwrap();
            for (k, v) in &entries {
                push_entry(&mut buf, k, v, printable);
            }
            write_footer(&mut buf).unwrap();
            assert_eq!(
                read_all(std::str::from_utf8(&buf).unwrap()).unwrap(),
                entries
            );
        }
    }

    #[test]
    fn errors_name_the_line() {
        let bad = "VERSION=3\nformat=bytevalue\nHEADER=END\n 6b\n 7g\nDATA=END\n";
        let err = read_all(bad).unwrap_err();
        assert!(
            err.message.starts_with("input: line 5: bad hex"),
            "{}",
            err.message
        );
        let truncated = "VERSION=3\nformat=bytevalue\nHEADER=END\n 6b\n 76\n";
        let err = read_all(truncated).unwrap_err();
        assert!(
            err.message.contains("line 5: file ends before DATA=END"),
            "{}",
            err.message
        );
        let err = read_all("hello\n").unwrap_err();
        assert!(
            err.message.contains("line 1: not a db_dump/mdb_dump file"),
            "{}",
            err.message
        );
    }
}
