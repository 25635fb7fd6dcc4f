//! Downloading a checkpoint from the HuggingFace hub (native only).
//!
//! Files are fetched from `{endpoint}/{repo}/resolve/{revision}/{file}`, the hub's download
//! layout, into a cache folder, once. `HF_ENDPOINT` overrides the endpoint (tests point it at a
//! local server that mimics that layout), `HF_TOKEN` is sent for gated repos, and
//! `UNDIVIDED_CACHE` moves the cache.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::atomic::write_atomic;
use crate::error::CheckpointError;

/// Where and how to download.
#[derive(Debug, Clone)]
pub struct HubOptions {
    pub endpoint: String,
    pub revision: String,
    pub cache_dir: PathBuf,
    pub token: Option<String>,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl HubOptions {
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let cache_dir = var("UNDIVIDED_CACHE").map(PathBuf::from).unwrap_or_else(|| {
            let base =
                var("XDG_CACHE_HOME").map(PathBuf::from).or_else(|| var("HOME").map(|h| Path::new(&h).join(".cache"))).unwrap_or_else(std::env::temp_dir);
            base.join("undivided")
        });
        Self {
            endpoint: var("HF_ENDPOINT").unwrap_or_else(|| "https://huggingface.co".into()).trim_end_matches('/').into(),
            revision: var("HF_REVISION").unwrap_or_else(|| "main".into()),
            cache_dir,
            token: var("HF_TOKEN"),
            progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        }
    }
}

