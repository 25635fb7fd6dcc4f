//! Mutation fuzzing of every parser of outside input (issue 20): valid seeds are mutated at random
//! — bytes flipped, cut, repeated, spliced with hostile tokens (huge numbers, `..`, NUL, broken
//! UTF-8) — and each parser must answer `Ok` or a clear `Err`, never panic. Deterministic per
//! seed; `UNDIVIDED_FUZZ_ITERS` sets the inputs per parser (2,000 by default, which the suite
//! runs; `docs/reliability.md` records the long run of 10⁶ per parser).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use undivided::checkpoint::hub::{is_safe_revision, looks_like_repo_id};
use undivided::data::{Task, parse_tsv_bytes};
use undivided::experiment::results::{parse_index, parse_results};
use undivided::model::{BertConfig, FfnPlan, ModelStats};
use undivided::text::BertTokenizer;
use undivided::train::finetune_run::RunState;
use undivided::train::heal_run::HealState;
use undivided::train::rng::Rng;

/// Tokens that break parsers: numbers at and past every integer width, non-finite floats, path
/// climbing, NUL, broken UTF-8, JSON structure.
const DICT: &[&[u8]] = &[
    b"1e18",
    b"-1",
    b"0",
    b"null",
    b"NaN",
    b"1e999",
    b"-1e999",
    b"3e38",
    b"18446744073709551615",
    b"18446744073709551616",
    b"4294967296",
    b"9223372036854775807",
    b"[]",
    b"{}",
    b"\"\"",
    b"..",
    b"../",
    b"/",
    b"\0",
    b"\xff\xfe",
    b"\xe2\x80\x8b",
    b"+1",
    b"\t",
    b"\n",
    b"\r\n",
    b",",
    b";",
    b"-",
    b"+norm",
    b"all",
    b"none",
    b"\"0\"",
    b"true",
    b"[[",
    b"]]",
    b"\\u0000",
];

fn iterations() -> usize {
    std::env::var("UNDIVIDED_FUZZ_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000)
}

/// One to four random edits of `seed`.
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = |rng: &mut Rng, v: &Vec<u8>| rng.below(v.len() + 1);
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = [0u8, 0xff, b'"', b'{', b'9', b'\t', b'\n', b'-'][rng.below(8)];
            }
            2 if !v.is_empty() => {
                let (a, b) = (at(rng, &v), at(rng, &v));
                let (a, b) = (a.min(b), a.max(b).min(a.min(b) + 64));
                v.drain(a..b);
            }
            3 if !v.is_empty() => {
                let (a, n) = (rng.below(v.len()), 1 + rng.below(32));
                let piece: Vec<u8> = v[a..(a + n).min(v.len())].to_vec();
                let i = at(rng, &v);
                v.splice(i..i, piece);
            }
            4 => {
                v.truncate(at(rng, &v));
            }
            _ => {
                let token = DICT[rng.below(DICT.len())];
                let i = at(rng, &v);
                // Replace a run of digits or a word where it lands, or insert.
                let end = (i..v.len()).find(|&j| !v[j].is_ascii_alphanumeric() && v[j] != b'.').unwrap_or(v.len());
                let end = if rng.below(2) == 0 { end } else { i };
                v.splice(i..end, token.iter().copied());
            }
        }
    }
    v
}

