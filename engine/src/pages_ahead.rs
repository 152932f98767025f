//! Page-cache pages made ahead of a file's writer, on a second thread.
//!
//! The first write to a page of a file takes a page of memory for the page
//! cache. Where that memory is new to the machine (a virtual machine's guest
//! memory is often backed by its host on first touch), getting it costs more
//! than the copy into it, and the cost falls on the writer. Files written
//! front to back in bulk (a compaction's copies, an index file) therefore grow
//! a window ahead of what was written, and a second thread asks for the pages
//! of that window with `posix_fadvise(WILLNEED)`: past what was written the
//! file is a hole, read as zeros, which is what each page is filled with.
//! A file gets the thread once [`START_AFTER`] bytes are written (or the caller
//! made a hole that large), and the window is as long as what was written, up
//! to [`WINDOW`]: a small file costs nothing, and the pages made past a file's
//! end are never more than the file itself.
//!
//! Invariants:
//! - Only the writer changes the file's length: it extends the file ahead of
//!   its writes ([`PagesAhead::wrote_to`]), and [`PagesAhead::finish`], after
//!   the thread has stopped, sets it to what was written. The thread only
//!   asks for pages.
//! - A page already in the page cache is left as it is (readahead skips it),
//!   and a write to a page being read in waits for the read: a race costs
//!   time, never data.
//! - Extending a file allocates no disk space (a hole), so a disk that fills
//!   up fails the writes exactly where it would without this.
//! - Elsewhere than on Linux and Android (rustix has no `fadvise` on Apple's
//!   systems), and where no thread can be started, nothing is done.

use std::fs::File;
use std::io;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

/// The most the file is extended and its pages asked for ahead of the writer.
const WINDOW: u64 = 32 << 20;

/// Bytes written (or a hole to be written over) before the thread is started:
/// about 1,000 pages, against the tens of microseconds a thread takes to start.
const START_AFTER: u64 = 4 << 20;

/// Pages are asked for this many bytes at a time, so that a stop is seen soon.
const STEP: u64 = 1 << 20;

