//! `undivided study` end to end on the tiny model: two tasks × {all, none} × three routes × two
//! seeds, the task-agnostic healing shared by both tasks, the table and figure files, every run
//! reused on a second call, and malformed study files refused by name.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::Path;
use std::process::Command;

fn undivided(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_undivided")).args(args).current_dir(common::root()).output().unwrap()
}

/// A GLUE folder with tiny SST-2 and CoLA sets made of the tiny vocabulary's words.
fn glue(dir: &Path) {
    let (sst2, cola) = (dir.join("SST-2"), dir.join("CoLA"));
    std::fs::create_dir_all(&sst2).unwrap();
    std::fs::create_dir_all(&cola).unwrap();
    let mut s = String::from("sentence\tlabel\n");
    let mut c = String::new();
    for (i, subject) in ["the movie", "a film", "the film", "a movie"].iter().enumerate() {
        for adj in ["good", "bad", "very good", "not bad"] {
            s.push_str(&format!("{subject} is {adj}\t{}\n", usize::from(adj.ends_with("good") ^ adj.starts_with("not"))));
            c.push_str(&format!("x{i}\t1\t\t{subject} was {adj}\nx{i}\t0\t*\t{adj} was {subject} the\n"));
        }
    }
    for (d, body) in [(&sst2, &s), (&cola, &c)] {
        std::fs::write(d.join("train.tsv"), body).unwrap();
        std::fs::write(d.join("dev.tsv"), body).unwrap();
    }
}

/// A corpus folder of the tiny vocabulary's words: one shard and a held-out file.
fn corpus(dir: &Path) -> std::path::PathBuf {
    let corpus = dir.join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    let words = ["the", "a", "movie", "good", "bad", "is", "was", "not", "very", "film"];
    let text: String = (0..60).map(|i| (0..(4 + i % 9)).map(|k| words[(i * 3 + k * 7) % words.len()]).collect::<Vec<_>>().join(" ") + "\n").collect();
    std::fs::write(corpus.join("train-00.txt"), &text).unwrap();
    std::fs::write(corpus.join("valid.txt"), &text[..200]).unwrap();
    corpus
}

fn spec(model: &Path, glue: &Path, edit: impl Fn(&mut serde_json::Value)) -> serde_json::Value {
    let mut v = serde_json::json!({
        "model": model, "glue": glue,
        "tasks": {"sst2": {"steps": 2, "max_len": 16}, "cola": {"steps": 2, "max_len": 16, "reduced_lr": 1e-3}},
        "plans": ["none"], "routes": ["deleted", "healed-once", "from-finetuned"], "seeds": 2, "batch_size": 8,
        "heal": {"text": glue.join("SST-2"), "steps": 2, "batch_size": 8, "max_len": 16},
    });
    edit(&mut v);
    v
}

/// A study of the `pretrained` route in `dir` (GLUE and corpus written there), pre-training to
/// `tokens` with a tiny recipe, `edit` applied last; returns the spec file's path.
fn pretrained_spec(dir: &Path, model: &Path, tokens: &[&str], edit: impl Fn(&mut serde_json::Value)) -> std::path::PathBuf {
    glue(dir);
    let corpus = corpus(dir);
    let body = spec(model, dir, |v| {
        v["routes"] = serde_json::json!(["pretrained"]);
        v["pretrain"] = serde_json::json!({"corpus": corpus, "tokens": tokens, "batch_size": 4, "max_len": 16, "lr": 1e-3});
        v.as_object_mut().unwrap().remove("heal");
        edit(v);
    });
    let path = dir.join("study.json");
    std::fs::write(&path, body.to_string()).unwrap();
    path
}

