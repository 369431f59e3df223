//! Writing files so that nothing a user saved is ever half-written: a temporary file beside the
//! target, synced, then renamed over it (atomic on POSIX file systems).

use std::io::Write;
use std::path::{Path, PathBuf};

/// The directory `path` is in: its parent, or "." for a bare file name (whose parent is the empty
/// path, which names no directory).
pub fn directory_of(path: &Path) -> &Path {
    path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// The temporary file [`write_atomic`] renames over `path`: hidden beside it and named after its
/// whole file name, so it is never another file a user saved (`x.tmp` beside `x.ron`) nor the
/// temporary of another target (`x.json`'s).
fn temporary_for(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    directory_of(path).join(format!(".{name}.tmp"))
}

/// Refuses a `path` that names a directory, creates its directory, and returns the temporary file
/// to write before renaming it over `path`.
fn prepare(path: &Path) -> Result<PathBuf, String> {
    if path.is_dir() {
        return Err(format!("{}: is a directory; give a file name", path.display()));
    }
    let dir = directory_of(path);
    std::fs::create_dir_all(dir).map_err(|e| failed(dir, "cannot create directory", e))?;
    Ok(temporary_for(path))
}

/// Writes `contents` to `path` atomically (creating its directory if needed); the error is one line,
/// `PATH: WHAT: CAUSE`. A failed write leaves `path` as it was and no temporary file.
pub fn write_atomic(path: &Path, contents: &str) -> Result<(), String> {
    let tmp = prepare(path)?;
    let written = (|| {
        let mut file = std::fs::File::create(&tmp).map_err(|e| failed(&tmp, "cannot write", e))?;
        file.write_all(contents.as_bytes()).map_err(|e| failed(&tmp, "cannot write", e))?;
        file.sync_all().map_err(|e| failed(&tmp, "cannot sync", e))?;
        std::fs::rename(&tmp, path).map_err(|e| failed(path, "cannot replace", e))
    })();
    if written.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    written
}

/// Fails now, not after a long job, when [`write_atomic`] could not write `path`: it names a
/// directory, or its directory cannot be created or written. Creates the directory; leaves no file.
pub fn check_writable(path: &Path) -> Result<(), String> {
    let probe = prepare(path)?;
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
        let files = |dir: &Path| {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        write_atomic(&path, "first").unwrap();
        // A file the user saved under the old temporary's name is not touched.
        std::fs::write(dir.join("x.tmp"), "mine").unwrap();
        write_atomic(&path, "second").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second");
        assert_eq!(std::fs::read_to_string(dir.join("x.tmp")).unwrap(), "mine");
        assert_eq!(files(&dir), ["x.ron", "x.tmp"]);
        let e = write_atomic(&path.join("under-a-file"), "x").unwrap_err();
        assert!(e.starts_with(&path.display().to_string()) && !e.contains('\n'), "{e}");
        assert!(write_atomic(&dir, "x").unwrap_err().contains("is a directory"));
        assert_eq!(files(&dir), ["x.ron", "x.tmp"], "failed writes leave nothing behind");
        let e = check_writable(&path.join("under-a-file")).unwrap_err();
        assert!(e.starts_with(&path.display().to_string()) && !e.contains('\n'), "{e}");
        assert!(check_writable(&dir).unwrap_err().contains("is a directory"));
        check_writable(&dir.join("new/y.ron")).unwrap();
        assert!(dir.join("new").is_dir() && files(&dir.join("new")).is_empty());
        std::fs::remove_dir_all(dir).ok();
    }
}
