//! `mock-server trust install|uninstall`: trust the per-user CA where programs look for
//! trust, in the manner of `mkcert -install` — the system store (Debian/Ubuntu or RHEL),
//! every JDK's `cacerts` (keytool, alias `mock-server`) and, when `certutil` is
//! installed, the NSS databases: Chromium's shared `~/.pki/nssdb` and every Firefox
//! profile's (`~/.mozilla/firefox/*/cert9.db`, also the snap's and the Flatpak's).
//!
//! Everything added is named `mock-server`, so uninstall removes exactly that. Every
//! store is checked for writability before anything changes: without the rights nothing
//! is half-done. `--root` prefixes every store path (tests run on temp folders).

use anyhow::{anyhow, Context};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The alias and file name of everything installed.
const NAME: &str = "mock-server";
/// The password every JDK ships its `cacerts` with.
const STOREPASS: &str = "changeit";

/// Where to look and what to run.
pub struct Options {
    /// The CA folder (`ca.pem`, `ca.key`).
    pub ca_dir: PathBuf,
    /// Prefix of every system path: `/` normally, a temp folder in tests.
    pub root: PathBuf,
    /// `JAVA_HOME`, looked at before `/usr/lib/jvm/*`.
    pub java_home: Option<PathBuf>,
    /// The user's home, for `~/.pki/nssdb` and the Firefox profiles.
    pub home: Option<PathBuf>,
    /// Run `update-ca-certificates` / `update-ca-trust` after changing the system store
    /// (off under `--root`: those tools only know the real system).
    pub update_system: bool,
}

/// One place a CA can be trusted.
#[derive(Debug)]
enum Store {
    /// A folder of anchors and the command that rebuilds the bundle from it.
    System {
        dir: PathBuf,
        file: &'static str,
        update: &'static str,
    },
    Jdk {
        cacerts: PathBuf,
        keytool: PathBuf,
    },
    /// An NSS database in SQL format (`cert9.db`), changed with `certutil -d sql:DIR`.
    Nss {
        db: PathBuf,
        /// "NSS database" (Chromium's shared one) or "Firefox profile".
        what: &'static str,
    },
}

impl Store {
    fn describe(&self) -> String {
        match self {
            Store::System { dir, file, .. } => format!("system store {}", dir.join(file).display()),
            Store::Jdk { cacerts, .. } => format!("JDK keystore {} (alias {NAME})", cacerts.display()),
            Store::Nss { db, what } => format!("{what} {} (nickname {NAME})", db.display()),
        }
    }

    /// `Err` says why this user may not change the store.
    fn check_writable(&self) -> Result<(), String> {
        let probe_dir = |dir: &Path| {
            let probe = dir.join(format!(".{NAME}-probe-{}", std::process::id()));
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&probe)
                .map(|_| {
                    let _ = std::fs::remove_file(&probe);
                })
                .map_err(|e| format!("{}: {e}", dir.display()))
        };
        match self {
            Store::System { dir, .. } => probe_dir(dir),
            Store::Nss { db, .. } => probe_dir(db),
            Store::Jdk { cacerts, .. } => std::fs::OpenOptions::new()
                .write(true)
                .open(cacerts)
                .map(|_| ())
                .map_err(|e| format!("{}: {e}", cacerts.display())),
        }
    }
}