#[test]
fn a_study_runs_shares_its_healing_writes_its_table_and_reuses_its_runs() {
    let tmp = common::tempdir();
    let model = common::tiny_checkpoint_dir();
    glue(tmp.path());
    let spec_path = tmp.path().join("study.json");
    std::fs::write(&spec_path, spec(model.path(), tmp.path(), |_| {}).to_string()).unwrap();
    let out = tmp.path().join("out");
    let args = ["study", spec_path.to_str().unwrap(), "--out", out.to_str().unwrap()];
    let r = undivided(&args);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let table: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("study.json")).unwrap()).unwrap();
    let tasks = table["tasks"].as_array().unwrap();
    assert_eq!(tasks.iter().map(|t| t["task"].as_str().unwrap()).collect::<Vec<_>>(), ["cola", "sst2"]);
    for t in tasks {
        let routes: Vec<&str> = t["rows"].as_array().unwrap().iter().map(|r| r["route"].as_str().unwrap()).collect();
        assert_eq!(routes, ["deleted", "healed-once", "from-finetuned"], "{t}");
        assert_eq!(t["full"]["best"].as_array().unwrap().len(), 2, "two seeds");
        assert!(t["full"]["final_mean"].is_number(), "the final evaluation is reported beside the best");
        assert!(t["answer"].as_str().unwrap().starts_with(t["task"].as_str().unwrap()), "{t}");
        let healed = t["rows"][1].clone();
        assert!(healed["cost_seconds"].as_f64().unwrap() > healed["train_seconds"].as_f64().unwrap(), "healing's share is in the cost: {healed}");
        let pruned = t["rows"][2].clone();
        assert!(
            pruned["cost_seconds"].as_f64().unwrap() > t["full"]["train_seconds"].as_f64().unwrap(),
            "the route from the fine-tuned model pays for it: {pruned}"
        );
    }
    // CoLA's reduced plans ran at their own learning rate; SST-2's at the task's.
    let lr = |task: &str, dir: &str| -> f64 {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join(task).join(dir).join("seed-42/results.json")).unwrap()).unwrap();
        v["options"]["train"]["lr"].as_f64().unwrap()
    };
    assert_eq!((lr("cola", "plan-none"), lr("sst2", "plan-none"), lr("cola", "plan-all")), (1e-3, 5e-5, 5e-5));
    // One task-agnostic healing per plan, shared by both tasks.
    let heals: Vec<_> = std::fs::read_dir(out.join("heal")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(heals, ["heal-none"]);
    assert!(!out.join("sst2/heal-none").exists() && !out.join("cola/heal-none").exists());
    let md = std::fs::read_to_string(out.join("study.md")).unwrap();
    assert!(md.contains("intermediate blocks can go within one point") || md.contains("no reduced plan stays within one point"), "{md}");
    assert!(md.contains("| `none` | healed once |") && md.contains("| `all` | full |"), "{md}");
    // Two steps leave the tiny model's Δs at about 0 (bars of no height); the figure itself is
    // checked with data below.
    assert!(std::fs::metadata(out.join("study.png")).unwrap().len() > 5_000);
    assert!(out.join("sst2/compare.json").is_file() && out.join("cola/compare.md").is_file());

    // Again: nothing is trained.
    let again = undivided(&args);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert_eq!(stdout.matches("reusing the finished run").count(), 16, "{stdout}");
    assert_eq!(stdout.matches("reusing the finished healing").count(), 2 + 4, "{stdout}");
}

/// A study of the plain cut alone needs no healing text and no distillation settings.
#[test]
fn a_study_of_the_deleted_route_alone_runs() {
    let tmp = common::tempdir();
    let model = common::tiny_checkpoint_dir();
    glue(tmp.path());
    let spec_path = tmp.path().join("study.json");
    let spec = spec(model.path(), tmp.path(), |v| {
        v["routes"] = serde_json::json!(["deleted"]);
        v["seeds"] = 1.into();
        v.as_object_mut().unwrap().remove("heal");
        v["tasks"].as_object_mut().unwrap().remove("cola");
    });
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    let out = tmp.path().join("out");
    let r = undivided(&["study", spec_path.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let table: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("study.json")).unwrap()).unwrap();
    assert_eq!(table["tasks"][0]["rows"].as_array().unwrap().len(), 1);
    assert!(!out.join("heal").exists());
}

