//! One writer per run folder: an exclusive, advisory OS lock (`flock`) on `OUT/.lock`, taken
//! before a run writes anything and held until it ends.
//!
//! Why `flock`: the kernel drops the lock when its holder exits, however it exits (Ctrl-C, a
//! kill, a crash), so a lock left by a dead process never blocks the next run and no stale-lock
//! guesswork is needed. The file itself stays behind and says who held it last; readers
//! (`eval`, `predict`, the page) never take the lock and are never blocked.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::error::LockError;

/// The lock file's name inside a run folder.
pub const LOCK_FILE: &str = ".lock";

/// Who holds (or last held) a folder's lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub command: String,
    /// Seconds since the Unix epoch.
    pub since: u64,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} on {} (`{}`), since {}", self.pid, self.host, self.command, utc(self.since))
    }
}

/// An exclusive lock on a run folder, released when dropped (or when the process ends).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    pub path: PathBuf,
}

impl RunLock {
    /// Takes the lock of `dir` (creating the folder), or says who holds it. `what` names the
    /// command for the next one who finds it taken.
    pub fn acquire(dir: &Path, what: &str) -> Result<Self, LockError> {
        let path = dir.join(LOCK_FILE);
        let err = |source| LockError::Io { path: path.clone(), source };
        std::fs::create_dir_all(dir).map_err(err)?;
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(err)?;
        // SAFETY: flock on a file descriptor we own; no memory is touched.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder =
                    serde_json::from_str::<Holder>(&text).map(|h| h.to_string()).unwrap_or_else(|_| "a process that has not said who it is yet".into());
                return Err(LockError::Busy { dir: dir.to_path_buf(), holder });
            }
            return Err(err(e));
        }
        let holder = Holder { pid: std::process::id(), host: hostname(), command: command_line(what), since: now() };
        let json = serde_json::to_string(&holder).expect("a holder serialises");
        file.set_len(0).and_then(|_| file.seek(SeekFrom::Start(0))).and_then(|_| file.write_all(json.as_bytes())).map_err(err)?;
        Ok(Self { _file: file, path })
    }
}

/// Whether `program` (argv[0]) is this crate's binary, under its name or a copy's.
fn is_ours(program: &str) -> bool {
    std::path::Path::new(program).file_name().is_some_and(|name| name.to_string_lossy().starts_with("undivided"))
}

/// The command as the user typed it (program name shortened), or `what`.
fn command_line(what: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    match args.split_first() {
        // Any binary of this crate (`undivided`, a copy such as `undivided-v2`): name the command.
        Some((program, rest)) if !rest.is_empty() && is_ours(program) => format!("undivided {}", rest.join(" ")),
        _ => what.to_string(),
    }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "this machine".into()
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `YYYY-MM-DD HH:MM:SS UTC` of seconds since the epoch (Howard Hinnant's civil-from-days).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_is_named_by_its_command_under_any_name_of_the_binary() {
        assert!(is_ours("undivided") && is_ours("/usr/local/bin/undivided") && is_ours("/tmp/undivided-study"));
        assert!(!is_ours("/usr/bin/cargo") && !is_ours("/tmp/not-undivided"));
    }

    #[test]
    fn dates_read_as_calendar_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_796_531_258), "2026-12-06 04:27:38 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn a_second_writer_is_refused_with_the_holder_named_and_a_released_lock_is_free() {
        let dir = std::env::temp_dir().join(format!("undivided-lock-{}", std::process::id()));
        let first = RunLock::acquire(&dir, "test").unwrap();
        let err = RunLock::acquire(&dir, "test").unwrap_err().to_string();
        assert!(err.contains("another run is writing") && err.contains(&format!("pid {}", std::process::id())) && err.contains("UTC"), "{err}");
        drop(first);
        let again = RunLock::acquire(&dir, "test").unwrap();
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
