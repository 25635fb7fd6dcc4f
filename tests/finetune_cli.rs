//! `undivided finetune / predict / eval / compare` end to end on the built-in sample.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::process::Command;

fn undivided(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_undivided")).args(args).current_dir(common::root()).output().unwrap()
}

#[test]
fn finetune_predict_eval_on_the_builtin_sample() {
    let out = common::tempdir();
    let o = out.path().to_str().unwrap();
    let r = undivided(&["finetune", "default", "--keep-ffn", "0,5", "--steps", "3", "--batch-size", "8", "--out", o]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(out.path().join("results.json")).unwrap()).unwrap();
    assert_eq!(results["plan"], "0,5");
    assert_eq!(results["steps"], 3);
    assert!(results["examples_per_second"].as_f64().unwrap() > 0.0);
    let log = std::fs::read_to_string(out.path().join("log.jsonl")).unwrap();
    assert!(log.lines().any(|l| l.contains("\"eval\"")), "{log}");

    let p = undivided(&["predict", o, "--json", "a wonderful film"]);
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    let v: serde_json::Value = serde_json::from_slice(&p.stdout).unwrap();
    let probs = v["probabilities"].as_object().unwrap();
    assert_eq!(probs.len(), 2);
    let sum: f64 = probs.values().map(|x| x.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-4);

    let e = undivided(&["eval", o, "--task", "sst2", "--json"]);
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    let v: serde_json::Value = serde_json::from_slice(&e.stdout).unwrap();
    assert_eq!(v["sample-dev"]["examples"], 59);

    let bad = undivided(&["eval", o, "--task", "mnli", "--data", "/nonexistent"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("2 labels but mnli has 3"));
}

#[test]
fn malformed_tsv_is_reported_with_file_and_line() {
    let dir = common::tempdir();
    std::fs::write(dir.path().join("train.tsv"), "sentence\tlabel\nfine\t1\nbroken\n").unwrap();
    std::fs::write(dir.path().join("dev.tsv"), "sentence\tlabel\nfine\t1\n").unwrap();
    let out = common::tempdir();
    let d = dir.path().to_str().unwrap();
    let r = undivided(&["finetune", "default", "--data", d, "--steps", "1", "--out", out.path().to_str().unwrap()]);
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("train.tsv:3: expected 2 tab-separated columns, found 1"), "{err}");
    let r = undivided(&["finetune", "default", "--data", d, "--steps", "1", "--skip-bad-rows", "--batch-size", "2", "--out", out.path().to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stderr).contains("skipped 1 malformed rows"));
}

