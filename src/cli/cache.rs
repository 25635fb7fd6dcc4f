//! `undivided cache`: what the download cache holds (checkpoints fetched from the hub), with
//! sizes, and removing all of it, one repo, or what interrupted downloads left.

use clap::Args;

use crate::checkpoint::hub::{CacheEntry, HubOptions, cache_entries, remove_entries};

#[derive(Args, Debug)]
pub struct CacheArgs {
    /// Remove the cached checkpoints (all, or those of --repo).
    #[arg(long)]
    pub clean: bool,
    /// Remove only folders of interrupted downloads.
    #[arg(long, conflicts_with = "clean")]
    pub clean_incomplete: bool,
    /// Only this repo id (`org/name`).
    #[arg(long)]
    pub repo: Option<String>,
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

pub fn run(args: CacheArgs) -> anyhow::Result<()> {
    let options = HubOptions::from_env();
    let all = cache_entries(&options.cache_dir)?;
    let chosen: Vec<CacheEntry> = all.into_iter().filter(|e| args.repo.as_ref().is_none_or(|r| &e.repo == r)).collect();
    if let Some(repo) = &args.repo
        && chosen.is_empty()
    {
        anyhow::bail!("--repo {repo}: not in the cache ({}); `undivided cache` lists what is", options.cache_dir.display());
    }
    if args.clean || args.clean_incomplete {
        let gone: Vec<CacheEntry> = chosen.into_iter().filter(|e| args.clean || !e.complete).collect();
        let freed = remove_entries(&gone)?;
        println!("removed {} folder(s) from {}, {} freed", gone.len(), options.cache_dir.display(), megabytes(freed));
        return Ok(());
    }
    println!("cache: {} (UNDIVIDED_CACHE moves it)", options.cache_dir.display());
    if chosen.is_empty() {
        println!("  empty");
    }
    for e in &chosen {
        let state = if e.complete { "" } else { "  (incomplete: an interrupted download; --clean-incomplete removes it)" };
        println!("  {}@{}  {}{state}", e.repo, e.revision, megabytes(e.bytes));
    }
    println!("  total {}", megabytes(chosen.iter().map(|e| e.bytes).sum()));
    Ok(())
}