#[test]
fn a_malformed_study_file_is_refused_by_name() {
    let tmp = common::tempdir();
    let model = common::tiny_checkpoint_dir();
    glue(tmp.path());
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(Edit, &str)> = vec![
        (Box::new(|v| v["tasks"]["sst2"]["epoch"] = 3.into()), "unknown field `epoch`"),
        (Box::new(|v| v["tasks"]["sst3"] = serde_json::json!({})), "tasks: unknown task `sst3`"),
        (Box::new(|v| v["plans"] = serde_json::json!(["0,9"])), "plans:"),
        (Box::new(|v| v["routes"] = serde_json::json!(["healed"])), "unknown variant `healed`"),
        (Box::new(|v| v["heal"] = serde_json::Value::Null), "heal: the healed-once and from-finetuned routes need it"),
        (Box::new(|v| v["seeds"] = 0.into()), "seeds 0: expected 1 to 1000"),
        (Box::new(|v| v["seed"] = u64::MAX.into()), "the last seed would pass 2^64"),
        (Box::new(|v| v["routes"] = serde_json::json!(["pretrained"])), "pretrain: the pretrained route needs it"),
        (Box::new(|v| v["pretrain"] = serde_json::json!({"corpus": "x", "tokens": ["12Q"]})), "pretrain.tokens: `12Q`"),
        (Box::new(|v| v["tasks"]["cola"]["lr"] = (-1.0).into()), "tasks.cola: --lr: expected a positive, finite number"),
        (Box::new(|v| v["routes"] = serde_json::json!([])), "routes: expected at least one"),
    ];
    for (i, (edit, expected)) in cases.iter().enumerate() {
        let path = tmp.path().join(format!("bad-{i}.json"));
        std::fs::write(&path, spec(model.path(), tmp.path(), edit).to_string()).unwrap();
        let r = undivided(&["study", path.to_str().unwrap(), "--out", tmp.path().join("out").to_str().unwrap()]);
        assert!(!r.status.success(), "case {i}");
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(err.contains(expected), "case {i}: expected `{expected}` in: {err}");
    }
    assert!(!tmp.path().join("out/study.json").exists(), "nothing ran");
}

/// Every shipped study file (`studies/*.json`) reads and validates (they are what the README tells users
/// to run), and share one recipe per task, so that their runs are each other's to reuse.
#[test]
fn the_shipped_glue_studies_are_valid_and_share_their_recipes() {
    use undivided::experiment::study::StudySpec;
    let dir = common::root().join("studies");
    let main = StudySpec::read(&dir.join("glue4.json")).unwrap();
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.ends_with(".json")).collect();
    names.sort();
    assert!(names.len() >= 3, "{names:?}");
    for name in &names {
        let spec = StudySpec::read(&dir.join(name)).unwrap();
        spec.validate(6).unwrap();
        let tasks: Vec<String> = spec.tasks().unwrap().iter().map(|(t, _)| t.name().to_string()).collect();
        assert_eq!(tasks, ["cola", "mrpc", "rte", "sst2"], "{name}");
        // A study with a rate grid takes no per-task rates: the rest of its recipes must match.
        let mut recipes = main.tasks.clone();
        if !spec.lr_grid.is_empty() {
            for r in recipes.values_mut() {
                (r.lr, r.reduced_lr, r.pruned_lr) = (5e-5, None, None);
            }
        }
        assert_eq!(spec.tasks, recipes, "{name}: the tasks' recipes differ from glue4.json's");
        assert_eq!((spec.seeds, spec.seed, spec.batch_size), (main.seeds, main.seed, main.batch_size), "{name}");
    }
}

/// The study's figure: grouped bars of Δ vs full per task, with error bars, negative values
/// below the zero line.
#[test]
fn the_study_figure_draws_grouped_bars_with_error_bars() {
    use undivided::chart::{BarSeries, png};
    let tmp = common::tempdir();
    let path = tmp.path().join("deltas.png");
    let groups: Vec<String> = ["cola", "sst2", "mrpc", "rte"].iter().map(|s| s.to_string()).collect();
    let series = vec![
        BarSeries { name: "`0,5` deleted".into(), values: vec![Some((-4.2, 1.1)), Some((-2.0, 0.4)), Some((-0.8, 0.9)), Some((-3.5, 2.0))] },
        BarSeries { name: "`0,5` healed once".into(), values: vec![Some((-2.1, 0.7)), Some((-0.6, 0.3)), None, Some((0.4, 1.5))] },
    ];
    png::grouped_bars(&path, "Δ vs the full model", "points", &groups, &series).unwrap();
    common::assert_png_chart(&path);
    assert!(png::grouped_bars(&path, "t", "p", &groups, &[BarSeries { name: "x".into(), values: vec![None] }]).is_err(), "one value per group");
}

