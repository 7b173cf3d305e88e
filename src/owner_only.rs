//! Files and directories only their owner can read: state directories (0700), state,
//! lock, export and saved-plan files (0600). Each is created with its mode, so there is
//! never a moment when another user could open it.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and any missing parents with mode 0700. Directories that exist are left
/// as they are: `--state DIR` may name a shared one, and what trustplane puts in it is
/// owner-only by itself.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
}

/// Writes `content` to `path` as a new 0600 file: written and flushed under a private
/// name in the same directory, then renamed over `path`. Readers see the old file or
/// the whole new one, and an existing file's wider mode is not inherited.
pub fn write_file(path: &Path, content: &[u8]) -> io::Result<()> {
    let tmp = sibling(path, &format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = create_new(&tmp).and_then(|mut f| {
        f.write_all(content)?;
        f.sync_all()
    });
    let result = written.and_then(|_| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Opens a new file, mode 0600; fails if `path` exists.
pub fn create_new(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Runs `f` with the process umask at 077, so files and directories that code we do not
/// control creates (the embedded database) are owner-only from their first byte. The
/// umask is process-wide: callers run this before other threads create files, and
/// calls are serialized.
pub fn with_private_umask<T>(f: impl FnOnce() -> T) -> T {
    static UMASK: Mutex<()> = Mutex::new(());
    let _serial = UMASK.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: umask only swaps the process's file-creation mask.
    let old = unsafe { libc::umask(0o077) };
    let out = f();
    // SAFETY: as above, restoring the previous mask.
    unsafe { libc::umask(old) };
    out
}

/// Narrows every directory under `root` (itself included) to 0700 and every file to 0600:
/// for states written by older versions, and files the database added since.
pub fn narrow_tree(root: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(root)?;
    if meta.is_dir() {
        narrow(root, DIR_MODE)?;
        for entry in fs::read_dir(root)? {
            narrow_tree(&entry?.path())?;
        }
    } else if meta.is_file() {
        narrow(root, FILE_MODE)?;
    }
    Ok(())
}

/// Removes group and other permissions beyond `mode`, if any.
fn narrow(path: &Path, mode: u32) -> io::Result<()> {
    let current = fs::metadata(path)?.permissions().mode() & 0o777;
    if current & !mode != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(current & mode))?;
    }
    Ok(())
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn directories_and_files_are_owner_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        create_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);

        // An existing world-readable file is replaced, not reused with its mode.
        let file = dir.join("plan");
        fs::write(&file, "old").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        write_file(&file, b"new").unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"new");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temporary left");
    }

    #[test]
    fn narrow_tree_tightens_what_others_made() {
        let tmp = tempfile::tempdir().unwrap();
        let sub = tmp.path().join("db/blobs");
        fs::create_dir_all(&sub).unwrap();
        fs::set_permissions(&sub, fs::Permissions::from_mode(0o755)).unwrap();
        let f = tmp.path().join("db/conf");
        fs::write(&f, "x").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o664)).unwrap();
        narrow_tree(&tmp.path().join("db")).unwrap();
        assert_eq!(mode(&sub), 0o700);
        assert_eq!(mode(&f), 0o600);
    }
}