fn under(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

fn on_path(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
}

/// Every store found under `opts.root`.
fn discover(opts: &Options) -> Vec<Store> {
    let mut stores = Vec::new();
    let debian = under(&opts.root, "/usr/local/share/ca-certificates");
    let rhel = under(&opts.root, "/etc/pki/ca-trust/source/anchors");
    if debian.is_dir() {
        stores.push(Store::System {
            dir: debian,
            file: "mock-server.crt",
            update: "update-ca-certificates",
        });
    } else if rhel.is_dir() {
        stores.push(Store::System {
            dir: rhel,
            file: "mock-server.pem",
            update: "update-ca-trust",
        });
    }
    let mut jdks: Vec<PathBuf> = opts.java_home.iter().cloned().collect();
    if let Ok(entries) = std::fs::read_dir(under(&opts.root, "/usr/lib/jvm")) {
        let mut found: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        found.sort();
        jdks.extend(found);
    }
    let mut seen = Vec::new();
    for jdk in jdks {
        let Some(cacerts) = ["lib/security/cacerts", "jre/lib/security/cacerts"]
            .iter()
            .map(|p| jdk.join(p))
            .find(|p| p.is_file())
        else {
            continue;
        };
        // Several JDKs (and Debian's default-java link) share one keystore: change it once.
        let real = std::fs::canonicalize(&cacerts).unwrap_or_else(|_| cacerts.clone());
        if seen.contains(&real) {
            continue;
        }
        seen.push(real);
        let own = jdk.join("bin/keytool");
        let keytool = if own.is_file() { Some(own) } else { on_path("keytool") };
        if let Some(keytool) = keytool {
            stores.push(Store::Jdk { cacerts, keytool });
        }
    }
    if let Some(home) = opts.home.as_deref().filter(|_| on_path("certutil").is_some()) {
        let db = home.join(".pki/nssdb");
        if db.is_dir() {
            stores.push(Store::Nss {
                db,
                what: "NSS database",
            });
        }
        stores.extend(firefox_profiles(home).into_iter().map(|db| Store::Nss {
            db,
            what: "Firefox profile",
        }));
    }
    stores
}

/// Every Firefox profile with an SQL NSS database (`cert9.db`), sorted: the profiles of
/// Firefox from a package or a tarball (`~/.mozilla/firefox/*/`), of the snap
/// (`~/snap/firefox/common/.mozilla/firefox/*/`) and of the Flatpak
/// (`~/.var/app/org.mozilla.firefox/.mozilla/firefox/*/`). A profile still on the old `cert8.db`
/// only is left alone (`certutil -d sql:` would make a second, unused database there).
fn firefox_profiles(home: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for base in [
        ".mozilla/firefox",
        "snap/firefox/common/.mozilla/firefox",
        ".var/app/org.mozilla.firefox/.mozilla/firefox",
    ] {
        let Ok(entries) = std::fs::read_dir(home.join(base)) else {
            continue;
        };
        let mut profiles: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("cert9.db").is_file())
            .collect();
        profiles.sort();
        found.extend(profiles);
    }
    found
}

fn run(cmd: &mut Command) -> anyhow::Result<std::process::Output> {
    let shown = format!("{cmd:?}");
    cmd.output().with_context(|| format!("running {shown}"))
}