/// `--tasks` / `--routes`: part of a study now, the rest later reusing it; parts the spec does
/// not hold are refused by name.
#[test]
fn a_part_of_a_study_runs_now_and_the_whole_study_reuses_it() {
    let tmp = common::tempdir();
    let model = common::tiny_checkpoint_dir();
    glue(tmp.path());
    let spec_path = tmp.path().join("study.json");
    let spec = spec(model.path(), tmp.path(), |v| {
        v["routes"] = serde_json::json!(["deleted", "healed-once"]);
        v["seeds"] = 1.into();
    });
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    let out = tmp.path().join("out");
    let (spec_arg, out_arg) = (spec_path.to_str().unwrap(), out.to_str().unwrap());
    let part = undivided(&["study", spec_arg, "--out", out_arg, "--tasks", "sst2", "--routes", "deleted"]);
    assert!(part.status.success(), "{}", String::from_utf8_lossy(&part.stderr));
    let table: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("study.json")).unwrap()).unwrap();
    let tasks = table["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1, "{table}");
    assert_eq!(tasks[0]["task"], "sst2");
    assert_eq!(tasks[0]["rows"].as_array().unwrap().iter().map(|r| r["route"].as_str().unwrap()).collect::<Vec<_>>(), ["deleted"]);
    assert!(!out.join("heal").exists() && !out.join("cola").exists(), "nothing outside the part ran");

    let whole = undivided(&["study", spec_arg, "--out", out_arg]);
    assert!(whole.status.success(), "{}", String::from_utf8_lossy(&whole.stderr));
    let stdout = String::from_utf8_lossy(&whole.stdout);
    assert_eq!(stdout.matches("reusing the finished run in").count(), 2, "sst2's full and `none` runs are reused: {stdout}");
    let table: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("study.json")).unwrap()).unwrap();
    assert_eq!(table["tasks"].as_array().unwrap().len(), 2);

    for (flag, value, expected) in [
        ("--tasks", "qqp", "the study has no task qqp"),
        ("--routes", "from-finetuned", "the study has no route cut from fine-tuned"),
        ("--routes", "healed", "expected deleted, healed-once, from-finetuned or pretrained"),
        ("--seeds", "9", "--seeds 9: the study has 1 seed(s)"),
    ] {
        let r = undivided(&["study", spec_arg, "--out", out_arg, flag, value]);
        assert!(!r.status.success(), "{flag} {value}");
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(err.contains(expected), "{flag} {value}: expected `{expected}` in: {err}");
    }
}

