//! verify, checkpoint, compact and backup, including a backup taken while
//! another process commits.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

fn segment_files(db: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(db)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

fn flip(file: &std::path::Path, at: usize) {
    let mut bytes = std::fs::read(file).unwrap();
    for b in &mut bytes[at..at + 8] {
        *b ^= 0x5a;
    }
    std::fs::write(file, &bytes).unwrap();
}

#[test]
fn verify_exits_0_when_clean_1_when_damaged_2_when_it_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let entries: Vec<_> = (0..2000u32)
        .map(|i| {
            (
                format!("key{i:05}").into_bytes(),
                vec![(i % 251) as u8; 200],
            )
        })
        .collect();
    {
        // Small segments, so the first ones are sealed and covered by the
        // checkpoint: their damage is not replayed at open, only a full read
        // finds it.
        let config = lightning_db::Config {
            segment_size: 64 * 1024,
            ..Default::default()
        };
        let db = lightning_db::Database::create(&path, config).unwrap();
        let chunks: Vec<_> = entries.chunks(100).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            // The last commit comes after the checkpoint: the log an open
            // replays.
            if i + 1 == chunks.len() {
                db.checkpoint().unwrap();
            }
            let mut batch = lightning_db::WriteBatch::new();
            for (k, v) in chunk.iter() {
                batch.put(k.clone(), v.clone());
            }
            db.write(&batch).unwrap();
        }
        db.close().unwrap();
    }
    let segments = segment_files(&path);
    assert!(segments.len() >= 3);
    let o = run(&["verify", p(&path)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with(&format!("clean: {} segments, 2000 records", segments.len())),
        "{}",
        stdout(&o)
    );
    cmd()
        .args(["verify", "-q", p(&path)])
        .assert()
        .code(0)
        .stdout("");

    let seg = &segments[0];
    flip(seg, 30_000);
    let o = run(&["verify", p(&path)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report = stdout(&o);
    let first = report.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("damaged: {} at offset ", seg.display())),
        "{report}"
    );
    assert!(report.contains("DAMAGED: "), "{report}");
    // A get of a damaged record is an error, never wrong bytes.
    let mut damaged = 0;
    for (k, v) in &entries[..300] {
        let o = run(&["get", p(&path), std::str::from_utf8(k).unwrap()]);
        if o.status.success() {
            assert_eq!(o.stdout, [&v[..], b"\n"].concat());
        } else {
            assert_fails(&o, 1, "corrupted data");
            damaged += 1;
        }
    }
    assert!(damaged > 0, "no key reads as damaged");

    // Damage in the log the open replays (the last commit's frame, before the
    // seal at the end of the last segment) stops the open: still "damaged".
    let last = segments.last().unwrap();
    let data_end = std::fs::read(last)
        .unwrap()
        .iter()
        .rposition(|&b| b != 0)
        .unwrap();
    flip(last, data_end - 1000);
    let o = run(&["verify", p(&path)]);
    assert_fails(&o, 1, "corrupted data");

    // Could not run: no database there.
    let o = run(&["verify", p(&dir.path().join("absent"))]);
    assert_fails(&o, 2, "No such file");
}

#[test]
fn checkpoint_and_compact_report_what_they_did() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = p(&path);
    {
        let config = lightning_db::Config {
            segment_size: 64 * 1024,
            auto_compact: false,
            ..Default::default()
        };
        let d = lightning_db::Database::create(&path, config).unwrap();
        for round in 0..5u8 {
            let mut batch = lightning_db::WriteBatch::new();
            for i in 0..500u32 {
                batch.put(format!("k{i:04}").into_bytes(), vec![round; 300]);
            }
            d.write(&batch).unwrap();
        }
        d.close().unwrap();
    }
    let before: serde_json::Value =
        serde_json::from_slice(&run(&["stats", db, "--json"]).stdout).unwrap();
    let o = run(&["compact", db]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("compacted: "), "{}", stdout(&o));
    let after: serde_json::Value =
        serde_json::from_slice(&run(&["stats", db, "--json"]).stdout).unwrap();
    let (b, a) = (
        before["disk_bytes"].as_u64().unwrap(),
        after["disk_bytes"].as_u64().unwrap(),
    );
    assert!(a * 2 < b, "compaction freed too little: {b} -> {a}");
    assert_eq!(after["keys"], 500);
    cmd()
        .args(["get", db, "--hex", "6b30303030"])
        .assert()
        .success()
        .stdout(format!("{}\n", "04".repeat(300)));

    let o = run(&["checkpoint", db]);
    assert!(o.status.success());
    assert_eq!(
        stdout(&o),
        format!(
            "checkpoint written: 500 keys as of seq {}\n",
            after["last_commit_seq"]
        )
    );
    cmd()
        .args(["checkpoint", "--quiet", db])
        .assert()
        .success()
        .stdout("");
    assert!(path.join("index.ckpt").exists());
    cmd().args(["verify", db]).assert().code(0);
}

#[test]
fn backup_copies_a_consistent_prefix_while_another_process_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    make_db(&path, &[(b"seed".to_vec(), b"0".to_vec())]);
    // The writer: a load committing one entry per batch as its input arrives,
    // holding the writer lock the whole time.
    let mut writer = std::process::Command::new(BIN)
        .args(["load", p(&path), "--batch-size", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = writer.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        input
            .write_all(b"VERSION=3\nformat=bytevalue\nHEADER=END\n")
            .unwrap();
        for i in 0..3000u32 {
            let key = format!("n{i:06}");
            let line = format!(" {}\n {}\n", hex_of(key.as_bytes()), hex_of(&[1u8; 64]));
            input.write_all(line.as_bytes()).unwrap();
            if i % 20 == 0 {
                input.flush().unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        input.write_all(b"DATA=END\n").unwrap();
    });
    let started = Instant::now();
    let mut backups = 0;
    let mut seen_partial = false;
    while backups < 6 || (!seen_partial && started.elapsed() < Duration::from_secs(30)) {
        let dest = dir.path().join(format!("backup{backups}"));
        let o = run(&["backup", p(&path), p(&dest)]);
        assert!(o.status.success(), "backup {backups}: {}", stderr(&o));
        assert!(stdout(&o).starts_with("backed up "), "{}", stdout(&o));
        cmd().args(["verify", p(&dest)]).assert().code(0);
        // A prefix of the writer's commits: n000000 .. n(k-1), no holes.
        let keys: Vec<Vec<u8>> = read_all(&dest)
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| k[0] == b'n')
            .collect();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(
                k,
                format!("n{i:06}").as_bytes(),
                "backup {backups} has a hole"
            );
        }
        seen_partial |= !keys.is_empty() && keys.len() < 3000;
        backups += 1;
    }
    feeder.join().unwrap();
    assert!(writer.wait().unwrap().success());
    assert!(
        seen_partial,
        "no backup was taken while the writer was mid-way"
    );
    // Into a non-empty destination: refused.
    let dest = dir.path().join("backup0");
    assert_fails(&run(&["backup", p(&path), p(&dest)]), 1, "is not empty");
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
