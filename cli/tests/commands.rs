//! get, put, delete, scan, stats, completions, help, demo and the errors every
//! command shares.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use common::*;

#[test]
fn put_get_delete_in_text() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let db = p(&db);
    cmd()
        .args(["put", db, "greeting", "hello world"])
        .assert()
        .success()
        .stdout("");
    cmd()
        .args(["get", db, "greeting"])
        .assert()
        .success()
        .stdout("hello world\n");
    cmd()
        .args(["put", db, "greeting", "hej"])
        .assert()
        .success();
    cmd()
        .args(["get", db, "greeting"])
        .assert()
        .success()
        .stdout("hej\n");
    cmd().args(["delete", db, "greeting"]).assert().success();
    assert_fails(&run(&["get", db, "greeting"]), 1, "key not found: greeting");
    assert_fails(
        &run(&["delete", db, "greeting"]),
        1,
        "key not found: greeting",
    );
}

#[test]
fn hex_and_base64_keys_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let db = p(&db);
    cmd()
        .args(["put", db, "--hex", "00ff", "c0ffee"])
        .assert()
        .success();
    cmd()
        .args(["get", db, "--hex", "00ff"])
        .assert()
        .success()
        .stdout("c0ffee\n");
    // The same entry through base64: AP8= is 00 ff, wP/u is c0 ff ee.
    cmd()
        .args(["get", "--base64", db, "AP8="])
        .assert()
        .success()
        .stdout("wP/u\n");
    cmd()
        .args(["scan", db, "--hex"])
        .assert()
        .success()
        .stdout("00ff\tc0ffee\n");
    // In text, bytes that are not UTF-8 are escaped so the line stays one entry.
    cmd()
        .args(["scan", db])
        .assert()
        .success()
        .stdout("\\x00\\xff\t\\xc0\\xff\\xee\n");

    assert_fails(&run(&["get", db, "--hex", "zz"]), 2, "key is not valid hex");
    assert_fails(
        &run(&["put", db, "--hex", "00", "abc"]),
        2,
        "value is not valid hex",
    );
    assert_fails(
        &run(&["get", db, "--base64", "!!"]),
        2,
        "key is not valid base64",
    );
    let both = run(&["get", db, "--hex", "--base64", "00"]);
    assert_eq!(both.status.code(), Some(2), "{}", stderr(&both));
}

