//! Publishing native runs where the page finds them: every checkpoint folder under the given
//! runs (what the page loads: config, weights, tokenizer, results — not `last/`, which only
//! resuming needs) and the `compare.json` tables, copied (hard-linked where possible) into one
//! folder with its `index.json`, from which the page lists them. `trunk serve` / `trunk build`
//! serve that folder (`runs/published` by default) beside the page as `runs/`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::results::{IndexedCheckpoint, IndexedResults, ResultsError, RunIndex, parse_index, parse_results};
use super::{ExperimentError, io};
use crate::checkpoint::TOKENIZER_FILES;
use crate::error::CheckpointError;
use crate::model::{BertConfig, ModelStats};

/// Where `publish` writes by default, and what Trunk.toml's hook serves as `runs/`.
pub const DEFAULT_INTO: &str = "runs/published";

/// Files of a checkpoint folder that the page (or `predict`) reads.
fn page_files() -> impl Iterator<Item = &'static str> {
    ["config.json", "model.safetensors", "results.json", "heal.json", "milestone.json"].into_iter().chain(TOKENIZER_FILES)
}

/// Whether `path` is a symbolic link (not followed: a run's files are its own, and a link could
/// lead out of the run, or round in a loop).
fn is_link(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Checkpoint folders and `compare.json` files under `dir`, skipping resume state, temporary
/// folders, symbolic links and `skip` (the output folder when it lies inside a run).
fn walk(dir: &Path, skip: &Path, checkpoints: &mut Vec<PathBuf>, tables: &mut Vec<PathBuf>, skipped_links: &mut Vec<PathBuf>) -> Result<(), ExperimentError> {
    if dir.join("config.json").is_file() && dir.join("model.safetensors").is_file() {
        checkpoints.push(dir.to_path_buf());
    }
    if dir.join("compare.json").is_file() {
        tables.push(dir.join("compare.json"));
    }
    let mut entries: Vec<PathBuf> = fs::read_dir(dir).map_err(io(dir))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if is_link(&path) {
            skipped_links.push(path);
            continue;
        }
        if !path.is_dir() || name == "last" || name == "last.old" || name.ends_with(".tmp") || fs::canonicalize(&path).ok().as_deref() == Some(skip) {
            continue;
        }
        walk(&path, skip, checkpoints, tables, skipped_links)?;
    }
    Ok(())
}

/// A hard link where the file system allows it (checkpoints are large), else a copy. A target
/// that already is the source (the same path) is left alone: removing it first would delete it.
fn link_or_copy(from: &Path, to: &Path) -> Result<(), ExperimentError> {
    if fs::canonicalize(from).ok().is_some_and(|f| fs::canonicalize(to).ok() == Some(f)) {
        return Ok(());
    }
    let _ = fs::remove_file(to);
    if fs::hard_link(from, to).is_err() {
        fs::copy(from, to).map_err(io(to))?;
    }
    Ok(())
}

fn describe(dir: &Path, rel: &str) -> Result<IndexedCheckpoint, ExperimentError> {
    let config_path = dir.join("config.json");
    let text = fs::read_to_string(&config_path).map_err(io(&config_path))?;
    let config = BertConfig::from_json(&text).map_err(|source| CheckpointError::Config { path: config_path.clone(), source })?;
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
    let results = dir.join("results.json");
    if let Ok(text) = if is_link(&results) { Err(()) } else { fs::read_to_string(&results).map_err(|_| ()) } {
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ResultsError::NotJson { name: dir.join("results.json").display().to_string(), reason: e.to_string() })?;
        entry.kind = "fine-tuned".into();
        entry.task = v["task"].as_str().map(String::from);
        entry.metric = v["main_metric"].as_str().map(String::from);
        entry.value = v["best_value"].as_f64();
        entry.params = v["params"].as_u64().map_or(entry.params, |p| p as usize);
        entry.labels = config.label_names();
    } else if dir.join("heal.json").is_file() && !is_link(&dir.join("heal.json")) {
        entry.kind = "healed".into();
    } else if ["pretrain.json", "milestone.json"].iter().any(|f| dir.join(f).is_file() && !is_link(&dir.join(f))) {
        entry.kind = "pre-trained".into();
    }
    Ok(entry)
}

/// Publishes the checkpoints and tables under `runs` into `into` and updates its `index.json`
/// (entries published earlier stay); returns the index. Nothing outside `into` is written, no
/// source file is removed, and symbolic links inside a run are not followed (each is said).
pub fn publish(runs: &[PathBuf], into: &Path, say: &dyn Fn(&str)) -> Result<RunIndex, ExperimentError> {
    publish_with(runs, into, say, false)
}

