//! Drop-in mode: the pieces that let unmodified programs reach mock-server under
//! Microsoft's own names — the names and ports (`--real-hosts`), the per-user CA folder,
//! the `/etc/hosts` block (`mock-server hosts`) and the trust stores (`mock-server trust`).

pub mod hosts;
pub mod trust;

use std::path::PathBuf;

/// The names a Microsoft 365 mail program dials: the identity platform's hosts (MSAL's
/// authority, its instance-discovery aliases, and the issuer host of v1 tokens) and
/// Exchange Online's IMAP, POP3 and SMTP hosts.
pub const MICROSOFT_HOSTS: [&str; 7] = [
    "login.microsoftonline.com",
    "login.windows.net",
    "login.microsoft.com",
    "sts.windows.net",
    "outlook.office365.com",
    "outlook.office.com",
    "smtp.office365.com",
];

/// Microsoft's ports, used by `--real-hosts` for every port not given on the command line.
pub struct RealPorts;

impl RealPorts {
    pub const HTTPS: u16 = 443;
    pub const IMAPS: u16 = 993;
    pub const IMAP: u16 = 143;
    pub const POP3S: u16 = 995;
    pub const POP3: u16 = 110;
    pub const SMTP: u16 = 587;
}

/// Points the per-user CA folder elsewhere (the test harnesses set it per server).
pub const CA_DIR_ENV: &str = "MOCK_SERVER_CA_DIR";

/// The per-user CA folder: `$XDG_DATA_HOME/mock-server/ca`, else
/// `~/.local/share/mock-server/ca`. `None` without a home to put it in.
pub fn default_ca_dir() -> Option<PathBuf> {
    let from = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    let data = std::env::var_os("XDG_DATA_HOME")
        .and_then(from)
        .or_else(|| std::env::var_os("HOME").and_then(from).map(|h| h.join(".local/share")))?;
    Some(data.join("mock-server").join("ca"))
}

/// Why a start failed, said so that the reader knows what to do: a port below 1024
/// without the right to bind it, or a port another program holds.
pub fn explain_start_error(e: &mock_server::server::StartError) -> Option<String> {
    let mock_server::server::StartError::Bind { addr, source } = e else {
        return None;
    };
    match source.kind() {
        std::io::ErrorKind::PermissionDenied if addr.port() < 1024 => Some(format!(
            "cannot listen on {addr}: port {} is privileged and this process may not bind it.\n  \
             Grant the right once:  sudo setcap 'cap_net_bind_service=+ep' \"$(command -v mock-server)\"\n  \
             or run mock-server as root, or give another port (e.g. --https-port 8443).",
            addr.port()
        )),
        std::io::ErrorKind::AddrInUse => Some(format!(
            "cannot listen on {addr}: another program already listens on port {} \
             (see which: ss -ltnp 'sport = :{}'); stop it or give another port.",
            addr.port(),
            addr.port()
        )),
        _ => None,
    }
}

/// What `--real-hosts` needs around it, printed at start: the hosts lines (and whether the
/// hosts file has them), whether `::1` is served too, and the trust command for this CA
/// folder.
pub fn real_hosts_notice(ca_file: &std::path::Path, ca_dir: &std::path::Path, ipv6: &[std::net::SocketAddr]) -> String {
    let installed = std::fs::read_to_string(hosts::SYSTEM_HOSTS)
        .map(|t| hosts::is_installed(&t))
        .unwrap_or(false);
    let mut out = String::from("mock-server: --real-hosts: Microsoft's names must resolve to this machine:\n");
    for line in hosts::block_lines() {
        out.push_str(&format!("    {line}\n"));
    }
    if installed {
        out.push_str(&format!("  {} has them.\n", hosts::SYSTEM_HOSTS));
    } else {
        out.push_str(&format!(
            "  {} lacks them; add them with: sudo mock-server hosts install\n",
            hosts::SYSTEM_HOSTS
        ));
    }
    if ipv6.is_empty() {
        out.push_str("  ::1 is not served (no IPv6 loopback here, or --bind is not 127.0.0.1): clients that try ::1 first fall back to 127.0.0.1.\n");
    } else {
        let ports: Vec<String> = ipv6.iter().map(|a| a.port().to_string()).collect();
        out.push_str(&format!("  ::1 is served too (ports {}).\n", ports.join(", ")));
    }
    out.push_str(&format!(
        "  and its CA must be trusted: sudo mock-server trust install --ca-dir {}\n  \
         (Python: export REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt; \
         Node: export NODE_EXTRA_CA_CERTS={})",
        ca_dir.display(),
        ca_file.display()
    ));
    out
}