#[test]
fn compare_writes_a_table() {
    let out = common::tempdir();
    let r = undivided(&[
        "compare",
        "default",
        "--plans",
        "all,none,none+norm",
        "--steps",
        "2",
        "--batch-size",
        "8",
        "--reduced-lr",
        "0.0002",
        "--distill",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let md = std::fs::read_to_string(out.path().join("compare.md")).unwrap();
    // --reduced-lr trains the reduced plans, and only them, at their own rate, and the table says so;
    // --distill adds each reduced plan fine-tuned with distillation from the full plan's run.
    for row in [
        "| `all` (lr 0.00005) | full |",
        "| `none` (lr 0.0002) | deleted |",
        "| `none` (lr 0.0002) | deleted + distill |",
        "| `none+norm` (lr 0.0002) | deleted |",
        "| `none+norm` (lr 0.0002) | deleted + distill |",
    ] {
        assert!(md.contains(row), "{row}: {md}");
    }
    assert!(md.contains("lr 0.00005 (reduced plans 0.0002)"), "{md}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.path().join("compare.json")).unwrap()).unwrap();
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert!(rows[1]["params_ratio"].as_f64().unwrap() < 0.8);
    let lrs: Vec<f64> = rows.iter().map(|r| r["lr"].as_f64().unwrap()).collect();
    assert_eq!(lrs, [5e-5, 2e-4, 2e-4, 2e-4, 2e-4]);
    let distilled: serde_json::Value = serde_json::from_slice(&std::fs::read(out.path().join("plan-none-norm-distill/seed-42/results.json")).unwrap()).unwrap();
    assert!(distilled["options"]["teacher"].as_str().unwrap().ends_with("plan-all/seed-42"), "{distilled}");
    assert_eq!(distilled["plan"], "none+norm");
    let run: serde_json::Value = serde_json::from_slice(&std::fs::read(out.path().join("plan-none/seed-42/results.json")).unwrap()).unwrap();
    assert_eq!(run["options"]["train"]["lr"].as_f64(), Some(2e-4), "{run}");
    // `none+norm` is its own run, whose checkpoint keeps the six LayerNorms and says so.
    let params = |i: usize| rows[i]["params"].as_u64().unwrap();
    assert_eq!(params(3) - params(1), 6 * 2 * 384, "{:?}", rows[3]);
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(out.path().join("plan-none-norm/seed-42/config.json")).unwrap()).unwrap();
    assert_eq!((config["ffn_layers"].clone(), config["ffn_keep_layer_norm"].clone()), (serde_json::json!([]), serde_json::json!(true)));
    common::assert_png_chart(&out.path().join("compare.png"));
}

#[test]
fn heal_then_finetune_with_a_teacher() {
    let (healed, teacher, student) = (common::tempdir(), common::tempdir(), common::tempdir());
    let h = healed.path().to_str().unwrap();
    // The built-in sample's folder name says nothing about its layout: --text-task is required.
    let r = undivided(&["heal", "default", "--keep-ffn", "0,5", "--text", "data/sample/train.tsv", "--heal-steps", "2", "--heal-batch-size", "8", "--out", h]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("--text-task"), "{}", String::from_utf8_lossy(&r.stderr));
    let r = undivided(&[
        "heal",
        "default",
        "--keep-ffn",
        "0,5",
        "--text",
        "data/sample/train.tsv",
        "--text-task",
        "sst2",
        "--heal-steps",
        "2",
        "--heal-batch-size",
        "8",
        "--out",
        h,
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(healed.path().join("heal.json")).unwrap()).unwrap();
    assert_eq!(report["plan"], "0,5");
    assert_eq!(report["steps"], 2);
    assert!(report["after"]["hidden_mse"].as_f64().unwrap().is_finite());
    assert!(String::from_utf8_lossy(&r.stdout).contains("hidden-state MSE"));

    // No plan: refused with the flag named.
    let r = undivided(&["heal", "default", "--text", "data/sample/train.tsv", "--out", h]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("--keep-ffn"));

    let t = teacher.path().to_str().unwrap();
    let r = undivided(&["finetune", "default", "--steps", "2", "--batch-size", "8", "--eval-every", "0", "--out", t]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    // The healed folder is the student's model; its own plan (0,5) is kept.
    let s = student.path().to_str().unwrap();
    let r = undivided(&["finetune", h, "--steps", "2", "--batch-size", "8", "--teacher", t, "--alpha", "0.7", "--distill-hidden", "0.5", "--out", s]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(student.path().join("results.json")).unwrap()).unwrap();
    assert_eq!(results["plan"], "0,5");
    assert_eq!(results["options"]["train"]["distill"]["alpha"], 0.7);
    assert_eq!(results["options"]["train"]["distill"]["hidden_weight"], 0.5);
    assert_eq!(results["options"]["train"]["distill"]["attention_weight"], 0.0);
    assert!(results["options"]["teacher"].as_str().unwrap().ends_with(teacher.path().file_name().unwrap().to_str().unwrap()));

    // Layer-to-layer distillation without a teacher is refused with the flags named.
    let r = undivided(&["finetune", h, "--steps", "1", "--distill-hidden", "1", "--out", s]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("--distill-hidden / --distill-attention: need --teacher"), "{}", String::from_utf8_lossy(&r.stderr));

    // A teacher that is not a classifier is refused.
    let r = undivided(&["finetune", h, "--steps", "1", "--teacher", "models/all-MiniLM-L6-v2", "--overwrite", "--out", s]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("not a fine-tuned classifier"), "{}", String::from_utf8_lossy(&r.stderr));
}

#[test]
fn compare_with_healing_and_distillation_and_rerun_reuses_finished_runs() {
    let out = common::tempdir();
    let o = out.path().to_str().unwrap();
    let args = [
        "compare",
        "default",
        "--plans",
        "all;none",
        "--steps",
        "2",
        "--batch-size",
        "8",
        "--eval-every",
        "0",
        "--text",
        "data/sample/train.tsv",
        "--text-task",
        "sst2",
        "--heal-steps",
        "2",
        "--heal-batch-size",
        "8",
        "--distill",
        "--from-finetuned",
        "--pruned-lr",
        "3e-5",
        "--distill-hidden",
        "1",
        "--out",
        o,
    ];
    let r = undivided(&args);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.path().join("compare.json")).unwrap()).unwrap();
    let rows = json["rows"].as_array().unwrap();
    let kinds: Vec<(String, String)> = rows.iter().map(|r| (r["plan"].as_str().unwrap().into(), r["variant"].as_str().unwrap().into())).collect();
    assert_eq!(
        kinds,
        [("all", "deleted"), ("none", "deleted"), ("none", "deleted-distill"), ("none", "healed"), ("none", "healed-distill"), ("none", "pruned-distill")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert!(rows[3]["heal_seconds"].as_f64().unwrap() > 0.0 && rows[3]["heal_examples"] == 16);
    assert!(rows[1]["heal_seconds"].is_null() && rows[2]["heal_seconds"].is_null());
    let md = std::fs::read_to_string(out.path().join("compare.md")).unwrap();
    assert!(md.contains("healing cost") && md.contains("| `none` (lr 0.00005) | healed + distill |"), "{md}");
    // The distilled run learned from the full plan's fine-tuned model of the same seed.
    let distilled: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("plan-none-healed-distill/seed-42/results.json")).unwrap()).unwrap();
    assert!(distilled["options"]["teacher"].as_str().unwrap().ends_with("plan-all/seed-42"));
    // Layer-to-layer distillation reaches the distilled variant only, and the table says so.
    assert_eq!(distilled["options"]["train"]["distill"]["hidden_weight"], 1.0);
    assert!(md.contains("distillation T 2, α 0.5, hidden-state weight 1, attention weight 0"), "{md}");
    // The pruned variant starts from the full plan's fine-tuned model of the same seed: that run
    // is the teacher of its healing and of its fine-tuning.
    let heal: serde_json::Value = serde_json::from_slice(&std::fs::read(out.path().join("heal-none-pruned/seed-42/heal.json")).unwrap()).unwrap();
    assert!(heal["teacher"].as_str().unwrap().ends_with("plan-all/seed-42"), "{heal}");
    let pruned: serde_json::Value = serde_json::from_slice(&std::fs::read(out.path().join("plan-none-pruned-distill/seed-42/results.json")).unwrap()).unwrap();
    assert!(pruned["options"]["teacher"].as_str().unwrap().ends_with("plan-all/seed-42"));
    assert_eq!(pruned["options"]["train"]["lr"], 3e-5);
    assert_eq!(distilled["options"]["train"]["lr"], 5e-5);
    assert!(rows[5]["heal_seconds"].as_f64().unwrap() > 0.0 && rows[5]["heal_examples"] == 16);
    assert!(md.contains("| `none` (lr 0.00003) | pruned from fine-tuned + healed + distill |"), "{md}");
    assert!(md.contains("students cut from the fine-tuned model at lr 0.00003"), "{md}");

    // The page reads this file back (same parser as in the browser).
    let shown = undivided::experiment::results::parse_results("compare.json", &std::fs::read_to_string(out.path().join("compare.json")).unwrap()).unwrap();
    assert_eq!(shown.rows.len(), 6);
    assert_eq!(shown.rows[4].variant, "healed-distill");
    assert!(shown.rows[3].heal_seconds.is_some());

    // Run again: every finished run and the healing are reused, not redone.
    let again = undivided(&args);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert_eq!(stdout.matches("reusing the finished").count(), 8, "{stdout}");

    // A teacher redone since (same path, same options, new weights) makes what learned from it
    // stale: the three distilled runs and the pruned healing are redone, the rest reused.
    let teacher_results = out.path().join("plan-all/seed-42/results.json");
    std::fs::File::options().append(true).open(&teacher_results).unwrap().set_modified(std::time::SystemTime::now()).unwrap();
    let third = undivided(&args);
    assert!(third.status.success(), "{}", String::from_utf8_lossy(&third.stderr));
    let stdout = String::from_utf8_lossy(&third.stdout);
    assert_eq!(stdout.matches("reusing the finished").count(), 4, "{stdout}");
    for redone in ["deleted + distill seed 42: reusing", "healed + distill seed 42: reusing", "pruned from fine-tuned + healed + distill seed 42: reusing"] {
        assert!(!stdout.contains(redone), "{redone}: {stdout}");
    }
    assert!(!stdout.lines().any(|l| l.contains("reusing") && l.contains("heal-none-pruned/seed-42")), "{stdout}");
    // What is redone over an earlier run is said.
    assert!(stdout.contains("plan-none-distill/seed-42 holds a run of other settings") && stdout.contains("replacing it"), "{stdout}");
}

#[test]
fn compare_refuses_distillation_it_cannot_run() {
    let out = common::tempdir();
    let o = out.path().to_str().unwrap();
    let text = ["--text", "data/sample/train.tsv", "--text-task", "sst2"];
    let cases: [(&[&str], &str); 7] = [
        (&["--plans", "none", "--distill"], "--distill: the plans must include `all` (the teacher)"),
        (&["--from-finetuned"], "--from-finetuned: needs --text"),
        (&["--plans", "none", "--from-finetuned", text[0], text[1], text[2], text[3]], "--from-finetuned: the plans must include `all` (the teacher)"),
        (&["--distill-hidden", "1"], "--distill-hidden / --distill-attention: need --distill or --from-finetuned"),
        (&["--pruned-lr", "3e-5"], "--pruned-lr: needs --from-finetuned"),
        (&["--reduced-lr", "0"], "--reduced-lr: expected a positive number"),
        (&["--dropout", "1"], "--dropout: expected a probability in [0, 1)"),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["compare", "default", "--steps", "1", "--out", o];
        args.extend_from_slice(extra);
        let r = undivided(&args);
        assert!(!r.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&r.stderr).contains(expected), "{args:?}: {}", String::from_utf8_lossy(&r.stderr));
    }
    assert!(!out.path().join("compare.json").exists());
}

#[test]
fn analyze_cka_between_full_and_reduced() {
    let out = common::tempdir();
    let json_path = out.path().join("cka.json");
    let r = undivided(&["analyze", "cka", "default", "default", "--keep-ffn-b", "0,5", "--max-sentences", "40", "--out", json_path.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let diag: Vec<f64> = v["diagonal"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert_eq!(diag.len(), 7, "embeddings + 6 layers");
    // Layer 0 keeps its block in plan 0,5: identical up to there; layer 1 lost its block.
    assert!((diag[0] - 1.0).abs() < 1e-4 && (diag[1] - 1.0).abs() < 1e-4, "{diag:?}");
    assert!(diag[2] < 0.999, "{diag:?}");
    assert_eq!(v["sentences"], 40);
    common::assert_png_chart(&out.path().join("cka.png"));
    // Without a usable font the chart fails by name, after the JSON is written.
    let r = Command::new(env!("CARGO_BIN_EXE_undivided"))
        .args(["analyze", "cka", "default", "default", "--max-sentences", "8", "--out", out.path().join("nofont.json").to_str().unwrap()])
        .env("UNDIVIDED_FONT", "/nonexistent/font.ttf")
        .current_dir(common::root())
        .output()
        .unwrap();
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("UNDIVIDED_FONT=/nonexistent/font.ttf is not a file"), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(out.path().join("nofont.json").is_file());
    // Different vocabularies cannot be compared: refused with both names.
    let tiny = common::tiny_checkpoint_dir();
    let r = undivided(&["analyze", "cka", "default", tiny.path().to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("different vocabularies"), "{}", String::from_utf8_lossy(&r.stderr));
}

#[test]
fn analyze_probe_per_layer_and_plan() {
    let out = common::tempdir();
    let json_path = out.path().join("probe.json");
    let r = undivided(&["analyze", "probe", "default", "--plans", "all;none", "--steps", "30", "--max-train", "120", "--out", json_path.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let plans = v["plans"].as_array().unwrap();
    assert_eq!(plans.len(), 2);
    for p in plans {
        let acc = p["accuracy"].as_array().unwrap();
        assert_eq!(acc.len(), 7);
        assert!(acc.iter().all(|a| (0.0..=1.0).contains(&a.as_f64().unwrap())));
    }
    // The embeddings are the same in every plan: their probe is too.
    assert_eq!(plans[0]["accuracy"][0], plans[1]["accuracy"][0]);
    assert!(String::from_utf8_lossy(&r.stdout).contains("| embeddings |"));
    common::assert_png_chart(&out.path().join("probe.png"));
    // Without --plans, the checkpoint's own plan (here the full model) is probed.
    let r = undivided(&["analyze", "probe", "default", "--steps", "5", "--max-train", "40", "--out", json_path.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(v["plans"].as_array().unwrap().len(), 1);
    assert_eq!(v["plans"][0]["plan"], "all");
}

#[test]
fn sweep_removes_blocks_one_at_a_time_then_best_first() {
    let tiny = common::tiny_checkpoint_dir();
    let out = common::tempdir();
    let args = [
        "sweep",
        tiny.path().to_str().unwrap(),
        "--steps",
        "2",
        "--batch-size",
        "8",
        "--max-len",
        "32",
        "--cka-sentences",
        "30",
        "--out",
        out.path().to_str().unwrap(),
    ];
    let r = undivided(&args);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(out.path().join("sweep.json")).unwrap()).unwrap();
    let value = |s: &serde_json::Value| s["value"].as_f64().unwrap();
    let layers = |s: &serde_json::Value| s["removed"].as_array().unwrap().iter().map(|l| l.as_u64().unwrap() as usize).collect::<Vec<_>>();
    let single = v["single"].as_array().unwrap();
    assert_eq!(single.iter().map(layers).collect::<Vec<_>>(), vec![vec![0], vec![1], vec![2]]);
    assert_eq!(single.iter().map(|s| s["plan"].as_str().unwrap()).collect::<Vec<_>>(), ["1,2", "0,2", "0,1"]);
    // Best-first: the single removals sorted by their metric, highest first.
    let order: Vec<usize> = v["order"].as_array().unwrap().iter().map(|l| l.as_u64().unwrap() as usize).collect();
    for w in order.windows(2) {
        assert!(value(&single[w[0]]) >= value(&single[w[1]]), "{order:?}");
    }
    let cumulative = v["cumulative"].as_array().unwrap();
    assert_eq!(cumulative.len(), 3);
    for (k, s) in cumulative.iter().enumerate() {
        assert_eq!(layers(s), order[..=k].to_vec());
        let cka = s["cka_to_full"].as_array().unwrap();
        assert_eq!(cka.len(), 4, "embeddings + 3 layers");
        assert!(cka.iter().all(|c| (-1e-6..=1.0 + 1e-6).contains(&c.as_f64().unwrap())), "{cka:?}");
    }
    assert_eq!(cumulative[2]["plan"], "none");
    // The first cumulative step is the best single removal: the same run, reused.
    assert_eq!(value(&cumulative[0]), value(&single[order[0]]));
    let full = value(&v["full"]);
    let expected = cumulative.iter().take_while(|s| value(s) >= full - 0.01 - 1e-12).count();
    assert_eq!(v["removable"].as_u64().unwrap() as usize, expected);
    let md = std::fs::read_to_string(out.path().join("sweep.md")).unwrap();
    assert!(md.contains("| layer 0 | `1,2` |") && md.contains("intermediate blocks can be removed"), "{md}");
    for chart in ["sweep-single.png", "sweep-cumulative.png", "sweep-cka.png"] {
        common::assert_png_chart(&out.path().join(chart));
    }
    // Run again: every fine-tuning run is reused (full, three single, three cumulative).
    let again = undivided(&args);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(String::from_utf8_lossy(&again.stdout).matches("reusing the finished run").count(), 7);
}

#[test]
fn publish_indexes_checkpoints_and_tables_for_the_page() {
    let tiny = common::tiny_checkpoint_dir();
    let runs = common::tempdir();
    let run = runs.path().join("tiny-sst2");
    let r = undivided(&["finetune", tiny.path().to_str().unwrap(), "--steps", "2", "--batch-size", "8", "--max-len", "32", "--out", run.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let cmp = runs.path().join("cmp");
    let r = undivided(&[
        "compare",
        tiny.path().to_str().unwrap(),
        "--plans",
        "all;none",
        "--steps",
        "1",
        "--batch-size",
        "8",
        "--max-len",
        "32",
        "--out",
        cmp.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));

    // Publish the whole runs folder into a folder inside it: the output is not walked again.
    let into = runs.path().join("published");
    let r = undivided(&["publish", runs.path().to_str().unwrap(), "--into", into.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let root = runs.path().file_name().unwrap().to_str().unwrap().to_string();
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(into.join("index.json")).unwrap()).unwrap();
    let paths: Vec<&str> = index["checkpoints"].as_array().unwrap().iter().map(|c| c["path"].as_str().unwrap()).collect();
    let expected = [format!("{root}/cmp/plan-all/seed-42"), format!("{root}/cmp/plan-none/seed-42"), format!("{root}/tiny-sst2")];
    assert_eq!(paths, expected.iter().map(String::as_str).collect::<Vec<_>>());
    let run_entry = &index["checkpoints"][2];
    assert_eq!(run_entry["kind"], "fine-tuned");
    assert_eq!(run_entry["task"], "sst2");
    assert_eq!(run_entry["labels"], serde_json::json!(["negative", "positive"]));
    assert_eq!(index["checkpoints"][1]["plan"], "none");
    // The page loads what the index names: weights, config, tokenizer, results; never `last/`.
    for f in ["config.json", "model.safetensors", "vocab.txt", "results.json"] {
        assert!(into.join(&expected[2]).join(f).is_file(), "{f}");
    }
    assert!(!into.join(&expected[2]).join("last").exists());
    let results: Vec<&str> = index["results"].as_array().unwrap().iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert!(results.contains(&format!("{root}/cmp/compare.json").as_str()), "{results:?}");
    assert!(results.contains(&format!("{root}/tiny-sst2/results.json").as_str()), "{results:?}");
    assert!(into.join(root.clone()).join("cmp/compare.json").is_file());
    // The published checkpoint is a working checkpoint.
    let p = undivided(&["predict", into.join(&expected[2]).to_str().unwrap(), "--json", "a fine film"]);
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));

    // A second publish of one run keeps the earlier entries; a folder without runs is refused.
    let r = undivided(&["publish", run.to_str().unwrap(), "--into", into.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let again: serde_json::Value = serde_json::from_slice(&std::fs::read(into.join("index.json")).unwrap()).unwrap();
    assert_eq!(again["checkpoints"].as_array().unwrap().len(), 4, "the earlier three and tiny-sst2 under its own name");
    let empty = common::tempdir();
    let r = undivided(&["publish", empty.path().to_str().unwrap(), "--into", into.to_str().unwrap()]);
    assert!(!r.status.success());
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("no checkpoint folder (config.json + model.safetensors) or compare.json found"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
}

/// Issue 20, class 3: nothing the user did not ask for is overwritten — not the model a run starts
/// from, not an earlier run in the same --out (unless --overwrite says so).
#[test]
fn finetune_refuses_to_overwrite_the_model_or_an_earlier_run() {
    let before = std::fs::metadata(common::minilm_dir().join("model.safetensors")).unwrap().modified().unwrap();
    for out in ["models/all-MiniLM-L6-v2", "models/all-MiniLM-L6-v2/run"] {
        let r = undivided(&["finetune", "default", "--steps", "1", "--out", out]);
        assert!(!r.status.success());
        assert!(String::from_utf8_lossy(&r.stderr).contains("the model's own folder"), "{out}: {}", String::from_utf8_lossy(&r.stderr));
    }
    assert_eq!(std::fs::metadata(common::minilm_dir().join("model.safetensors")).unwrap().modified().unwrap(), before);
    assert!(!common::minilm_dir().join("results.json").exists() && !common::minilm_dir().join("run").exists());

    let out = common::tempdir();
    let o = out.path().to_str().unwrap();
    let first = undivided(&["finetune", "default", "--keep-ffn", "none", "--steps", "1", "--batch-size", "4", "--out", o]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let again = undivided(&["finetune", "default", "--keep-ffn", "none", "--steps", "1", "--batch-size", "4", "--out", o]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("holds an earlier run; --resume continues it, --overwrite replaces it"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let replaced = undivided(&["finetune", "default", "--keep-ffn", "none", "--steps", "1", "--batch-size", "4", "--overwrite", "--out", o]);
    assert!(replaced.status.success(), "{}", String::from_utf8_lossy(&replaced.stderr));
}