/// [`publish`], with the weights written as f16 when `f16` (half the download; the page widens
/// them to f32 as it loads, as it does the default model's f16 copy).
pub fn publish_with(runs: &[PathBuf], into: &Path, say: &dyn Fn(&str), f16: bool) -> Result<RunIndex, ExperimentError> {
    let mut sources = Vec::new();
    for run in runs {
        let canonical = fs::canonicalize(run).map_err(|e| ExperimentError::Spec(format!("{}: no such run folder ({e})", run.display())))?;
        sources.push((run.clone(), canonical));
    }
    fs::create_dir_all(into).map_err(io(into))?;
    // One publisher per target folder at a time (two would interleave their index.json).
    let _lock = crate::checkpoint::RunLock::acquire(into, "publish")?;
    let into_canonical = fs::canonicalize(into).map_err(io(into))?;
    for (run, canonical) in &sources {
        // Paths in the index start at the run folder's own name (`sst2/plan-all/seed-42`), so
        // publishing into the run itself or into its parent would write over the run's own files.
        let parent = canonical.parent().unwrap_or(canonical);
        if into_canonical == *canonical || into_canonical == parent {
            return Err(ExperimentError::Spec(format!(
                "--into {}: that is {} or its parent folder, where the published copies would replace the run's own files; publish into another folder (default {DEFAULT_INTO})",
                into.display(),
                run.display()
            )));
        }
    }
    let index_path = into.join("index.json");
    let mut index = match fs::read_to_string(&index_path) {
        Ok(text) => parse_index(&index_path.display().to_string(), &text)?,
        Err(_) => RunIndex::default(),
    };
    let (mut checkpoints, mut results): (BTreeMap<String, IndexedCheckpoint>, BTreeMap<String, IndexedResults>) =
        (index.checkpoints.drain(..).map(|c| (c.path.clone(), c)).collect(), index.results.drain(..).map(|r| (r.path.clone(), r)).collect());
    // Everything is copied into a staging folder inside the target first (walks skip the target,
    // so it is never published itself) and moved into place only when every copy succeeded: a
    // failure leaves the target as it was.
    let staging = into.join(format!(".publishing-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let staged = stage(&sources, &into_canonical, &staging, &mut checkpoints, &mut results, say, f16);
    if let Err(e) = staged {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    let moved = move_into_place(&staging, into);
    let _ = fs::remove_dir_all(&staging);
    moved?;
    let index = RunIndex { checkpoints: checkpoints.into_values().collect(), results: results.into_values().collect() };
    crate::checkpoint::write_atomic(&index_path, serde_json::to_string_pretty(&index).expect("an index serialises").as_bytes())?;
    Ok(index)
}

/// Moves every file under `staging` to the same place under `into` (renames: same file system).
fn move_into_place(staging: &Path, into: &Path) -> Result<(), ExperimentError> {
    let mut stack = vec![staging.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(io(&dir))? {
            let path = entry.map_err(io(&dir))?.path();
            let dest = into.join(path.strip_prefix(staging).expect("under staging"));
            if path.is_dir() {
                fs::create_dir_all(&dest).map_err(io(&dest))?;
                stack.push(path);
            } else {
                fs::rename(&path, &dest).map_err(io(&dest))?;
            }
        }
    }
    Ok(())
}

/// Copies the runs' checkpoints and tables into `into` (the staging folder), filling the index.
#[allow(clippy::too_many_arguments)]
fn stage(
    sources: &[(PathBuf, PathBuf)],
    into_canonical: &Path,
    into: &Path,
    checkpoints: &mut BTreeMap<String, IndexedCheckpoint>,
    results: &mut BTreeMap<String, IndexedResults>,
    say: &dyn Fn(&str),
    f16: bool,
) -> Result<(), ExperimentError> {
    let into_canonical = into_canonical.to_path_buf();
    for (shown, run) in sources {
        let base = run.parent().unwrap_or(run).to_path_buf();
        let (mut found, mut tables, mut links) = (Vec::new(), Vec::new(), Vec::new());
        walk(run, &into_canonical, &mut found, &mut tables, &mut links)?;
        for link in &links {
            say(&format!("skipped {}: a symbolic link (publish copies a run's own files only)", link.display()));
        }
        if found.is_empty() && tables.is_empty() {
            return Err(ExperimentError::Spec(format!(
                "{}: no checkpoint folder (config.json + model.safetensors) or compare.json found under it",
                shown.display()
            )));
        }
        let rel = |p: &Path| p.strip_prefix(&base).unwrap_or(p).to_string_lossy().replace('\\', "/");
        for dir in &found {
            let r = rel(dir);
            let target = into.join(&r);
            fs::create_dir_all(&target).map_err(io(&target))?;
            for name in page_files() {
                let from = dir.join(name);
                if is_link(&from) {
                    say(&format!("skipped {}: a symbolic link (publish copies a run's own files only)", from.display()));
                } else if from.is_file() && f16 && name == "model.safetensors" {
                    let bytes = fs::read(&from).map_err(io(&from))?;
                    crate::checkpoint::write_atomic(&target.join(name), &crate::checkpoint::to_f16(&bytes, &from)?)?;
                } else if from.is_file() {
                    link_or_copy(&from, &target.join(name))?;
                }
            }
            let entry = describe(dir, &r)?;
            if entry.kind == "fine-tuned" {
                let path = dir.join("results.json");
                let text = fs::read_to_string(&path).map_err(io(&path))?;
                let title = parse_results(&r, &text)?.title;
                results.insert(format!("{r}/results.json"), IndexedResults { path: format!("{r}/results.json"), title: format!("{r}: {title}") });
            }
            say(&format!("published {r} ({}, plan `{}`)", entry.kind, entry.plan));
            checkpoints.insert(r, entry);
        }
        for table in &tables {
            let r = rel(table);
            let text = fs::read_to_string(table).map_err(io(table))?;
            let title = parse_results(&r, &text)?.title;
            let target = into.join(&r);
            let folder = target.parent().unwrap_or(into);
            fs::create_dir_all(folder).map_err(io(folder))?;
            link_or_copy(table, &target)?;
            say(&format!("published {r} ({title})"));
            results.insert(r.clone(), IndexedResults { path: r, title });
        }
    }
    Ok(())
}
