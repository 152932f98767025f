//! Progress bars on a terminal, nothing when stderr is piped or with --quiet, and
//! summary lines that --quiet silences.

use std::io::Write;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone, Copy)]
pub struct Ui {
    pub quiet: bool,
}

impl Ui {
    fn target(&self) -> ProgressDrawTarget {
        // indicatif's stderr target draws nothing unless stderr is a terminal, so
        // piped output and CI logs get no control characters.
        if self.quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        }
    }

    /// A bar over `total` bytes.
    pub fn bytes(&self, total: u64, what: &str) -> ProgressBar {
        let style = ProgressStyle::with_template(
            "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> ");
        ProgressBar::with_draw_target(Some(total), self.target())
            .with_style(style)
            .with_message(what.to_string())
    }

    /// A bar over `total` items (keys, rows).
    pub fn items(&self, total: u64, what: &str, unit: &str) -> ProgressBar {
        let style = ProgressStyle::with_template(&format!(
            "{{msg:>10}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} {{per_sec}} eta {{eta}}"
        ))
        .expect("valid template")
        .progress_chars("=> ");
        ProgressBar::with_draw_target(Some(total), self.target())
            .with_style(style)
            .with_message(what.to_string())
    }

    /// For work whose size the engine does not report as it goes: a spinner with
    /// the elapsed time, ticking on its own thread.
    pub fn spinner(&self, what: &str) -> ProgressBar {
        let style =
            ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template");
        let bar = ProgressBar::with_draw_target(None, self.target())
            .with_style(style)
            .with_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// A summary line on stdout, unless --quiet.
    pub fn say(&self, line: impl AsRef<str>) {
        if !self.quiet {
            // A closed stdout must not turn a finished command into a failure
            // (println! would panic).
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", line.as_ref()).and_then(|()| out.flush());
        }
    }
}

/// 1536 -> "1.5 KiB".
pub fn human_bytes(n: u64) -> String {
    indicatif::BinaryBytes(n).to_string()
}