/// Feeds `iterations()` mutants of `seeds` to `parse`; returns how many it accepted.
fn fuzz(name: &str, seeds: &[Vec<u8>], parse: impl Fn(&[u8]) -> bool) -> usize {
    let n = iterations();
    let mut rng = Rng::new(name.len() as u64 * 7919 + seeds.len() as u64);
    let started = std::time::Instant::now();
    let mut accepted = 0;
    for i in 0..n {
        let input = mutate(&mut rng, &seeds[i % seeds.len()]);
        match catch_unwind(AssertUnwindSafe(|| parse(&input))) {
            Ok(ok) => accepted += usize::from(ok),
            Err(_) => panic!("{name}: input {i} panicked: {:?}", String::from_utf8_lossy(&input)),
        }
    }
    println!("fuzz {name}: {n} inputs, 0 panics, {accepted} accepted, {:.1} s", started.elapsed().as_secs_f64());
    accepted
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn config_json() {
    let seeds = vec![std::fs::read(common::tiny_dir().join("config.json")).unwrap(), br#"{"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072, "id2label": {"0": "a", "1": "b"}, "ffn_layers": [0, 5], "ffn_keep_layer_norm": true}"#.to_vec()];
    let accepted = fuzz("config.json", &seeds, |b| match BertConfig::from_json(&text(b)) {
        Ok(config) => {
            let plan = config.plan();
            let _ = (ModelStats::new(&config, &plan, 128), config.label_names(), config.num_labels());
            true
        }
        Err(_) => false,
    });
    assert!(accepted > 0, "no mutant was a valid config: the mutations are too destructive to test anything");
}

#[test]
fn safetensors_header_and_tensor_table() {
    let bytes = std::fs::read(common::tiny_dir().join("model.safetensors")).unwrap();
    let config = BertConfig::from_json(&std::fs::read_to_string(common::tiny_dir().join("config.json")).unwrap()).unwrap();
    // The header (JSON) and the bytes right after it are where mutations matter: seeds cut to
    // the header plus a little data keep most mutants there, and the whole file keeps the rest.
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let seeds = vec![bytes.clone(), bytes[..8 + header_len + 256].to_vec()];
    let device = burn::tensor::Device::flex();
    let plan = FfnPlan::all(3);
    fuzz("model.safetensors", &seeds, |b| undivided::checkpoint::load_bert(b, Path::new("model.safetensors"), &config, &plan, &device).is_ok());
}

#[test]
fn vocab_txt_and_tokenizer_json() {
    let vocab = common::tiny_vocab(40);
    let tokenizer = BertTokenizer::from_vocab_txt(&vocab, true, "vocab.txt").unwrap();
    let json = tokenizer.inner().to_string(false).unwrap();
    let encode = |t: &BertTokenizer| {
        let _ = t.encode(&undivided::TextInput::Pair("the movie was good".into(), "a film".into()));
        let _ = t.max_id();
        true
    };
    fuzz("vocab.txt", &[vocab.into_bytes()], |b| BertTokenizer::from_vocab_txt(&text(b), true, "vocab.txt").is_ok_and(|t| encode(&t)));
    fuzz("tokenizer.json", &[json.into_bytes()], |b| BertTokenizer::from_json_bytes(b, "tokenizer.json").is_ok_and(|t| encode(&t)));
}

#[test]
fn glue_rows() {
    let seeds: Vec<(Task, Vec<u8>)> = vec![
        (Task::Sst2, b"sentence\tlabel\nthe movie was good\t1\na bad film\t0\n".to_vec()),
        (Task::Cola, b"gj04\t1\t\tThe sailors rode the breeze clear of the rocks.\ngj04\t0\t*\tThe more we study verbs.\n".to_vec()),
        (Task::Rte, b"index\tsentence1\tsentence2\tlabel\n0\tA man sleeps.\tSomeone rests.\tentailment\n".to_vec()),
        (Task::Mrpc, b"\xef\xbb\xbfQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tHe said it.\tIt was said by him.\n".to_vec()),
        (Task::Stsb, b"index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n0\tmain\tf\t2012\t1\tnone\tnone\tA plane.\tAn airplane.\t5.000\n".to_vec()),
    ];
    for (task, seed) in seeds {
        for skip in [false, true] {
            fuzz(&format!("{task} rows (skip bad: {skip})"), std::slice::from_ref(&seed), |b| {
                parse_tsv_bytes(task, b, Path::new("x.tsv"), skip).is_ok_and(|set| set.examples.iter().all(|e| undivided::data::visible(&e.text_a)))
            });
        }
    }
}

#[test]
fn keep_ffn_plans_repo_ids_and_revisions() {
    let seeds: Vec<Vec<u8>> = ["0,5", "all;0,5;none", "1-3+norm", "none+norm", "all,0,5+norm,0,5"].iter().map(|s| s.as_bytes().to_vec()).collect();
    fuzz("--keep-ffn / --plans", &seeds, |b| {
        let s = text(b);
        let one = FfnPlan::parse(&s, 6).is_ok_and(|p| p.num_layers() == 6);
        let list = FfnPlan::parse_list(&s, 6).is_ok();
        one || list
    });
    let seeds: Vec<Vec<u8>> = ["main", "refs/pr/1", "v1.0", "sentence-transformers/all-MiniLM-L6-v2"].iter().map(|s| s.as_bytes().to_vec()).collect();
    fuzz("HF_REVISION / repo id", &seeds, |b| {
        let s = text(b);
        let safe = is_safe_revision(&s);
        // A safe revision never climbs out of the cache folder.
        assert!(!safe || !s.split('/').any(|p| p == ".." || p == "." || p.is_empty()), "{s:?}");
        safe | looks_like_repo_id(&s)
    });
}

#[test]
fn state_json() {
    let run = br#"{"step": 4, "epoch": 0, "next_batch": 4, "total_steps": 9, "examples_seen": 32, "train_seconds": 1.5, "best": [0.5, 4],
        "options": {"train": {"batch_size": 8, "max_len": 16, "lr": 0.001, "warmup_ratio": 0.0, "weight_decay": 0.01, "max_grad_norm": 1.0, "seed": 3},
        "epochs": 1, "max_steps": 9, "eval_every": 0, "save_every": 0, "eval_batch_size": 16}, "plan": "all", "task": "sst2"}"#
        .to_vec();
    let heal = br#"{"step": 3, "epoch": 0, "next_batch": 3, "total_steps": 8, "examples_seen": 12, "train_seconds": 0.5, "plan": "1",
        "options": {"config": {"lr": 0.002, "warmup_ratio": 0.0, "weight_decay": 0.01, "max_grad_norm": 1.0, "hidden_weight": 1.0, "attention_weight": 1.0, "seed": 42},
        "batch_size": 4, "max_len": 16, "epochs": 1, "max_steps": 8, "eval_every": 0, "save_every": 0}, "before": {"hidden_mse": 0.1, "attention_kl": 0.2}}"#.to_vec();
    assert!(serde_json::from_slice::<RunState>(&run).is_ok() && serde_json::from_slice::<HealState>(&heal).is_ok(), "the seeds must parse");
    fuzz("state.json (fine-tuning)", &[run], |b| {
        serde_json::from_slice::<RunState>(b).is_ok_and(|s| s.cursor.check(9, 4, 8).is_ok() && s.options.validate().is_ok())
    });
    fuzz("state.json (healing)", &[heal], |b| {
        serde_json::from_slice::<HealState>(b).is_ok_and(|s| s.cursor.check(8, 3, 4).is_ok() && s.options.validate().is_ok())
    });
}