#[test]
fn values_from_a_file_or_stdin_and_exact_bytes_out() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let db = p(&db);
    let blob: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let file = dir.path().join("blob.bin");
    std::fs::write(&file, &blob).unwrap();
    cmd()
        .args(["put", db, "blob", "--value-file", p(&file)])
        .assert()
        .success();
    cmd()
        .args(["put", db, "piped", "--value-file", "-"])
        .write_stdin(b"line one\nline two\n\0binary".to_vec())
        .assert()
        .success();
    let out = dir.path().join("out.bin");
    cmd()
        .args(["get", db, "blob", "-o", p(&out)])
        .assert()
        .success()
        .stdout("");
    assert_eq!(std::fs::read(&out).unwrap(), blob);
    cmd()
        .args(["get", db, "piped", "-o", p(&out)])
        .assert()
        .success();
    assert_eq!(
        std::fs::read(&out).unwrap(),
        b"line one\nline two\n\0binary"
    );

    assert_fails(
        &run(&[
            "put",
            db,
            "k",
            "--value-file",
            p(&dir.path().join("absent")),
        ]),
        1,
        "No such file",
    );
    // A value and a value file at once is a usage error.
    let o = run(&["put", db, "k", "v", "--value-file", p(&file)]);
    assert_eq!(o.status.code(), Some(2));
    // Neither is one too.
    let o = run(&["put", db, "k"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn scan_ranges_prefixes_reverse_limit_keys_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut entries = Vec::new();
    for k in ["a1", "a2", "a3", "b1", "b2", "c1"] {
        entries.push((k.as_bytes().to_vec(), format!("v-{k}").into_bytes()));
    }
    entries.push((b"tab\tkey".to_vec(), b"line\nvalue\\".to_vec()));
    make_db(&path, &entries);
    let db = p(&path);
    let scan = |args: &[&str]| {
        let mut all = vec!["scan", db];
        all.extend_from_slice(args);
        let o = run(&all);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    assert_eq!(scan(&["--prefix", "a"]), "a1\tv-a1\na2\tv-a2\na3\tv-a3\n");
    assert_eq!(
        scan(&["--from", "a2", "--to", "b2", "--keys-only"]),
        "a2\na3\nb1\n"
    );
    assert_eq!(
        scan(&["--from", "b1", "--keys-only"]),
        "b1\nb2\nc1\ntab\\tkey\n"
    );
    assert_eq!(scan(&["--to", "a2", "--keys-only"]), "a1\n");
    assert_eq!(
        scan(&["--reverse", "--limit", "2", "--keys-only"]),
        "tab\\tkey\nc1\n"
    );
    assert_eq!(
        scan(&["--prefix", "b", "--reverse"]),
        "b2\tv-b2\nb1\tv-b1\n"
    );
    assert_eq!(scan(&["--prefix", "tab"]), "tab\\tkey\tline\\nvalue\\\\\n");
    assert_eq!(scan(&["--limit", "0"]), "");
    assert_eq!(scan(&["--prefix", "zz"]), "");
    let o = run(&["scan", db, "--prefix", "a", "--from", "a"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "--prefix with --from is a usage error"
    );
}

#[test]
fn stats_as_a_table_and_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let entries: Vec<_> = (0..100u32)
        .map(|i| (format!("key{i:03}").into_bytes(), vec![b'x'; 100]))
        .collect();
    make_db(&path, &entries);
    let o = run(&["stats", p(&path)]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(text.contains("keys          100\n"), "{text}");
    assert!(text.contains("segments      1 ("), "{text}");
    assert!(text.contains("checkpoint    none"), "{text}");

    cmd().args(["checkpoint", p(&path)]).assert().success();
    let o = run(&["stats", p(&path), "--json"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["keys"], 100);
    assert!(v["live_bytes"].as_u64().unwrap() >= 100 * 106);
    assert!(v["segment_file_bytes"].as_u64().unwrap() >= v["live_bytes"].as_u64().unwrap());
    assert!(v["disk_bytes"].as_u64().unwrap() >= v["checkpoint_bytes"].as_u64().unwrap());
    // One batch, one commit.
    assert_eq!(v["last_commit_seq"], 1);
    assert!(v["checkpoint_bytes"].as_u64().unwrap() > 0);
    assert!(v["last_write"].as_str().unwrap().ends_with(" UTC"));
    assert!(v["delta_bytes"].is_null(), "{v}");

    // A few keys changed: the next checkpoint is a delta of them.
    let changed: Vec<_> = (0..10u32)
        .map(|i| (format!("key{i:03}").into_bytes(), vec![b'y'; 100]))
        .collect();
    make_db(&path, &changed);
    cmd().args(["checkpoint", p(&path)]).assert().success();
    let o = run(&["stats", p(&path), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["delta_bytes"].as_u64().unwrap() > 0, "{v}");
    assert!(v["delta_written"].as_str().unwrap().ends_with(" UTC"));
    assert!(v["second_delta_bytes"].is_null(), "{v}");
    let text = stdout(&run(&["stats", p(&path)]));
    assert!(text.contains("  and a delta  "), "{text}");

    // Fewer changes than the delta holds: the next checkpoint is a second
    // delta over it.
    make_db(&path, &changed[..5]);
    cmd().args(["checkpoint", p(&path)]).assert().success();
    let o = run(&["stats", p(&path), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["second_delta_bytes"].as_u64().unwrap() > 0, "{v}");
    assert!(v["second_delta_written"]
        .as_str()
        .unwrap()
        .ends_with(" UTC"));
    let text = stdout(&run(&["stats", p(&path)]));
    assert!(text.contains("  and a second "), "{text}");
}

#[test]
fn a_missing_or_foreign_path_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let m = p(&missing);
    for args in [
        vec!["get", m, "k"],
        vec!["scan", m],
        vec!["stats", m],
        vec!["dump", m],
        vec!["delete", m, "k"],
        vec!["checkpoint", m],
        vec!["compact", m],
        vec!["backup", m, "/tmp/never-made-by-this-test"],
    ] {
        assert_fails(&run(&args), 1, "No such file or directory");
    }
    // A directory without the engine's files is refused, not read as empty.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_fails(
        &run(&["scan", p(&empty)]),
        1,
        "is not a Lightning DB database",
    );
    assert_fails(
        &run(&["delete", p(&empty), "k"]),
        1,
        "is not a Lightning DB database",
    );
    // A file where a database should be.
    let file = dir.path().join("file");
    std::fs::write(&file, b"hello").unwrap();
    assert_fails(&run(&["get", p(&file), "k"]), 1, "is not a directory");
    // Empty and oversized keys are refused by the engine with its reason.
    let db = dir.path().join("db");
    assert_fails(&run(&["put", p(&db), "", "v"]), 1, "keys must not be empty");
    let big = "k".repeat(lightning_db::MAX_KEY_SIZE + 1);
    assert_fails(&run(&["put", p(&db), &big, "v"]), 1, "exceeds the limit");
}

#[test]
fn writes_to_a_locked_database_fail_and_reads_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    make_db(&path, &[(b"k".to_vec(), b"v".to_vec())]);
    // Another process holds the writer lock: a load still reading its input.
    let mut writer = std::process::Command::new(BIN)
        .args(["load", p(&path), "--batch-size", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = writer.stdin.take().unwrap();
    input
        .write_all(b"VERSION=3\nformat=bytevalue\nHEADER=END\n 6b32\n 7632\n")
        .unwrap();
    input.flush().unwrap();
    // Once its first entry is committed (seen by a read, which takes no lock),
    // the load holds the lock; trying writes earlier would race it for the lock.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !run(&["get", p(&path), "k2"]).status.success() {
        assert!(
            std::time::Instant::now() < deadline,
            "the loader never committed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_fails(&run(&["put", p(&path), "k", "other"]), 1, "database locked");
    assert_fails(&run(&["delete", p(&path), "k"]), 1, "database locked");
    assert_fails(&run(&["checkpoint", p(&path)]), 1, "database locked");
    cmd()
        .args(["get", p(&path), "k"])
        .assert()
        .success()
        .stdout("v\n");
    cmd().args(["stats", p(&path)]).assert().success();
    cmd().args(["verify", p(&path)]).assert().code(0);
    input.write_all(b"DATA=END\n").unwrap();
    drop(input);
    assert!(writer.wait().unwrap().success());
    cmd()
        .args(["get", p(&path), "k2"])
        .assert()
        .success()
        .stdout("v2\n");
}

#[test]
fn a_reader_that_goes_away_ends_the_scan_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let entries: Vec<_> = (0..200_000u32)
        .map(|i| (format!("key{i:08}").into_bytes(), b"value".to_vec()))
        .collect();
    make_db(&path, &entries);
    for command in ["scan", "dump"] {
        let mut child = std::process::Command::new(BIN)
            .args([command, p(&path)])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty());
        // The pipe is closed here, as `| head -1` does.
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{command}: {:?}", out.status);
        assert_eq!(stderr(&out), "", "{command}");
    }
}

#[test]
fn every_command_has_help_with_an_example() {
    for command in [
        "stats",
        "verify",
        "get",
        "put",
        "delete",
        "scan",
        "checkpoint",
        "compact",
        "backup",
        "dump",
        "load",
        "import-sqlite",
        "completions",
        "demo",
    ] {
        let o = run(&[command, "--help"]);
        assert!(o.status.success(), "{command}");
        let text = stdout(&o);
        assert!(
            text.contains("Example"),
            "{command} --help has no example:\n{text}"
        );
        assert!(
            text.contains(&format!("lightning-db {command}")),
            "{command}:\n{text}"
        );
    }
    let top = stdout(&run(&["--help"]));
    assert!(top.contains("Exit codes"), "{top}");
    let o = run(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn completions_for_each_shell() {
    let bash = stdout(&run(&["completions", "bash"]));
    assert!(bash.contains("complete -F _lightning__db"), "{bash}");
    assert!(bash.contains("import-sqlite"));
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let o = run(&["completions", shell]);
        assert!(o.status.success() && o.stdout.len() > 500, "{shell}");
    }
    // Into a closed pipe: no panic.
    let mut child = std::process::Command::new(BIN)
        .args(["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(stderr(&out), "");
    assert_eq!(run(&["completions", "tcsh"]).status.code(), Some(2));
}

#[test]
fn demo_writes_a_database_the_other_commands_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo-db");
    let o = run(&["demo", p(&path)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("counter = 3"), "{text}");
    assert!(text.contains("verify: clean"), "{text}");
    cmd()
        .args(["get", p(&path), "user:1"])
        .assert()
        .success()
        .stdout("{\"name\":\"Ada\",\"lang\":\"Rust\"}\n");
    cmd()
        .args(["get", p(&path), "counter"])
        .assert()
        .success()
        .stdout("3\n");
    assert_fails(&run(&["get", p(&path), "config:theme"]), 1, "key not found");
    cmd().args(["verify", p(&path)]).assert().code(0);
}

#[test]
fn progress_bars_draw_on_a_terminal_and_not_when_piped() {
    let dir = tempfile::tempdir().unwrap();
    let mut dump = String::from("VERSION=3\nformat=bytevalue\nHEADER=END\n");
    for i in 0..20_000u32 {
        dump += &format!(
            " {}\n {}\n",
            hex_of(format!("key{i:06}").as_bytes()),
            "ab".repeat(200)
        );
    }
    dump += "DATA=END\n";
    let file = dir.path().join("in.dump");
    std::fs::write(&file, dump).unwrap();
    let db = dir.path().join("db");
    // util-linux's `script` gives the command a pseudo-terminal.
    let on_tty = |args: &str| {
        let o = std::process::Command::new("script")
            .args(["-qec", &format!("{BIN} {args}"), "/dev/null"])
            .output()
            .expect("script (util-linux) gives the command a terminal");
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let shown = on_tty(&format!("load {} {}", p(&db), p(&file)));
    assert!(shown.contains("load ["), "no bar on a terminal: {shown:?}");
    assert!(shown.contains("loaded 20000 keys"), "{shown:?}");
    let quiet = on_tty(&format!("load --quiet {} {}", p(&db), p(&file)));
    assert_eq!(quiet, "", "--quiet draws nothing");
    let piped = run(&["load", p(&db), p(&file)]);
    assert!(piped.status.success());
    assert_eq!(
        stderr(&piped),
        "",
        "nothing drawn when stderr is not a terminal"
    );
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