fn run_ok(cmd: &mut Command) -> anyhow::Result<()> {
    let shown = format!("{cmd:?}");
    let out = run(cmd)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(anyhow!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn keytool(tool: &Path, cacerts: &Path, action: &[&str]) -> Command {
    let mut cmd = Command::new(tool);
    cmd.args(action)
        .args(["-alias", NAME, "-storepass", STOREPASS, "-keystore"])
        .arg(cacerts);
    cmd
}

fn nss_has(db: &Path) -> bool {
    let mut cmd = Command::new("certutil");
    cmd.arg("-d")
        .arg(format!("sql:{}", db.display()))
        .args(["-L", "-n", NAME]);
    run(&mut cmd).map(|o| o.status.success()).unwrap_or(false)
}

/// Add (or with `add == false` remove) the CA in one store; what was done.
fn change(store: &Store, ca_file: &Path, add: bool, opts: &Options) -> anyhow::Result<String> {
    match store {
        Store::System { dir, file, update } => {
            let target = dir.join(file);
            let present = target.exists();
            if add {
                std::fs::copy(ca_file, &target).with_context(|| format!("copying to {}", target.display()))?;
            } else if present {
                std::fs::remove_file(&target).with_context(|| format!("removing {}", target.display()))?;
            } else {
                return Ok(format!("{}: not there (nothing changed)", target.display()));
            }
            let verb = if add { "installed" } else { "removed" };
            if opts.update_system {
                run_ok(&mut Command::new(update))?;
                Ok(format!("{verb} {} and ran {update}", target.display()))
            } else {
                Ok(format!("{verb} {} ({update} not run under --root)", target.display()))
            }
        }
        Store::Jdk { cacerts, keytool: tool } => {
            let present = run(&mut keytool(tool, cacerts, &["-list"]))?.status.success();
            if present {
                run_ok(&mut keytool(tool, cacerts, &["-delete"]))?;
            }
            if add {
                let mut cmd = keytool(tool, cacerts, &["-importcert", "-noprompt", "-trustcacerts"]);
                run_ok(cmd.arg("-file").arg(ca_file))?;
                Ok(format!("{}: imported as alias {NAME}", cacerts.display()))
            } else if present {
                Ok(format!("{}: deleted alias {NAME}", cacerts.display()))
            } else {
                Ok(format!("{}: no alias {NAME} (nothing changed)", cacerts.display()))
            }
        }
        Store::Nss { db, .. } => {
            let sql = format!("sql:{}", db.display());
            let present = nss_has(db);
            if present {
                run_ok(Command::new("certutil").args(["-d", &sql, "-D", "-n", NAME]))?;
            }
            if add {
                let mut cmd = Command::new("certutil");
                cmd.args(["-d", &sql, "-A", "-t", "C,,", "-n", NAME, "-i"]).arg(ca_file);
                run_ok(&mut cmd)?;
                Ok(format!("{}: added as {NAME}", db.display()))
            } else if present {
                Ok(format!("{}: deleted {NAME}", db.display()))
            } else {
                Ok(format!("{}: no {NAME} (nothing changed)", db.display()))
            }
        }
    }
}

/// Install (`add`) or uninstall the CA in every store found; the report for the user.
pub fn apply(opts: &Options, add: bool) -> anyhow::Result<String> {
    let ca_file = opts.ca_dir.join(mock_server::tls::CA_CERT_FILE);
    if add {
        mock_server::tls::ensure_ca(&opts.ca_dir).with_context(|| format!("the CA in {}", opts.ca_dir.display()))?;
    }
    let stores = discover(opts);
    let refused: Vec<String> = stores.iter().filter_map(|s| s.check_writable().err()).collect();
    if !refused.is_empty() {
        return Err(anyhow!(
            "not allowed to change every trust store; nothing changed:\n  {}\nRun it as root: sudo mock-server trust {} --ca-dir {}",
            refused.join("\n  "),
            if add { "install" } else { "uninstall" },
            opts.ca_dir.display()
        ));
    }
    let mut report = vec![format!("CA: {}", ca_file.display())];
    if stores.is_empty() {
        report.push("no trust store found (no Debian or RHEL store, no JDK, no NSS database)".into());
    }
    let mut failed = Vec::new();
    for store in &stores {
        match change(store, &ca_file, add, opts) {
            Ok(line) => report.push(format!("  {line}")),
            Err(e) => failed.push(format!("{}: {e:#}", store.describe())),
        }
    }
    if add {
        let bundle = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"]
            .into_iter()
            .find(|b| under(&opts.root, b).is_file())
            .map(|b| under(&opts.root, b))
            .unwrap_or_else(|| ca_file.clone());
        report.push("Runtimes that do not read the system store need to be told:".into());
        report.push(format!(
            "  export REQUESTS_CA_BUNDLE={}   # Python requests (MSAL, azure-identity)",
            bundle.display()
        ));
        report.push(format!(
            "  export SSL_CERT_FILE={}        # Python ssl built without the system paths",
            bundle.display()
        ));
        report.push(format!(
            "  export NODE_EXTRA_CA_CERTS={}   # Node.js",
            ca_file.display()
        ));
    }
    if failed.is_empty() {
        Ok(report.join("\n"))
    } else {
        Err(anyhow!("{}\nfailed:\n  {}", report.join("\n"), failed.join("\n  ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(root: &Path) -> Options {
        Options {
            ca_dir: root.join("ca"),
            root: root.to_path_buf(),
            java_home: None,
            home: Some(root.join("home")),
            update_system: false,
        }
    }

    #[test]
    fn the_system_store_gets_the_ca_and_loses_exactly_it() {
        let root = std::env::temp_dir().join(format!("trust-test-sys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let anchors = root.join("usr/local/share/ca-certificates");
        std::fs::create_dir_all(&anchors).expect("dir");
        std::fs::write(anchors.join("corp.crt"), "other").expect("write");
        let o = opts(&root);
        let report = apply(&o, true).expect("install");
        assert!(report.contains("mock-server.crt"), "{report}");
        assert!(report.contains("NODE_EXTRA_CA_CERTS"), "{report}");
        let pem = std::fs::read_to_string(root.join("ca/ca.pem")).expect("ca");
        assert_eq!(
            std::fs::read_to_string(anchors.join("mock-server.crt")).expect("crt"),
            pem
        );
        apply(&o, true).expect("install twice");
        let report = apply(&o, false).expect("uninstall");
        assert!(report.contains("removed"), "{report}");
        assert!(!anchors.join("mock-server.crt").exists());
        assert_eq!(
            std::fs::read_to_string(anchors.join("corp.crt")).expect("other"),
            "other"
        );
        assert!(apply(&o, false).expect("again").contains("nothing changed"));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_jdk_keystore_gets_the_alias_and_loses_exactly_it() {
        let Some(tool) = on_path("keytool") else {
            eprintln!("skipped: no keytool on PATH");
            return;
        };
        let root = std::env::temp_dir().join(format!("trust-test-jdk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let security = root.join("usr/lib/jvm/test-jdk/lib/security");
        std::fs::create_dir_all(&security).expect("dir");
        let cacerts = security.join("cacerts");
        // A keystore holding another CA, which must survive.
        let other = root.join("other");
        mock_server::tls::ensure_ca(&other).expect("other CA");
        let mut import = Command::new(&tool);
        import
            .args([
                "-importcert",
                "-noprompt",
                "-alias",
                "corp",
                "-storepass",
                STOREPASS,
                "-keystore",
            ])
            .arg(&cacerts)
            .arg("-file")
            .arg(other.join("ca.pem"));
        run_ok(&mut import).expect("seed keystore");
        let o = opts(&root);
        let report = apply(&o, true).expect("install");
        assert!(report.contains("imported as alias mock-server"), "{report}");
        let list = |alias: &str| {
            let mut c = Command::new(&tool);
            c.args(["-list", "-alias", alias, "-storepass", STOREPASS, "-keystore"])
                .arg(&cacerts);
            c.output().expect("keytool").status.success()
        };
        assert!(list("mock-server") && list("corp"));
        apply(&o, true).expect("install twice");
        apply(&o, false).expect("uninstall");
        assert!(!list("mock-server") && list("corp"));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn every_firefox_profile_and_the_chromium_db_get_the_ca_and_lose_exactly_it() {
        if on_path("certutil").is_none() {
            eprintln!("skipped: no certutil on PATH (Debian: libnss3-tools)");
            return;
        }
        let root = std::env::temp_dir().join(format!("trust-test-nss-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let home = root.join("home");
        let profiles = [
            home.join(".mozilla/firefox/abcd1234.default-release"),
            home.join("snap/firefox/common/.mozilla/firefox/efgh5678.default"),
            home.join(".var/app/org.mozilla.firefox/.mozilla/firefox/ijkl9012.default-release"),
        ];
        let chromium = home.join(".pki/nssdb");
        // A profile from before cert9.db (Firefox < 58): left alone, no database made.
        let legacy = home.join(".mozilla/firefox/old00000.default");
        std::fs::create_dir_all(&legacy).expect("dir");
        std::fs::write(legacy.join("cert8.db"), "").expect("write");
        let other = root.join("other");
        mock_server::tls::ensure_ca(&other).expect("other CA");
        let certutil = |db: &Path, args: &[&str]| {
            let mut c = Command::new("certutil");
            c.arg("-d").arg(format!("sql:{}", db.display())).args(args);
            c.output().expect("certutil")
        };
        for db in profiles.iter().chain([&chromium]) {
            std::fs::create_dir_all(db).expect("dir");
            assert!(certutil(db, &["-N", "--empty-password"]).status.success());
            // Another CA the user trusts, which must survive.
            let mut add = Command::new("certutil");
            add.arg("-d")
                .arg(format!("sql:{}", db.display()))
                .args(["-A", "-n", "corp", "-t", "C,,", "-i"])
                .arg(other.join("ca.pem"));
            run_ok(&mut add).expect("seed db");
        }
        let has = |db: &Path, nick: &str| certutil(db, &["-L", "-n", nick]).status.success();
        let o = opts(&root);
        let report = apply(&o, true).expect("install");
        for db in &profiles {
            assert!(
                report.contains(&format!("{}: added as mock-server", db.display())),
                "{report}"
            );
            assert!(has(db, "mock-server") && has(db, "corp"), "{}", db.display());
            // Trusted as a CA for TLS servers: the listing shows the trust flags "C,,".
            let list = String::from_utf8_lossy(&certutil(db, &["-L"]).stdout).to_string();
            let line = list.lines().find(|l| l.starts_with("mock-server")).unwrap_or_default();
            assert!(line.trim_end().ends_with("C,,"), "{list}");
        }
        assert!(has(&chromium, "mock-server"));
        assert!(!report.contains("old00000"), "{report}");
        assert!(!legacy.join("cert9.db").exists());
        apply(&o, true).expect("install twice");
        let nicks = String::from_utf8_lossy(&certutil(&profiles[0], &["-L"]).stdout).to_string();
        assert_eq!(
            nicks.lines().filter(|l| l.starts_with("mock-server")).count(),
            1,
            "{nicks}"
        );
        let report = apply(&o, false).expect("uninstall");
        for db in profiles.iter().chain([&chromium]) {
            assert!(
                report.contains(&format!("{}: deleted mock-server", db.display())),
                "{report}"
            );
            assert!(!has(db, "mock-server") && has(db, "corp"), "{}", db.display());
        }
        let again = apply(&o, false).expect("again");
        assert_eq!(again.matches("nothing changed").count(), 4, "{again}");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn without_the_rights_nothing_changes() {
        let root = std::env::temp_dir().join(format!("trust-test-ro-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let anchors = root.join("usr/local/share/ca-certificates");
        std::fs::create_dir_all(&anchors).expect("dir");
        // A path that is a file where a folder should be fails the probe for root too.
        let store = Store::System {
            dir: anchors.join("not-a-dir"),
            file: "mock-server.crt",
            update: "true",
        };
        std::fs::write(anchors.join("not-a-dir"), "").expect("write");
        assert!(store.check_writable().is_err());
        let _ = std::fs::remove_dir_all(&root);
    }
}
