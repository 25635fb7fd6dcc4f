//! Runs that cannot trample each other: one writer per run folder, a resumed run's log without
//! duplicate rows, the `last/` recovery notice on the command line, bounded seeds.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn undivided(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_undivided")).args(args).current_dir(common::root()).output().unwrap()
}

/// Every file under `dir` with its bytes: what a refusal must leave as it was.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push((path.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// A second `finetune` into the folder of a running one is refused at once, naming the holder
/// (pid, command, since when), and leaves the folder as it was; once the first ends (here: a
/// kill, the way a crash ends it) the folder is free again.
#[test]
fn a_second_writer_is_refused_and_a_dead_holder_blocks_nothing() {
    let model = common::tiny_checkpoint_dir();
    let out = common::tempdir();
    let (m, o) = (model.path().to_str().unwrap(), out.path().to_str().unwrap());
    let mut first = Command::new(env!("CARGO_BIN_EXE_undivided"))
        .args(["finetune", m, "--steps", "100000", "--batch-size", "8", "--max-len", "16", "--save-every", "0", "--eval-every", "0", "--out", o])
        .current_dir(common::root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // Wait until the first run holds the lock and is stepping (its log has a line): from then on it
    // writes nothing new into the folder until its end.
    while !std::fs::read_to_string(out.path().join(".lock")).is_ok_and(|t| t.contains("\"pid\""))
        || !std::fs::read_to_string(out.path().join("log.jsonl")).is_ok_and(|t| t.contains("\"step\""))
    {
        assert!(started.elapsed() < Duration::from_secs(120), "the first run never took its lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = snapshot(out.path());
    let second = undivided(&["finetune", m, "--steps", "2", "--batch-size", "8", "--max-len", "16", "--overwrite", "--out", o]);
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success());
    assert!(err.contains("another run is writing this folder") && err.contains(&format!("pid {}", first.id())) && err.contains("undivided finetune"), "{err}");
    // Nothing the second run did changed the folder (the first run's own writes aside: it saves
    // nothing before its end here).
    assert_eq!(snapshot(out.path()).into_iter().map(|(n, _)| n).collect::<Vec<_>>(), before.into_iter().map(|(n, _)| n).collect::<Vec<_>>());

    first.kill().unwrap();
    first.wait().unwrap();
    let third = undivided(&["finetune", m, "--steps", "2", "--batch-size", "8", "--max-len", "16", "--overwrite", "--out", o]);
    assert!(third.status.success(), "{}", String::from_utf8_lossy(&third.stderr));
}

/// Ctrl-C's resume files saved at step 4 of a run that had logged up to step 6 (the last two
/// lost with the crash), then `--resume`: each step's line and each evaluation once; resuming
/// the finished run again adds nothing.
#[test]
fn a_resumed_run_logs_each_step_and_evaluation_once() {
    let model = common::tiny_checkpoint_dir();
    let out = common::tempdir();
    let (m, o) = (model.path().to_str().unwrap(), out.path().to_str().unwrap());
    let args = ["finetune", m, "--steps", "12", "--batch-size", "8", "--max-len", "16", "--eval-every", "4", "--save-every", "4", "--out", o];
    let first = undivided(&args);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    // As if the run had crashed after logging step 10 with `last/` at step 8: rewind `last/`.
    let state_path = out.path().join("last/state.json");
    let mut state: serde_json::Value = serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    let steps_per_batch = state["examples_seen"].as_u64().unwrap() / 12;
    state["step"] = 8.into();
    state["examples_seen"] = (8 * steps_per_batch).into();
    state["next_batch"] = (state["next_batch"].as_u64().unwrap().saturating_sub(4)).into();
    std::fs::write(&state_path, serde_json::to_vec(&state).unwrap()).unwrap();
    let resumed = undivided(&[&args[..], &["--resume"]].concat());
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let again = undivided(&[&args[..], &["--resume"]].concat());
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let log = std::fs::read_to_string(out.path().join("log.jsonl")).unwrap();
    let mut seen = std::collections::HashSet::new();
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = (v["step"].as_u64().unwrap(), v.get("eval").is_some());
        assert!(seen.insert(key), "step {} logged twice:\n{log}", key.0);
    }
    assert!(seen.contains(&(12, true)) && seen.contains(&(10, false)), "{log}");
}

/// A `last/` lost between the two renames that replace it is put back from `last.old`, and the
/// command line says so.
#[test]
fn the_recovered_last_folder_is_said_on_the_command_line() {
    let model = common::tiny_checkpoint_dir();
    let out = common::tempdir();
    let (m, o) = (model.path().to_str().unwrap(), out.path().to_str().unwrap());
    let args = ["finetune", m, "--steps", "6", "--batch-size", "8", "--max-len", "16", "--save-every", "3", "--out", o];
    assert!(undivided(&args).status.success());
    std::fs::rename(out.path().join("last"), out.path().join("last.old")).unwrap();
    let r = undivided(&[&args[..], &["--resume"]].concat());
    let text = format!("{}{}", String::from_utf8_lossy(&r.stdout), String::from_utf8_lossy(&r.stderr));
    assert!(r.status.success(), "{text}");
    assert!(text.contains("was missing") && text.contains("last.old"), "{text}");
}

/// A seed near the top of u64 with several seeds is refused before any run, naming both flags.
#[test]
fn seeds_that_would_overflow_are_refused_before_any_run() {
    let out = common::tempdir();
    let o = out.path().join("cmp");
    let r = undivided(&[
        "compare",
        "default",
        "--plans",
        "all;none",
        "--steps",
        "1",
        "--seed",
        "18446744073709551615",
        "--seeds",
        "2",
        "--out",
        o.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains("--seeds 2") && err.contains("--seed 18446744073709551615"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!o.exists() || snapshot(&o).is_empty(), "nothing written");
}

/// `undivided cache` lists what the download cache holds with sizes, marks interrupted
/// downloads, and removes them (or everything) on request.
#[test]
fn the_cache_is_listed_with_sizes_and_cleaned() {
    let cache = common::tempdir();
    let done = cache.path().join("hub/org--model/main");
    let partial = cache.path().join("hub/other/main");
    for dir in [&done, &partial] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("config.json"), vec![b' '; 1_500_000]).unwrap();
    }
    std::fs::write(done.join(".complete"), "org/model@main\n").unwrap();
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_undivided")).args(args).env("UNDIVIDED_CACHE", cache.path()).output().unwrap();
    let list = run(&["cache"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    assert!(text.contains("org/model@main  1.5 MB") && text.contains("other@main  1.5 MB  (incomplete") && text.contains("total 3.0 MB"), "{text}");
    let clean = run(&["cache", "--clean-incomplete"]);
    assert!(String::from_utf8_lossy(&clean.stdout).contains("removed 1 folder(s)"));
    assert!(done.is_dir() && !partial.exists());
    let missing = run(&["cache", "--clean", "--repo", "nobody/nothing"]);
    assert!(!missing.status.success() && String::from_utf8_lossy(&missing.stderr).contains("not in the cache"));
    assert!(done.is_dir());
    assert!(run(&["cache", "--clean"]).status.success());
    assert!(!done.exists());
}

/// `compare` run again with other settings replaces its stale runs, and says so.
#[test]
fn a_replaced_stale_run_is_said() {
    let model = common::tiny_checkpoint_dir();
    let out = common::tempdir();
    let (m, o) = (model.path().to_str().unwrap(), out.path().to_str().unwrap());
    let args = |lr: &'static str| vec!["compare", m, "--plans", "all;1", "--steps", "1", "--batch-size", "8", "--max-len", "16", "--lr", lr, "--out", o];
    let first = undivided(&args("0.0001"));
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(!String::from_utf8_lossy(&first.stdout).contains("replacing"));
    let second = undivided(&args("0.0002"));
    let text = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    assert!(text.contains("holds a run of other settings") && text.contains("replacing it"), "{text}");
    // ... and in the table's notes, beside the numbers the replacing runs made.
    let table: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("compare.json")).unwrap()).unwrap();
    let notes = table["notes"].as_array().expect("compare.json has notes");
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes.iter().all(|n| n.as_str().unwrap().contains("replaced a run of other settings")), "{notes:?}");
    let md = std::fs::read_to_string(out.path().join("compare.md")).unwrap();
    assert!(md.contains("Notes:") && md.contains("plan-all/seed-42"), "{md}");
    // A third run of the same settings reuses every run: nothing replaced, no notes.
    let third = undivided(&args("0.0002"));
    assert!(third.status.success(), "{}", String::from_utf8_lossy(&third.stderr));
    assert!(!std::fs::read_to_string(out.path().join("compare.json")).unwrap().contains("\"notes\""));
}