/// What the page shows on first visit: the committed findings index and every study it lists
/// read with the page's own parsers; a malformed index or study is refused by name.
#[test]
fn the_committed_findings_read_as_the_page_reads_them() {
    use undivided::experiment::results::parse_findings_index;
    use undivided::experiment::study_table::parse_study;
    let results = common::root().join("docs/results");
    let index = parse_findings_index("index.json", &std::fs::read_to_string(results.join("index.json")).unwrap()).unwrap();
    assert!(!index.studies.is_empty());
    for s in &index.studies {
        let study = parse_study(&s.path, &std::fs::read_to_string(results.join(&s.path)).unwrap()).unwrap();
        let (groups, series) = study.delta_series();
        assert_eq!(groups.len(), study.tasks.len(), "{}", s.path);
        assert!(series.iter().all(|b| b.values.len() == groups.len()), "{}", s.path);
        assert!(study.tasks.iter().all(|t| t.answer.starts_with(&t.task)), "{}", s.path);
    }
    for (text, expected) in [
        (r#"{"studies": [{"path": "../secret.json", "note": ""}]}"#, "expected a relative path"),
        (r#"{"studies": [{"path": "https://x/y.json", "note": ""}]}"#, "expected a relative path"),
        (r#"{"studies": [{"path": "a/study.json"}]}"#, "missing field `note`"),
        (r#"{"runs": []}"#, "unknown field `runs`"),
    ] {
        let err = parse_findings_index("index.json", text).unwrap_err().to_string();
        assert!(err.starts_with("index.json: ") && err.contains(expected), "{err}");
    }
    let err = parse_study("s/study.json", r#"{"title": "t", "layers": 6, "tasks": []}"#).unwrap_err().to_string();
    assert!(err.contains("s/study.json") && err.contains("no task"), "{err}");
    let err = parse_study("s/study.json", r#"{"rows": []}"#).unwrap_err().to_string();
    assert!(err.contains("s/study.json") && err.contains("undivided study"), "{err}");
}

/// The reference trainer's runs (`OUT/<task>/reference.jsonl`, what `scripts/glue_pytorch.py
/// --json` appends) go into the full model's row and the answers; a malformed line or another
/// task's run is refused by file and line.
#[test]
fn a_study_carries_the_reference_trainers_runs_in_the_full_row() {
    let tmp = common::tempdir();
    let model = common::tiny_checkpoint_dir();
    glue(tmp.path());
    let spec_path = tmp.path().join("study.json");
    std::fs::write(&spec_path, spec(model.path(), tmp.path(), |v| v["seeds"] = 1.into()).to_string()).unwrap();
    let out = tmp.path().join("out");
    let reference = out.join("sst2/reference.jsonl");
    std::fs::create_dir_all(reference.parent().unwrap()).unwrap();
    let line = |seed: u64, best: f64| {
        format!(
            r#"{{"task": "sst2", "seed": {seed}, "metric": "accuracy", "best": {best}, "final": 0.5, "final_accuracy": 0.5, "steps": 3, "train_seconds": 12.5, "torch": "2.15.0"}}"#
        )
    };
    std::fs::write(&reference, format!("{}\n\n{}\n", line(42, 0.75), line(43, 0.25))).unwrap();
    let args = ["study", spec_path.to_str().unwrap(), "--out", out.to_str().unwrap(), "--tasks", "sst2", "--routes", "deleted"];
    let r = undivided(&args);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let table: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("study.json")).unwrap()).unwrap();
    let task = &table["tasks"][0];
    let got = &task["reference"];
    assert_eq!(got["seeds"], serde_json::json!([42, 43]), "{task}");
    assert_eq!(got["trainer"], "PyTorch 2.15.0 + transformers");
    assert!((got["best_mean"].as_f64().unwrap() - 0.5).abs() < 1e-12 && (got["best_std"].as_f64().unwrap() - 0.353_553_390_593_273_8).abs() < 1e-9, "{got}");
    let full = task["full"]["best_mean"].as_f64().unwrap();
    assert!((got["full_delta_points"].as_f64().unwrap() - 100.0 * (full - 0.5)).abs() < 1e-9, "{got}");
    let md = std::fs::read_to_string(out.join("study.md")).unwrap();
    assert!(md.contains("| `all` | PyTorch 2.15.0 + transformers | 50.00 ± 35.36 | 50.00 ± 0.00 |"), "{md}");
    assert!(md.contains("- sst2: the full model here"), "{md}");

    for (body, expected) in [
        (format!("{}\n{{\"task\": \"sst2\"}}\n", line(42, 0.7)), "reference.jsonl, line 2: missing field"),
        (line(42, 75.0), "reference.jsonl, line 1: metric 75 / 0.5 is not a fraction"),
        (line(42, 0.7).replace("\"sst2\"", "\"cola\""), "a run of cola (accuracy) in sst2's reference"),
        (String::new(), "no run in the file"),
    ] {
        std::fs::write(&reference, body).unwrap();
        let r = undivided(&args);
        assert!(!r.status.success());
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(err.contains(expected) && err.contains("glue_pytorch.py --json"), "expected `{expected}` in: {err}");
    }
}

/// The `pretrained` route: one pre-training per plan shared by both tasks, every task
/// fine-tuned from every milestone (the study's seeds at the largest budget, one below it), the
/// table with the pre-training's share, the figure, `study.json` rows the page reads, and every
/// run reused on a second call.
#[test]
fn the_pretrained_route_pretrains_once_and_fine_tunes_from_every_milestone() {
    let tmp = common::tempdir();
    let model = common::tiny_checkpoint_dir();
    let spec_path = pretrained_spec(tmp.path(), model.path(), &["256", "512"], |_| {});
    let out = tmp.path().join("out");
    let args = ["study", spec_path.to_str().unwrap(), "--out", out.to_str().unwrap()];
    let r = undivided(&args);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let table: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("pretrained.json")).unwrap()).unwrap();
    assert_eq!(table["pretraining"].as_array().unwrap().len(), 1, "one pre-training for `none`, shared: {table}");
    assert_eq!(table["tasks_sharing"], 2);
    let rows = table["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "2 tasks × 2 budgets: {table}");
    let seeds = |budget: u64| rows.iter().find(|r| r["tokens"] == budget).unwrap()["values"].as_array().unwrap().len();
    assert_eq!((seeds(256), seeds(512)), (1, 2), "one seed below the largest budget, the study's two at it");
    for r in rows {
        let share = r["pretrain_share"].as_f64().unwrap();
        assert!((share - r["pretrain_seconds"].as_f64().unwrap() / 2.0).abs() < 1e-9 && share > 0.0, "{r}");
    }
    assert!(out.join("pretrain/plan-none/milestones/256/config.json").is_file());
    assert!(out.join("sst2/plan-none-pretrained-512/seed-43/results.json").is_file());
    common::assert_png_chart(&out.join("pretrained.png"));
    // The page's shape: study.json with the pre-trained rows and their budgets.
    let study: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("study.json")).unwrap()).unwrap();
    undivided::experiment::study_table::parse_study("study.json", &study.to_string()).unwrap();
    let row = &study["tasks"][0]["rows"][0];
    assert_eq!((row["route"].as_str(), row["pretrain_tokens"].as_u64()), (Some("pretrained"), Some(256)), "{study}");
    let md = std::fs::read_to_string(out.join("study.md")).unwrap();
    assert!(md.contains("pre-trained 512"), "{md}");

    let again = undivided(&args);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(stdout.contains("reusing the finished pre-training") && stdout.matches("reusing the finished run in").count() == 2 * (2 + 1 + 2), "{stdout}");
}

/// Fair rates on the `pretrained` route: the full model and every plan's milestone fine-tuned at
/// each rate of the grid from one shared pre-training, each row the rate its best dev value chose;
/// `--plans` runs one of the spec's plans, and a plan the spec lacks is refused by name.
#[test]
fn the_pretrained_route_takes_the_rate_grid_and_a_part_of_the_plans() {
    let tmp = common::tempdir();
    let model = common::tiny_checkpoint_dir();
    let grid = [1e-2, 1e-5];
    let spec_path = pretrained_spec(tmp.path(), model.path(), &["256"], |v| {
        v["tasks"] = serde_json::json!({"sst2": {"steps": 3, "max_len": 16}});
        v["plans"] = serde_json::json!(["none", "0+norm"]);
        v["seeds"] = 1.into();
        v["lr_grid"] = serde_json::json!(grid);
    });
    let out = tmp.path().join("out");
    let args = ["study", spec_path.to_str().unwrap(), "--out", out.to_str().unwrap(), "--plans", "0+norm"];
    let r = undivided(&args);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let read = |p: std::path::PathBuf| -> serde_json::Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let table = read(out.join("pretrained.json"));
    assert_eq!(table["pretraining"].as_array().unwrap().len(), 1, "only the plan asked for: {table}");
    assert!(!out.join("pretrain/plan-none").exists());
    let named: Vec<String> = grid.iter().map(|lr| lr.to_string()).collect();
    assert!(table["title"].as_str().unwrap().contains(&format!("chose from {{{}}}", named.join(", "))), "{table}");
    // Each row holds the best of its runs at the grid's rates, and says which rate that was.
    let best = |dir: &str, lr: f64| read(out.join(format!("sst2/lr-{lr}/{dir}/seed-42/results.json")))["best_value"].as_f64().unwrap();
    let chosen = |dir: &str, row: &serde_json::Value| {
        let at: Vec<f64> = grid.iter().map(|&lr| best(dir, lr)).collect();
        let max = at.iter().cloned().fold(f64::MIN, f64::max);
        let lr = row["lr"].as_f64().unwrap();
        assert_eq!(row["values"][0].as_f64().unwrap(), max, "{dir}: {row}");
        assert_eq!(lr, grid[at.iter().position(|v| *v == max).unwrap()], "{dir}: the first rate of the best: {row}");
    };
    chosen("plan-all", &table["full"][0]);
    let full_at = |lr: f64| best("plan-all", lr);
    assert_ne!(full_at(grid[0]), full_at(grid[1]), "the grid's rates must lead to different scores here, or the choice goes untested");
    let rows = table["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{table}");
    chosen(&format!("plan-{}-pretrained-256", rows[0]["plan"].as_str().unwrap().replace(',', "_").replace('+', "-")), &rows[0]);
    let md = std::fs::read_to_string(out.join("pretrained.md")).unwrap();
    let full_lr = table["full"][0]["lr"].as_f64().unwrap();
    assert!(md.contains("| lr |") && md.contains(&format!("| sst2 | full | – | {full_lr} |")), "the table names the chosen rate: {md}");

    let r = undivided(&["study", spec_path.to_str().unwrap(), "--out", out.to_str().unwrap(), "--plans", "0,1"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains("--plans: the study has no plan \"0,1\" (it has none, 0+norm)"), "{err}");
}

/// Fair rates: with `lr_grid`, every plan — the full model too — runs at each rate, and each row
/// of the task's table is the rate its best dev mean chose; a bad grid is refused by name.
#[test]
fn a_rate_grid_runs_every_plan_at_every_rate_and_keeps_each_rows_best() {
    let tmp = common::tempdir();
    let model = common::tiny_checkpoint_dir();
    glue(tmp.path());
    let grid = [1e-4, 3e-3];
    let spec_path = tmp.path().join("study.json");
    let body = spec(model.path(), tmp.path(), |v| {
        v["tasks"] = serde_json::json!({"sst2": {"steps": 3, "max_len": 16}});
        v["routes"] = serde_json::json!(["deleted"]);
        v["seeds"] = 1.into();
        v["lr_grid"] = serde_json::json!(grid);
    });
    std::fs::write(&spec_path, body.to_string()).unwrap();
    let out = tmp.path().join("out");
    let r = undivided(&["study", spec_path.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let read = |p: std::path::PathBuf| -> serde_json::Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let per_rate: Vec<serde_json::Value> = ["lr-0.0001", "lr-0.003"].iter().map(|d| read(out.join("sst2").join(d).join("compare.json"))).collect();
    let chosen = read(out.join("sst2/compare.json"));
    for (i, row) in chosen["rows"].as_array().unwrap().iter().enumerate() {
        let means: Vec<f64> = per_rate.iter().map(|t| t["rows"][i]["mean"].as_f64().unwrap()).collect();
        assert_eq!(row["mean"].as_f64().unwrap(), means.iter().cloned().fold(f64::MIN, f64::max), "{row}");
        let lr = row["lr"].as_f64().unwrap();
        assert!(grid.contains(&lr), "{row}");
        assert_eq!(per_rate.iter().map(|t| t["rows"][i]["lr"].as_f64().unwrap()).collect::<Vec<_>>(), grid);
    }
    let note = chosen["notes"][0].as_str().unwrap();
    assert!(note.contains("chosen on dev from {0.0001, 0.003} (`all` "), "{chosen}");
    for row in chosen["rows"].as_array().unwrap() {
        assert!(note.contains(&format!("`{}` {}", row["plan"].as_str().unwrap(), row["lr"])), "each row's rate named: {note}");
    }
    let title = chosen["title"].as_str().unwrap();
    assert!(!title.contains(", lr 0.0001") && title.ends_with("chose from {0.0001, 0.003}"), "the title names no single rate: {title}");
    let study = read(out.join("study.json"));
    let task = &study["tasks"][0];
    assert!(grid.contains(&task["full"]["lr"].as_f64().unwrap()) && grid.contains(&task["rows"][0]["lr"].as_f64().unwrap()), "{task}");

    for (grid, expected) in [
        (serde_json::json!([0.0]), "lr_grid [0.0]: expected at most 8 positive, finite learning rates"),
        (serde_json::json!(vec![1e-4; 9]), "expected at most 8"),
    ] {
        let bad = spec(model.path(), tmp.path(), |v| v["lr_grid"] = grid.clone());
        std::fs::write(&spec_path, bad.to_string()).unwrap();
        let r = undivided(&["study", spec_path.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert!(!r.status.success() && String::from_utf8_lossy(&r.stderr).contains(expected), "{}", String::from_utf8_lossy(&r.stderr));
    }
}