#[test]
fn results_compare_and_index_json() {
    let compare = br#"{"title": "t", "rows": [{"plan": "all", "variant": "deleted", "lr": 5e-5, "metric": "accuracy", "values": [0.9, 0.8], "mean": 0.85, "std": 0.07,
        "params": 100, "params_ratio": 1.0, "flops_ratio": 1.0, "train_seconds": 10.0, "examples_per_second": 3.0, "speedup": 1.0, "delta_vs_full": 0.0, "heal_seconds": null, "heal_examples": null}]}"#.to_vec();
    let results = br#"{"task": "sst2", "plan": "0,5", "main_metric": "accuracy", "best_value": 0.81, "params": 80, "train_seconds": 9.0, "examples_per_second": 2.0, "steps": 600, "seed": 42, "options": {"teacher": null}}"#.to_vec();
    let index = br#"{"checkpoints": [{"path": "a/b", "kind": "fine-tuned", "plan": "all", "params": 1, "task": "sst2", "metric": "accuracy", "value": 0.5, "labels": ["n", "p"]}], "results": [{"path": "a/compare.json", "title": "t"}]}"#.to_vec();
    fuzz("compare.json / results.json", &[compare, results], |b| parse_results("x.json", &text(b)).is_ok());
    fuzz("index.json", &[index], |b| parse_index("index.json", &text(b)).is_ok());
}

/// Hostile values for a numeric or path flag.
const FLAG_VALUES: &[&str] = &[
    "0",
    "-1",
    "1",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "4294967296",
    "1e308",
    "1e-308",
    "NaN",
    "inf",
    "-inf",
    "",
    "0x10",
    "1_000",
    "/dev/zero",
    "/nonexistent/x",
    "/",
    ".",
    "..",
    "\u{200b}",
];