/// Files read whole are capped before parsing: a 2 MB config.json, a 20 MB tokenizer.json and
/// healing text from `/dev/zero` (no size, no end) are refused by name, without reading on.
#[test]
fn files_read_whole_are_capped() {
    let model = common::tiny_checkpoint_dir();
    let config = std::fs::read_to_string(model.path().join("config.json")).unwrap();
    let big = common::tempdir();
    for f in ["model.safetensors", "vocab.txt"] {
        std::fs::copy(model.path().join(f), big.path().join(f)).unwrap();
    }
    std::fs::write(big.path().join("config.json"), config.replacen('{', &format!("{{\"padding\": \"{}\",", " ".repeat(2_000_000)), 1)).unwrap();
    let r = undivided(&["encode", big.path().to_str().unwrap(), "the movie"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains("config.json") && err.contains("expected at most 1048576"), "{err}");
    std::fs::write(big.path().join("config.json"), &config).unwrap();
    std::fs::write(big.path().join("tokenizer.json"), vec![b' '; 20_000_000]).unwrap();
    let r = undivided(&["encode", big.path().to_str().unwrap(), "the movie"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains("tokenizer.json") && err.contains("expected at most 16777216"), "{err}");

    let out = common::tempdir();
    let started = Instant::now();
    let r = undivided(&[
        "heal",
        model.path().to_str().unwrap(),
        "--keep-ffn",
        "1",
        "--text",
        "/dev/zero",
        "--heal-steps",
        "1",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains("/dev/zero") && err.contains("at most 268435456 bytes"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// Numbers past what a command can do are refused by flag, value and range, not an abort or
/// an overflow panic.
#[test]
fn numbers_past_their_range_are_refused_by_flag() {
    for (args, expected) in [
        (&["bench", "default", "--batch", "1000000000"][..], "--batch 1000000000: expected 1 to 4096"),
        (&["bench", "default", "--iters", "0"][..], "--iters 0: expected 1 to 100000"),
        (&["info", "default", "--seq-len", "18446744073709551615"][..], "--seq-len 18446744073709551615: expected 1 to 1000000"),
        (
            &["pretrain", "default", "--keep-ffn", "none", "--corpus", "../shared/corpus", "--tokens", "1e30", "--out", "/nonexistent/x"][..],
            "expected a token count from 1 to 1000G",
        ),
        (
            &["pretrain", "default", "--keep-ffn", "none", "--corpus", "../shared/corpus", "--tokens", "100", "--out", "/nonexistent/x"][..],
            "--tokens: expected at least one batch",
        ),
    ] {
        let r = undivided(args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success() && err.contains(expected) && !err.contains("panicked"), "{args:?}: {err}");
    }
}

/// A publish that fails part-way (a malformed `results.json` in the second checkpoint) leaves
/// the target as it was: nothing copied, no index.
#[test]
fn a_failed_publish_leaves_the_target_as_it_was() {
    let model = common::tiny_checkpoint_dir();
    let runs = common::tempdir();
    for (name, results) in [("a", None), ("b", Some("{not json"))] {
        let dir = runs.path().join("R").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["config.json", "model.safetensors", "vocab.txt"] {
            std::fs::copy(model.path().join(f), dir.join(f)).unwrap();
        }
        if let Some(text) = results {
            std::fs::write(dir.join("results.json"), text).unwrap();
        }
    }
    let into = common::tempdir();
    std::fs::write(into.path().join("keep.txt"), "earlier").unwrap();
    let before = snapshot(into.path());
    let r = undivided(&["publish", runs.path().join("R").to_str().unwrap(), "--into", into.path().to_str().unwrap()]);
    assert!(!r.status.success(), "{}", String::from_utf8_lossy(&r.stdout));
    let after: Vec<_> = snapshot(into.path()).into_iter().filter(|(n, _)| n != ".lock").collect();
    assert_eq!(after, before, "a failed publish changed the target");
}