/// `name` or `org/name`, made of letters, digits, `-`, `_` and `.`.
pub fn looks_like_repo_id(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    (1..=2).contains(&parts.len())
        && parts.iter().all(|p| !p.is_empty() && !p.starts_with('.') && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
}

const OPTIONAL: [&str; 4] = ["tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"];

/// A revision (`main`, a tag, a commit, `refs/pr/1`): letters, digits, `-`, `_`, `.` and `/`
/// between non-empty parts that are not `.` or `..` — so it can name a cache folder without
/// leaving it.
pub fn is_safe_revision(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.split('/').all(|p| !p.is_empty() && p != "." && p != ".." && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
}

/// The most bytes one downloaded file may have: the weights of the largest BERT-family model
/// this project handles are well below it, and nothing bigger is read.
const MAX_WEIGHTS_BYTES: u64 = 8 << 30;
/// The most bytes of a config or tokenizer file.
const MAX_TEXT_BYTES: u64 = 64 << 20;

/// Written last into a cache folder, listing its files: only a folder with it is a complete
/// download (config.json and weights alone may be what an interrupted download left).
const COMPLETE: &str = ".complete";

/// Downloads `repo` (once) and returns its cache folder.
pub fn download(repo: &str, options: &HubOptions) -> Result<PathBuf, CheckpointError> {
    if !looks_like_repo_id(repo) {
        return Err(CheckpointError::NotFound {
            what: repo.to_string(),
            reason: "not a repo id (`name` or `org/name` of letters, digits, `-`, `_`, `.`)".into(),
        });
    }
    if !is_safe_revision(&options.revision) {
        return Err(CheckpointError::Download {
            url: format!("{}/{repo}", options.endpoint),
            reason: format!("HF_REVISION `{}`: expected a branch, tag or commit (letters, digits, `-`, `_`, `.`, `/`; no `..`)", options.revision),
        });
    }
    let dir = options.cache_dir.join("hub").join(repo.replace('/', "--")).join(options.revision.replace('/', "--"));
    if dir.join(COMPLETE).is_file() && dir.join("config.json").is_file() && dir.join("model.safetensors").is_file() {
        return Ok(dir);
    }
    std::fs::create_dir_all(&dir).map_err(|source| CheckpointError::Io { path: dir.clone(), source })?;
    fetch(repo, "model.safetensors", options, &dir)?.ok_or_else(|| not_found(repo, "model.safetensors", options))?;
    let mut have_tokenizer = false;
    for file in OPTIONAL {
        if file == "vocab.txt" && have_tokenizer {
            continue;
        }
        let got = fetch(repo, file, options, &dir)?.is_some();
        have_tokenizer |= got && (file == "tokenizer.json" || file == "vocab.txt");
    }
    if !have_tokenizer {
        return Err(not_found(repo, "tokenizer.json or vocab.txt", options));
    }
    fetch(repo, "config.json", options, &dir)?.ok_or_else(|| not_found(repo, "config.json", options))?;
    write_atomic(&dir.join(COMPLETE), format!("{repo}@{}\n", options.revision).as_bytes())?;
    Ok(dir)
}

fn not_found(repo: &str, file: &str, options: &HubOptions) -> CheckpointError {
    CheckpointError::NotFound { what: repo.to_string(), reason: format!("{}/{repo} has no {file} at revision {}", options.endpoint, options.revision) }
}

/// Fetches one file into `dir`; `Ok(None)` if the hub answers 404.
fn fetch(repo: &str, file: &str, options: &HubOptions, dir: &Path) -> Result<Option<PathBuf>, CheckpointError> {
    let url = format!("{}/{repo}/resolve/{}/{file}", options.endpoint, options.revision);
    let download_err = |reason: String| CheckpointError::Download { url: url.clone(), reason };
    let mut request = ureq::get(&url).header("User-Agent", concat!("undivided/", env!("CARGO_PKG_VERSION")));
    if let Some(token) = &options.token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let mut response = match request.call() {
        Ok(r) => r,
        Err(ureq::Error::StatusCode(404)) => return Ok(None),
        Err(ureq::Error::StatusCode(code @ (401 | 403))) => {
            return Err(download_err(format!("HTTP {code}: the repo is gated or private; set HF_TOKEN")));
        }
        Err(e) => return Err(download_err(e.to_string())),
    };
    let declared: Option<u64> = response.headers().get("content-length").and_then(|v| v.to_str().ok()?.trim().parse().ok());
    let cap = if file.ends_with(".safetensors") { MAX_WEIGHTS_BYTES } else { MAX_TEXT_BYTES };
    if let Some(total) = declared.filter(|&t| t > cap) {
        return Err(download_err(format!("the server declares {total} bytes; more than {cap} are never downloaded for {file}")));
    }
    // Never more than the declared size (or the cap, when none is declared): an endless or
    // oversized body stops with an error instead of filling the disk.
    let limit = declared.unwrap_or(cap);
    let bar = options.progress.then(|| {
        let bar = indicatif::ProgressBar::new(declared.unwrap_or(0));
        bar.set_style(indicatif::ProgressStyle::with_template("{msg:24} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}").expect("static template"));
        bar.set_message(file.to_string());
        bar
    });
    // Streamed to `file.part` beside its place, renamed over it when whole.
    let path = dir.join(file);
    let part = dir.join(format!("{file}.part"));
    let io_err = |source| CheckpointError::Io { path: part.clone(), source };
    let mut out = std::fs::File::create(&part).map_err(io_err)?;
    let mut reader = response.body_mut().as_reader();
    let mut received: u64 = 0;
    let mut chunk = vec![0u8; 1 << 16];
    let result = loop {
        let n = match reader.read(&mut chunk) {
            Ok(n) => n,
            Err(e) => break Err(download_err(e.to_string())),
        };
        if n == 0 {
            break Ok(());
        }
        received += n as u64;
        if received > limit {
            break Err(download_err(match declared {
                Some(total) => format!("the server sent more than the {total} bytes it declared"),
                None => format!("the body exceeds {cap} bytes, the most accepted for {file}"),
            }));
        }
        if let Err(e) = out.write_all(&chunk[..n]) {
            break Err(io_err(e));
        }
        if let Some(bar) = &bar {
            bar.inc(n as u64);
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let result = result.and_then(|()| match declared {
        Some(total) if total != received => Err(download_err(format!("connection closed after {received} of {total} bytes"))),
        _ => out.sync_all().map_err(io_err),
    });
    drop(out);
    if let Err(e) = result {
        let _ = std::fs::remove_file(&part);
        return Err(e);
    }
    std::fs::rename(&part, &path).map_err(|source| CheckpointError::Io { path: path.clone(), source })?;
    Ok(Some(path))
}

/// One downloaded (or partly downloaded) checkpoint in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    pub repo: String,
    pub revision: String,
    pub path: PathBuf,
    pub bytes: u64,
    /// Whether the download finished (`.complete` is written last); an incomplete folder is
    /// what an interrupted download left, and is downloaded again on next use.
    pub complete: bool,
}

/// What the cache holds, sorted by repo and revision.
pub fn cache_entries(cache_dir: &Path) -> Result<Vec<CacheEntry>, CheckpointError> {
    let hub = cache_dir.join("hub");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CheckpointError::Io { path, source }
    };
    let mut entries = Vec::new();
    let Ok(repos) = std::fs::read_dir(&hub) else { return Ok(entries) };
    for repo in repos {
        let repo = repo.map_err(io(&hub))?.path();
        if !repo.is_dir() {
            continue;
        }
        for revision in std::fs::read_dir(&repo).map_err(io(&repo))? {
            let path = revision.map_err(io(&repo))?.path();
            if !path.is_dir() {
                continue;
            }
            let mut bytes = 0;
            for file in std::fs::read_dir(&path).map_err(io(&path))? {
                let file = file.map_err(io(&path))?;
                // Links are counted as links: the cache never holds any, and sizes must not follow one out.
                bytes += std::fs::symlink_metadata(file.path()).map(|m| m.len()).unwrap_or(0);
            }
            let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().replace("--", "/")).unwrap_or_default();
            entries.push(CacheEntry { repo: name(&repo), revision: name(&path), complete: path.join(COMPLETE).is_file(), bytes, path });
        }
    }
    entries.sort_by(|a, b| (&a.repo, &a.revision).cmp(&(&b.repo, &b.revision)));
    Ok(entries)
}

/// Removes the cached `entries`' folders (and a repo folder left empty).
pub fn remove_entries(entries: &[CacheEntry]) -> Result<u64, CheckpointError> {
    let mut freed = 0;
    for e in entries {
        std::fs::remove_dir_all(&e.path).map_err(|source| CheckpointError::Io { path: e.path.clone(), source })?;
        freed += e.bytes;
        if let Some(repo) = e.path.parent() {
            let _ = std::fs::remove_dir(repo);
        }
    }
    Ok(freed)
}