/// The command line: every subcommand's numeric and path flags get hostile values, one flag at a
/// time on a command that is otherwise short (the tiny model, one step), and the binary must exit
/// with a message — never a panic (exit 101), an abort (a signal) or a hang (60 s). The suite runs
/// 60 invocations; `UNDIVIDED_FUZZ_CLI=N` runs N (every flag × value is 20 × 50 or so).
#[test]
fn command_line_flags_never_panic() {
    let model = common::tiny_checkpoint_dir();
    let m = model.path().to_str().unwrap().to_string();
    let out = common::tempdir();
    let o = |name: &str| out.path().join(name).to_str().unwrap().to_string();
    let corpus = common::root().join("../shared/corpus").to_str().unwrap().to_string();
    // (command before the flag, the flags that get hostile values)
    let commands: Vec<(Vec<String>, &[&str])> = vec![
        (
            vec![
                "finetune".into(),
                m.clone(),
                "--steps".into(),
                "1".into(),
                "--batch-size".into(),
                "4".into(),
                "--max-len".into(),
                "16".into(),
                "--out".into(),
                o("ft"),
            ],
            &[
                "--steps",
                "--epochs",
                "--batch-size",
                "--max-len",
                "--lr",
                "--warmup-ratio",
                "--weight-decay",
                "--max-grad-norm",
                "--dropout",
                "--seed",
                "--eval-every",
                "--save-every",
                "--data",
                "--out",
            ],
        ),
        (
            vec![
                "heal".into(),
                m.clone(),
                "--keep-ffn".into(),
                "1".into(),
                "--text".into(),
                "data/sample/train.tsv".into(),
                "--text-task".into(),
                "sst2".into(),
                "--heal-steps".into(),
                "1".into(),
                "--out".into(),
                o("heal"),
            ],
            &[
                "--heal-steps",
                "--heal-epochs",
                "--heal-batch-size",
                "--heal-max-len",
                "--heal-lr",
                "--hidden-weight",
                "--attention-weight",
                "--heal-seed",
                "--text",
            ],
        ),
        (
            vec![
                "pretrain".into(),
                m.clone(),
                "--keep-ffn".into(),
                "1".into(),
                "--corpus".into(),
                corpus,
                "--tokens".into(),
                "64".into(),
                "--batch-size".into(),
                "4".into(),
                "--max-len".into(),
                "16".into(),
                "--out".into(),
                o("pt"),
            ],
            &[
                "--tokens",
                "--milestones",
                "--batch-size",
                "--max-len",
                "--lr",
                "--held-out",
                "--mlm-weight",
                "--mask-prob",
                "--seed",
                "--save-every",
                "--corpus",
                "--valid",
            ],
        ),
        (
            vec![
                "bench".into(),
                m.clone(),
                "--iters".into(),
                "1".into(),
                "--warmup".into(),
                "0".into(),
                "--batch".into(),
                "2".into(),
                "--seq-len".into(),
                "8".into(),
            ],
            &["--batch", "--seq-len", "--iters", "--warmup", "--limit", "--data"],
        ),
        (vec!["info".into(), m.clone()], &["--seq-len", "--keep-ffn"]),
        (
            vec![
                "compare".into(),
                m.clone(),
                "--plans".into(),
                "all;1".into(),
                "--steps".into(),
                "1".into(),
                "--batch-size".into(),
                "4".into(),
                "--max-len".into(),
                "16".into(),
                "--out".into(),
                o("cmp"),
            ],
            &["--seeds", "--seed", "--reduced-lr", "--steps"],
        ),
        (vec!["cache".into()], &["--repo"]),
    ];
    let cases: Vec<(Vec<String>, String)> = commands
        .iter()
        .flat_map(|(base, flags)| flags.iter().flat_map(move |flag| FLAG_VALUES.iter().map(move |v| (base.clone(), format!("{flag}={v}")))))
        .collect();
    let n: usize = std::env::var("UNDIVIDED_FUZZ_CLI").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let mut rng = Rng::new(20_261_206);
    for _ in 0..n.min(cases.len() * 4) {
        let (base, flag) = &cases[rng.below(cases.len())];
        let mut args = base.clone();
        args.push(flag.clone());
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_undivided"))
            .args(&args)
            .current_dir(common::root())
            .env("UNDIVIDED_CACHE", out.path().join("cache"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > std::time::Duration::from_secs(60) {
                child.kill().unwrap();
                panic!("`undivided {}` did not end in 60 s", args.join(" "));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let mut err = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert!(status.code() != Some(101) && status.signal().is_none() && !err.contains("panicked"), "`undivided {}`: {status:?}\n{err}", args.join(" "));
        assert!(status.success() || err.contains("error"), "`undivided {}` failed without saying why: {err}", args.join(" "));
        let _ = std::fs::remove_dir_all(out.path().join("ft"));
    }
}
