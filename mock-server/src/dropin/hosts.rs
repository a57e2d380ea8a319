//! `mock-server hosts install|uninstall`: one marked block in the hosts file mapping
//! Microsoft's names to this machine, added or removed without touching any other line.
//!
//! The file is rewritten in place (truncate and write, never a rename): in containers
//! `/etc/hosts` is a bind mount, which a rename would fail on or detach from.

use super::MICROSOFT_HOSTS;
use std::io::Write;
use std::path::Path;

pub const SYSTEM_HOSTS: &str = "/etc/hosts";
const BEGIN: &str =
    "# BEGIN mock-server (added by `mock-server hosts install`; `mock-server hosts uninstall` removes it)";
const BEGIN_PREFIX: &str = "# BEGIN mock-server";
const END: &str = "# END mock-server";

/// The lines between the markers.
pub fn block_lines() -> Vec<String> {
    let names = MICROSOFT_HOSTS.join(" ");
    vec![format!("127.0.0.1 {names}"), format!("::1 {names}")]
}

/// Whether `text` holds the block as [`install`] writes it.
pub fn is_installed(text: &str) -> bool {
    install(text) == text
}

/// `text` without any mock-server block (and nothing else removed).
pub fn uninstall(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if !inside && bare.starts_with(BEGIN_PREFIX) {
            inside = true;
        } else if inside && bare == END {
            inside = false;
        } else if !inside {
            out.push_str(line);
        }
    }
    if inside {
        // A BEGIN without END: someone edited the block; keep the file as it was rather
        // than drop every line after the marker.
        return text.to_string();
    }
    out
}

/// `text` with exactly one current block at its end, every other line as it was.
pub fn install(text: &str) -> String {
    let mut out = uninstall(text);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(BEGIN);
    out.push('\n');
    for line in block_lines() {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    out
}

/// Install or uninstall in the file at `path`; returns what was done, for the user.
pub fn apply(path: &Path, add: bool) -> anyhow::Result<String> {
    use anyhow::Context;
    let before = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let after = if add { install(&before) } else { uninstall(&before) };
    if after == before {
        return Ok(format!(
            "{}: already {} (nothing changed)",
            path.display(),
            if add {
                "has the mock-server block"
            } else {
                "has no mock-server block"
            }
        ));
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| refused(path, e))?;
    // Why not write to a temp file and rename: see the module comment (bind mounts).
    file.set_len(0)
        .and_then(|()| file.write_all(after.as_bytes()))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("rewriting {}", path.display()))?;
    Ok(if add {
        format!(
            "{}: added the mock-server block ({} → 127.0.0.1 and ::1)",
            path.display(),
            MICROSOFT_HOSTS.join(", ")
        )
    } else {
        format!("{}: removed the mock-server block", path.display())
    })
}

fn refused(path: &Path, e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        anyhow::anyhow!(
            "{}: not writable by this user ({e}); nothing changed. Run it as root: sudo mock-server hosts …",
            path.display()
        )
    } else {
        anyhow::anyhow!("{}: {e}", path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "127.0.0.1\tlocalhost\n::1 localhost ip6-localhost\n# a comment\n172.17.0.2 box";

    #[test]
    fn install_adds_one_block_and_keeps_every_other_line() {
        let once = install(SAMPLE);
        assert!(once.starts_with("127.0.0.1\tlocalhost\n::1 localhost ip6-localhost\n# a comment\n172.17.0.2 box\n"));
        assert_eq!(install(&once), once, "idempotent");
        assert!(is_installed(&once) && !is_installed(SAMPLE));
        assert_eq!(once.matches(BEGIN_PREFIX).count(), 1);
        assert!(once.contains("127.0.0.1 login.microsoftonline.com login.windows.net"));
        assert!(once.contains("::1 login.microsoftonline.com"));
        // Uninstall gives back the file (plus the final newline install had to add).
        assert_eq!(uninstall(&once), format!("{SAMPLE}\n"));
        assert_eq!(uninstall(&uninstall(&once)), format!("{SAMPLE}\n"));
    }

    #[test]
    fn a_block_in_the_middle_or_out_of_date_is_replaced_and_a_broken_one_is_left_alone() {
        let text = "a\n# BEGIN mock-server old\n127.0.0.1 login.microsoftonline.com\n# END mock-server\nb\n";
        assert_eq!(uninstall(text), "a\nb\n");
        let new = install(text);
        assert!(new.starts_with("a\nb\n# BEGIN mock-server"));
        let broken = "a\n# BEGIN mock-server\nb\n";
        assert_eq!(uninstall(broken), broken);
        assert_eq!(uninstall("\r\nx\r\n"), "\r\nx\r\n");
    }

    #[test]
    fn apply_rewrites_the_same_file_in_place() {
        let dir = std::env::temp_dir().join(format!("hosts-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("hosts");
        std::fs::write(&path, SAMPLE).expect("write");
        #[cfg(unix)]
        let inode = || std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).expect("meta"));
        #[cfg(unix)]
        let before = inode();
        assert!(apply(&path, true).expect("install").contains("added"));
        assert!(apply(&path, true).expect("again").contains("nothing changed"));
        #[cfg(unix)]
        assert_eq!(inode(), before, "same file, not a renamed copy");
        assert!(apply(&path, false).expect("uninstall").contains("removed"));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), format!("{SAMPLE}\n"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