/// Asks for the page-cache pages of `file` from `from` to `to`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn ask_for_pages(file: &File, from: u64, to: u64) {
    if let Some(len) = std::num::NonZeroU64::new(to.saturating_sub(from)) {
        // Only a hint: where it fails, the write makes its pages itself.
        let _ = rustix::fs::fadvise(file, from, Some(len), rustix::fs::Advice::WillNeed);
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn ask_for_pages(_: &File, _: u64, _: u64) {}

/// What the writer wants made, and whether it is done.
struct Wanted {
    to: u64,
    stop: bool,
}

type Signal = Arc<(Mutex<Wanted>, Condvar)>;

/// The second thread of one file written front to back.
pub(crate) struct PagesAhead {
    /// Where the writer started.
    at: u64,
    /// Started once the file is large enough; None until then, and where
    /// nothing is done (see the invariants).
    thread: Option<(Signal, std::thread::JoinHandle<()>)>,
    /// A start was tried: one that failed is not tried again at every write.
    tried: bool,
    /// The file's length as the writer last set it.
    extended_to: u64,
}

impl PagesAhead {
    /// For `file`, `len` bytes long, which the caller writes from `at` on; the
    /// pages between (a hole the caller made to be written over) are asked for
    /// at once if they are [`START_AFTER`] bytes or more.
    pub(crate) fn start(file: &File, at: u64, len: u64) -> PagesAhead {
        let mut ahead = PagesAhead {
            at,
            thread: None,
            tried: false,
            extended_to: len,
        };
        if len >= at + START_AFTER {
            ahead.start_thread(file, at);
        }
        ahead
    }

    /// Starts the thread, which asks for the pages from `made` on.
    fn start_thread(&mut self, file: &File, made: u64) {
        self.tried = true;
        if cfg!(not(any(target_os = "linux", target_os = "android"))) {
            return;
        }
        let Ok(handle) = file.try_clone() else {
            return;
        };
        let signal: Signal = Arc::new((
            Mutex::new(Wanted {
                to: self.extended_to,
                stop: false,
            }),
            Condvar::new(),
        ));
        let theirs = Arc::clone(&signal);
        let spawned = std::thread::Builder::new()
            .name("lightning-db-pages-ahead".into())
            .spawn(move || make_pages(&handle, made, &theirs));
        if let Ok(thread) = spawned {
            self.thread = Some((signal, thread));
        }
    }

    /// The writer has written `file` up to `pos`: keeps the window ahead of it,
    /// extending the file where the window passes its end.
    pub(crate) fn wrote_to(&mut self, file: &File, pos: u64) -> io::Result<()> {
        let written = pos.saturating_sub(self.at);
        if self.thread.is_none() {
            if written < START_AFTER || self.tried {
                return Ok(());
            }
            self.start_thread(file, pos.max(self.extended_to));
        }
        let Some((signal, _)) = &self.thread else {
            return Ok(());
        };
        let window = written.clamp(STEP, WINDOW);
        if pos + window / 2 <= self.extended_to {
            return Ok(());
        }
        let to = pos + window;
        file.set_len(to)?;
        self.extended_to = to;
        signal.0.lock().to = to;
        signal.1.notify_one();
        Ok(())
    }

    /// Stops the thread and sets the file's length to `len`, what was written.
    pub(crate) fn finish(&mut self, file: &File, len: u64) -> io::Result<()> {
        let extended = self.thread.is_some() && self.extended_to > len;
        self.stop();
        if extended {
            file.set_len(len)?;
        }
        Ok(())
    }

    fn stop(&mut self) {
        if let Some((signal, thread)) = self.thread.take() {
            signal.0.lock().stop = true;
            signal.1.notify_one();
            let _ = thread.join();
        }
    }
}

impl Drop for PagesAhead {
    /// On a failed write the file is removed or left to recovery; the thread
    /// is only stopped.
    fn drop(&mut self) {
        self.stop();
    }
}

fn make_pages(file: &File, mut made: u64, signal: &Signal) {
    let (lock, wake) = &**signal;
    loop {
        let to = {
            let mut wanted = lock.lock();
            while !wanted.stop && wanted.to <= made {
                wake.wait(&mut wanted);
            }
            if wanted.stop {
                return;
            }
            wanted.to
        };
        while made < to {
            if lock.lock().stop {
                return;
            }
            let next = (made + STEP).min(to);
            ask_for_pages(file, made, next);
            made = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, SeekFrom, Write};

    /// A file written through the window, with the thread asking for pages
    /// all the while, reads back as written and no longer.
    #[test]
    fn a_file_written_ahead_of_its_pages_reads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut file = File::options()
            .create_new(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let head = b"head";
        file.write_all(head).unwrap();
        let mut ahead = PagesAhead::start(&file, head.len() as u64, head.len() as u64);
        // Small so far: no thread, and the file as written.
        file.write_all(&[1; 4096]).unwrap();
        ahead.wrote_to(&file, head.len() as u64 + 4096).unwrap();
        assert_eq!(file.metadata().unwrap().len(), head.len() as u64 + 4096);
        let mut expected = head.to_vec();
        expected.extend_from_slice(&[1; 4096]);
        let chunk: Vec<u8> = (0..STEP as usize * 3 + 17)
            .map(|i| (i % 251) as u8)
            .collect();
        for round in 0..(WINDOW / chunk.len() as u64) * 3 {
            let bytes = &chunk[..chunk.len() - round as usize % 100];
            file.write_all(bytes).unwrap();
            expected.extend_from_slice(bytes);
            ahead.wrote_to(&file, expected.len() as u64).unwrap();
            let (len, written) = (file.metadata().unwrap().len(), expected.len() as u64);
            if cfg!(any(target_os = "linux", target_os = "android")) && written >= START_AFTER {
                assert!(len > written, "the window is ahead of the writer");
            }
            assert!(
                len - written <= written.clamp(STEP, WINDOW),
                "the window is no longer than the file"
            );
        }
        ahead.finish(&file, expected.len() as u64).unwrap();
        assert_eq!(file.metadata().unwrap().len(), expected.len() as u64);
        let mut read = Vec::new();
        file.seek(SeekFrom::Start(0)).unwrap();
        file.read_to_end(&mut read).unwrap();
        assert!(read == expected, "the file reads back as written");
    }
}
