//! Writing files so that nothing a user saved is ever half-written: a temporary file beside the
//! target, synced, then renamed over it (atomic on POSIX file systems).

use std::io::Write;
use std::path::Path;

/// The directory `path` is in: its parent, or "." for a bare file name (whose parent is the empty
/// path, which names no directory).
pub fn directory_of(path: &Path) -> &Path {
    path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Writes `contents` to `path` atomically (creating its directory if needed); the error is one line,
/// `PATH: WHAT: CAUSE`.
pub fn write_atomic(path: &Path, contents: &str) -> Result<(), String> {
    let dir = directory_of(path);
    std::fs::create_dir_all(dir).map_err(|e| failed(dir, "cannot create directory", e))?;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(|e| failed(&tmp, "cannot write", e))?;
    file.write_all(contents.as_bytes()).map_err(|e| failed(&tmp, "cannot write", e))?;
    file.sync_all().map_err(|e| failed(&tmp, "cannot sync", e))?;
    std::fs::rename(&tmp, path).map_err(|e| failed(path, "cannot replace", e))
}

/// Fails now, not after a long job, when [`write_atomic`] could not write `path`: it names a
/// directory, or its directory cannot be created or written. Creates the directory; leaves no file.
pub fn check_writable(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err(format!("{}: is a directory; give a file name", path.display()));
    }
    let dir = directory_of(path);
    std::fs::create_dir_all(dir).map_err(|e| failed(dir, "cannot create directory", e))?;
    let probe = path.with_extension("tmp");
    std::fs::File::create(&probe).map_err(|e| failed(&probe, "cannot write", e))?;
    std::fs::remove_file(&probe).map_err(|e| failed(&probe, "cannot remove", e))
}

/// A failed file operation as one line, `PATH: WHAT: CAUSE`.
fn failed(path: &Path, what: &str, e: std::io::Error) -> String {
    format!("{}: {what}: {e}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_files_and_leaves_no_temp() {
        let tmp = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tmp");
        let dir = tmp.join(format!("serflow-files-{}", std::process::id()));
        let path = dir.join("x.ron");
        write_atomic(&path, "first").unwrap();
        write_atomic(&path, "second").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second");
        assert!(!path.with_extension("tmp").exists());
        let e = write_atomic(&path.join("under-a-file"), "x").unwrap_err();
        assert!(e.starts_with(&path.display().to_string()) && !e.contains('\n'), "{e}");
        let e = check_writable(&path.join("under-a-file")).unwrap_err();
        assert!(e.starts_with(&path.display().to_string()) && !e.contains('\n'), "{e}");
        assert!(check_writable(&dir).unwrap_err().contains("is a directory"));
        check_writable(&dir.join("new/y.ron")).unwrap();
        assert!(
            dir.join("new").is_dir() && !dir.join("new/y.tmp").exists() && !dir.join("new/y.ron").exists()
        );
        std::fs::remove_dir_all(dir).ok();
    }
}
