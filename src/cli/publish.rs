//! `undivided publish`: puts native runs where the page finds them. It copies every checkpoint
//! folder under the given runs (what the page loads: config, weights, tokenizer, results — not
//! `last/`, which only resuming needs) and the `compare.json` tables into one folder, and writes
//! its `index.json`, from which the page lists them. `trunk serve` / `trunk build` serve that
//! folder (`runs/published` by default) beside the page as `runs/`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::checkpoint::TOKENIZER_FILES;
use crate::model::{BertConfig, ModelStats};
use crate::train::results::{IndexedCheckpoint, IndexedResults, RunIndex, parse_index, parse_results};

/// Where `publish` writes by default, and what Trunk.toml's hook serves as `runs/`.
pub const DEFAULT_INTO: &str = "runs/published";

#[derive(Args, Debug)]
pub struct PublishArgs {
    /// Run folders: a `finetune`, `heal`, `compare` or `sweep` output, or a folder holding several.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// The folder served beside the page (its `index.json` keeps entries published earlier).
    #[arg(long, default_value = DEFAULT_INTO)]
    pub into: PathBuf,
}

/// Files of a checkpoint folder that the page (or `predict`) reads.
fn page_files() -> impl Iterator<Item = &'static str> {
    ["config.json", "model.safetensors", "results.json", "heal.json"].into_iter().chain(TOKENIZER_FILES)
}

/// Checkpoint folders and `compare.json` files under `dir`, skipping resume state, temporary
/// folders and `skip` (the output folder when it lies inside a run).
fn walk(dir: &Path, skip: &Path, checkpoints: &mut Vec<PathBuf>, tables: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if dir.join("config.json").is_file() && dir.join("model.safetensors").is_file() {
        checkpoints.push(dir.to_path_buf());
    }
    if dir.join("compare.json").is_file() {
        tables.push(dir.join("compare.json"));
    }
    let mut entries: Vec<PathBuf> = fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !path.is_dir() || name == "last" || name.ends_with(".tmp") || fs::canonicalize(&path).ok().as_deref() == Some(skip) {
            continue;
        }
        walk(&path, skip, checkpoints, tables)?;
    }
    Ok(())
}

/// A hard link where the file system allows it (checkpoints are large), else a copy.
fn link_or_copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    let _ = fs::remove_file(to);
    if fs::hard_link(from, to).is_err() {
        fs::copy(from, to).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

fn describe(dir: &Path, rel: &str) -> anyhow::Result<IndexedCheckpoint> {
    let config_path = dir.join("config.json");
    let config = BertConfig::from_json(&fs::read_to_string(&config_path)?).with_context(|| format!("{}", config_path.display()))?;
    let plan = config.plan();
    let mut entry = IndexedCheckpoint {
        path: rel.to_string(),
        kind: "model".into(),
        plan: plan.to_string(),
        params: ModelStats::new(&config, &plan, 128).total_params,
        task: None,
        metric: None,
        value: None,
        labels: Vec::new(),
    };
    if let Ok(text) = fs::read_to_string(dir.join("results.json")) {
        let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{}", dir.join("results.json").display()))?;
        entry.kind = "fine-tuned".into();
        entry.task = v["task"].as_str().map(String::from);
        entry.metric = v["main_metric"].as_str().map(String::from);
        entry.value = v["best_value"].as_f64();
        entry.params = v["params"].as_u64().map_or(entry.params, |p| p as usize);
        entry.labels = config.label_names();
    } else if dir.join("heal.json").is_file() {
        entry.kind = "healed".into();
    }
    Ok(entry)
}

pub fn run(args: PublishArgs) -> anyhow::Result<()> {
    fs::create_dir_all(&args.into).with_context(|| format!("creating {}", args.into.display()))?;
    let into = fs::canonicalize(&args.into)?;
    let index_path = args.into.join("index.json");
    let mut index = match fs::read_to_string(&index_path) {
        Ok(text) => parse_index(&index_path.display().to_string(), &text).map_err(anyhow::Error::msg)?,
        Err(_) => RunIndex::default(),
    };
    let (mut checkpoints, mut results): (BTreeMap<String, IndexedCheckpoint>, BTreeMap<String, IndexedResults>) = (
        index.checkpoints.drain(..).map(|c| (c.path.clone(), c)).collect(),
        index.results.drain(..).map(|r| (r.path.clone(), r)).collect(),
    );
    for run in &args.runs {
        let run = fs::canonicalize(run).with_context(|| format!("{}: no such run folder", run.display()))?;
        // Paths in the index start at the run folder's own name: `sst2/plan-all/seed-42`.
        let base = run.parent().unwrap_or(&run).to_path_buf();
        let (mut found, mut tables) = (Vec::new(), Vec::new());
        walk(&run, &into, &mut found, &mut tables)?;
        anyhow::ensure!(
            !found.is_empty() || !tables.is_empty(),
            "{}: no checkpoint folder (config.json + model.safetensors) or compare.json found under it",
            run.display()
        );
        let rel = |p: &Path| p.strip_prefix(&base).unwrap_or(p).to_string_lossy().replace('\\', "/");
        for dir in &found {
            let r = rel(dir);
            let target = args.into.join(&r);
            fs::create_dir_all(&target)?;
            for name in page_files() {
                let from = dir.join(name);
                if from.is_file() {
                    link_or_copy(&from, &target.join(name))?;
                }
            }
            let entry = describe(dir, &r)?;
            if entry.kind == "fine-tuned" {
                let text = fs::read_to_string(dir.join("results.json"))?;
                let title = parse_results(&r, &text).map_err(anyhow::Error::msg)?.title;
                results.insert(format!("{r}/results.json"), IndexedResults { path: format!("{r}/results.json"), title: format!("{r}: {title}") });
            }
            println!("published {r} ({}, plan `{}`)", entry.kind, entry.plan);
            checkpoints.insert(r, entry);
        }
        for table in &tables {
            let r = rel(table);
            let text = fs::read_to_string(table)?;
            let title = parse_results(&r, &text).map_err(anyhow::Error::msg)?.title;
            let target = args.into.join(&r);
            fs::create_dir_all(target.parent().unwrap_or(&args.into))?;
            link_or_copy(table, &target)?;
            println!("published {r} ({title})");
            results.insert(r.clone(), IndexedResults { path: r, title });
        }
    }
    let index = RunIndex { checkpoints: checkpoints.into_values().collect(), results: results.into_values().collect() };
    crate::checkpoint::write_atomic(&index_path, serde_json::to_string_pretty(&index)?.as_bytes())?;
    println!(
        "{} checkpoint(s) and {} result file(s) indexed in {}; `trunk serve` / `trunk build` serve {DEFAULT_INTO} beside the page as runs/",
        index.checkpoints.len(),
        index.results.len(),
        index_path.display()
    );
    Ok(())
}
