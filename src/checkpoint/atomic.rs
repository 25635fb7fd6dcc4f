//! Atomic file writes (native only): what every checkpoint, download and result file goes through.

use std::fs;
use std::path::Path;

use crate::error::CheckpointError;

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, then a rename,
/// so an interrupted write never leaves a half-written file under the real name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let tmp = path.with_extension(format!("{}.tmp{}", path.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default(), std::process::id()));
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| CheckpointError::Io { path: p, source }
    };
    fs::write(&tmp, bytes).map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}
