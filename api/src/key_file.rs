//! Key files in the data directory: written once, readable by their owner only.

use std::path::Path;

/// Creates `path` with `contents`, mode 0600, failing if it exists (two processes
/// starting at once cannot overwrite each other's key).
///
/// # Errors
/// The I/O error; `AlreadyExists` when another process created it first.
#[cfg(unix)]
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(not(unix))]
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, contents)
}
