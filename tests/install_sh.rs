//! `assets/install.sh`, run for real under `dash` (or `sh`) against release assets served
//! over HTTP on 127.0.0.1 by a tiny in-process server, installing into a temp dir.
//!
//! The served "binary" is a shell script that prints a version, and its `.sha256` is
//! written by `sha256sum` run inside the asset dir, exactly as `make release` does.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tempfile::TempDir;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/install.sh");
const TARGET: &str = "x86_64-unknown-linux-musl";
const ASSET: &str = "pigsty-x86_64-unknown-linux-musl";
const FAKE_VERSION: &str = "pigsty 9.9.9-test (commit fake)";

/// A static-file HTTP/1.1 server for one directory, on an ephemeral 127.0.0.1 port.
/// Records every requested path; stops and joins its thread when dropped.
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn serve(dir: &Path) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let dir = dir.to_path_buf();
        let thread = {
            let stop = Arc::clone(&stop);
            let requests = Arc::clone(&requests);
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(conn) = conn {
                        respond(conn, &dir, &requests);
                    }
                }
            })
        };
        Server {
            addr,
            stop,
            requests,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn respond(mut conn: TcpStream, dir: &Path, requests: &Mutex<Vec<String>>) {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
    requests.lock().unwrap().push(path.clone());
    let name = path.trim_start_matches('/');
    let body = if name.is_empty() || name.contains('/') || name.contains("..") {
        None
    } else {
        fs::read(dir.join(name)).ok()
    };
    let (status, body) = match body {
        Some(b) => ("200 OK", b),
        None => ("404 Not Found", b"not found\n".to_vec()),
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(header.as_bytes());
    let _ = conn.write_all(&body);
    let _ = conn.flush();
}

/// The shell the script must run under: `dash` when present (it is `/bin/sh` on Debian),
/// otherwise `sh`.
fn shell() -> PathBuf {
    find_in_path("dash").unwrap_or_else(|| PathBuf::from("sh"))
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Release assets as `make release` lays them out: the fake binary and its `.sha256`.
fn release_assets() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join(ASSET);
    fs::write(&bin, format!("#!/bin/sh\necho '{FAKE_VERSION}'\n")).unwrap();
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new("sha256sum")
        .arg(ASSET)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "sha256sum failed: {out:?}");
    fs::write(dir.path().join(format!("{ASSET}.sha256")), &out.stdout).unwrap();
    dir
}

/// The installer command with a clean `PIGSTY_*` environment and no proxy for 127.0.0.1.
fn installer(base_url: &str, install_dir: &Path) -> Command {
    let mut cmd = Command::new(shell());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PIGSTY_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("PIGSTY_DOWNLOAD_URL", base_url)
        .env("PIGSTY_INSTALL_DIR", install_dir)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .stdin(Stdio::null());
    cmd
}

fn run(mut cmd: Command, args: &[&str]) -> Output {
    cmd.arg(SCRIPT).args(args).output().expect("run install.sh")
}

/// Runs the script the way `curl ... | sh -s -- ARGS` does: the script text on stdin.
fn run_piped(mut cmd: Command, script: &[u8], args: &[&str]) -> Output {
    cmd.arg("-s")
        .arg("--")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn sh");
    {
        let mut stdin = child.stdin.take().unwrap();
        // A script that exits early may close the pipe; that is not a test failure.
        let _ = stdin.write_all(script);
    }
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A directory of symlinks to the tools the script needs, minus `without`, for a PATH
/// that hides one downloader or one hasher.
fn path_without(without: &str) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let tools = [
        "uname",
        "mktemp",
        "rm",
        "cp",
        "chmod",
        "mv",
        "mkdir",
        "tr",
        "id",
        "grep",
        "cat",
        "curl",
        "wget",
        "sha256sum",
        "shasum",
    ];
    for tool in tools.iter().filter(|t| **t != without) {
        if let Some(real) = find_in_path(tool) {
            std::os::unix::fs::symlink(real, dir.path().join(tool)).unwrap();
        }
    }
    dir
}

#[test]
fn good_checksum_installs_a_program_that_runs() {
    let assets = release_assets();
    let server = Server::serve(assets.path());
    let dest = tempfile::tempdir().unwrap();

    let script = fs::read(SCRIPT).unwrap();
    let out = run_piped(installer(&server.url(), dest.path()), &script, &["-y"]);
    let err = stderr(&out);
    assert!(out.status.success(), "install failed: {err}");

    assert_eq!(
        entries(dest.path()),
        vec!["pigsty"],
        "only `pigsty` is left in the install dir"
    );
    let installed = dest.path().join("pigsty");
    assert_eq!(
        fs::read(&installed).unwrap(),
        fs::read(assets.path().join(ASSET)).unwrap()
    );
    let mode = fs::metadata(&installed).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755, "installed mode is {mode:o}");

    let ran = Command::new(&installed).arg("--version").output().unwrap();
    assert!(ran.status.success());
    assert_eq!(String::from_utf8_lossy(&ran.stdout).trim(), FAKE_VERSION);

    assert!(
        err.contains(FAKE_VERSION),
        "the installer prints the version: {err}"
    );
    assert!(
        err.contains("pigsty install"),
        "the installer prints the next step: {err}"
    );
    assert_eq!(
        server.requests(),
        vec![format!("/{ASSET}"), format!("/{ASSET}.sha256")]
    );
}

#[test]
fn reinstall_replaces_an_existing_binary() {
    let assets = release_assets();
    let server = Server::serve(assets.path());
    let dest = tempfile::tempdir().unwrap();
    fs::write(dest.path().join("pigsty"), "#!/bin/sh\necho old\n").unwrap();

    let out = run(installer(&server.url(), dest.path()), &[]);
    assert!(out.status.success(), "install failed: {}", stderr(&out));
    assert_eq!(entries(dest.path()), vec!["pigsty"]);
    assert_eq!(
        fs::read(dest.path().join("pigsty")).unwrap(),
        fs::read(assets.path().join(ASSET)).unwrap()
    );
}

#[test]
fn tampered_checksum_installs_nothing() {
    let assets = release_assets();
    fs::write(
        assets.path().join(format!("{ASSET}.sha256")),
        format!("{}  {ASSET}\n", "0".repeat(64)),
    )
    .unwrap();
    let server = Server::serve(assets.path());
    let dest = tempfile::tempdir().unwrap();

    let out = run(installer(&server.url(), dest.path()), &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(
        err.contains("checksum mismatch"),
        "the error names the checksum: {err}"
    );
    assert!(err.contains(ASSET), "the error names the asset: {err}");
    assert!(
        entries(dest.path()).is_empty(),
        "left behind: {:?}",
        entries(dest.path())
    );
}

#[test]
fn tampered_binary_keeps_the_existing_install() {
    let assets = release_assets();
    // The .sha256 stays that of the original; the binary is swapped after it was written.
    fs::write(assets.path().join(ASSET), "#!/bin/sh\necho evil\n").unwrap();
    let server = Server::serve(assets.path());
    let dest = tempfile::tempdir().unwrap();
    fs::write(dest.path().join("pigsty"), "#!/bin/sh\necho old\n").unwrap();

    let out = run(installer(&server.url(), dest.path()), &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(err.contains("checksum mismatch"), "{err}");
    assert_eq!(entries(dest.path()), vec!["pigsty"]);
    assert_eq!(
        fs::read_to_string(dest.path().join("pigsty")).unwrap(),
        "#!/bin/sh\necho old\n"
    );
}

#[test]
fn checksum_file_for_another_asset_installs_nothing() {
    let assets = release_assets();
    let sum = fs::read_to_string(assets.path().join(format!("{ASSET}.sha256"))).unwrap();
    let other = sum.replace(ASSET, "pigsty-aarch64-unknown-linux-musl");
    fs::write(assets.path().join(format!("{ASSET}.sha256")), other).unwrap();
    let server = Server::serve(assets.path());
    let dest = tempfile::tempdir().unwrap();

    let out = run(installer(&server.url(), dest.path()), &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(err.contains("malformed checksum file"), "{err}");
    assert!(entries(dest.path()).is_empty());
}

#[test]
fn missing_checksum_file_installs_nothing() {
    let assets = release_assets();
    fs::remove_file(assets.path().join(format!("{ASSET}.sha256"))).unwrap();
    let server = Server::serve(assets.path());
    let dest = tempfile::tempdir().unwrap();

    let out = run(installer(&server.url(), dest.path()), &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(
        err.contains(&format!(
            "could not download `{}/{ASSET}.sha256`",
            server.url()
        )),
        "{err}"
    );
    assert!(entries(dest.path()).is_empty());
}

#[test]
fn unreachable_download_url_fails_naming_the_url() {
    // A port that was free a moment ago: nothing listens there, connections are refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}/releases");
    let dest = tempfile::tempdir().unwrap();

    let out = run(installer(&base, dest.path()), &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(
        err.contains(&format!("could not download `{base}/{ASSET}`")),
        "{err}"
    );
    assert!(
        err.contains("PIGSTY_DOWNLOAD_URL"),
        "the hint names the override: {err}"
    );
    assert!(entries(dest.path()).is_empty());
}

#[test]
fn unsupported_architecture_is_refused_before_downloading() {
    let assets = release_assets();
    let server = Server::serve(assets.path());
    let dest = tempfile::tempdir().unwrap();
    let mut cmd = installer(&server.url(), dest.path());
    cmd.env("PIGSTY_ARCH", "aarch64");

    let out = run(cmd, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(err.contains("unsupported architecture `aarch64`"), "{err}");
    assert!(
        err.contains(TARGET),
        "the error names what is supported: {err}"
    );
    assert!(
        server.requests().is_empty(),
        "downloaded anyway: {:?}",
        server.requests()
    );
    assert!(entries(dest.path()).is_empty());
}

#[test]
fn uncreatable_install_dir_fails_before_downloading() {
    let assets = release_assets();
    let server = Server::serve(assets.path());
    let scratch = tempfile::tempdir().unwrap();
    // Even root cannot create a directory below a regular file.
    fs::write(scratch.path().join("file"), "").unwrap();
    let dest = scratch.path().join("file/bin");

    let out = run(installer(&server.url(), &dest), &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(err.contains("cannot create install directory"), "{err}");
    assert!(err.contains("root"), "the hint mentions root: {err}");
    assert!(
        server.requests().is_empty(),
        "downloaded anyway: {:?}",
        server.requests()
    );
}

#[test]
fn missing_install_dir_is_created() {
    let assets = release_assets();
    let server = Server::serve(assets.path());
    let scratch = tempfile::tempdir().unwrap();
    let dest = scratch.path().join("opt/bin");

    let out = run(installer(&server.url(), &dest), &[]);
    assert!(out.status.success(), "install failed: {}", stderr(&out));
    assert!(dest.join("pigsty").is_file());
}

#[test]
fn wget_is_used_when_curl_is_missing() {
    if find_in_path("wget").is_none() {
        panic!("this test needs `wget` on PATH (apt-get install wget)");
    }
    let assets = release_assets();
    let server = Server::serve(assets.path());
    let dest = tempfile::tempdir().unwrap();
    let bin = path_without("curl");
    let mut cmd = installer(&server.url(), dest.path());
    cmd.env("PATH", bin.path());

    let out = run(cmd, &[]);
    assert!(
        out.status.success(),
        "install with wget failed: {}",
        stderr(&out)
    );
    assert_eq!(entries(dest.path()), vec!["pigsty"]);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn shasum_is_used_when_sha256sum_is_missing() {
    if find_in_path("shasum").is_none() {
        panic!("this test needs `shasum` on PATH (apt-get install perl)");
    }
    let assets = release_assets();
    let server = Server::serve(assets.path());
    let dest = tempfile::tempdir().unwrap();
    let bin = path_without("sha256sum");
    let mut cmd = installer(&server.url(), dest.path());
    cmd.env("PATH", bin.path());

    let out = run(cmd, &[]);
    assert!(
        out.status.success(),
        "install with shasum failed: {}",
        stderr(&out)
    );
    assert_eq!(entries(dest.path()), vec!["pigsty"]);

    // ...and shasum still catches a tampered binary.
    fs::write(assets.path().join(ASSET), "#!/bin/sh\necho evil\n").unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut cmd = installer(&server.url(), scratch.path());
    cmd.env("PATH", bin.path());
    let out = run(cmd, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("checksum mismatch"),
        "{}",
        stderr(&out)
    );
    assert!(entries(scratch.path()).is_empty());
}

#[test]
fn truncated_download_runs_nothing() {
    let assets = release_assets();
    let server = Server::serve(assets.path());
    let dest = tempfile::tempdir().unwrap();
    let script = fs::read_to_string(SCRIPT).unwrap();
    let lines: Vec<&str> = script.lines().collect();
    assert_eq!(
        lines.last(),
        Some(&"main \"$@\""),
        "`main \"$@\"` must be the last line"
    );

    // Every proper prefix, cut at a line boundary, as a dropped connection would leave it.
    for n in 0..lines.len() {
        let prefix = lines[..n].join("\n") + "\n";
        let _ = run_piped(
            installer(&server.url(), dest.path()),
            prefix.as_bytes(),
            &[],
        );
    }
    assert!(
        server.requests().is_empty(),
        "a truncated script downloaded: {:?}",
        server.requests()
    );
    assert!(
        entries(dest.path()).is_empty(),
        "a truncated script installed: {:?}",
        entries(dest.path())
    );
}

#[test]
fn help_prints_usage_and_does_nothing() {
    let assets = release_assets();
    let server = Server::serve(assets.path());
    let dest = tempfile::tempdir().unwrap();
    for flag in ["-h", "--help"] {
        let out = run(installer(&server.url(), dest.path()), &[flag]);
        assert!(out.status.success(), "{flag}: {}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("usage: install.sh"), "{text}");
        assert!(text.contains("PIGSTY_INSTALL_DIR"), "{text}");
        assert!(
            text.contains("https://github.com/pigsty-rs/pigsty/releases/latest/download"),
            "{text}"
        );
    }
    assert!(server.requests().is_empty());
    assert!(entries(dest.path()).is_empty());
}

#[test]
fn unknown_option_is_a_usage_error() {
    let dest = tempfile::tempdir().unwrap();
    let out = run(
        installer("http://127.0.0.1:9", dest.path()),
        &["--frobnicate"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown option `--frobnicate`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn script_is_posix_sh() {
    let out = Command::new(shell())
        .arg("-n")
        .arg(SCRIPT)
        .output()
        .unwrap();
    assert!(out.status.success(), "sh -n: {}", stderr(&out));
    // shellcheck is optional on developer machines; when present it must be clean.
    if find_in_path("shellcheck").is_some() {
        let out = Command::new("shellcheck")
            .args(["-s", "sh", SCRIPT])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "shellcheck -s sh:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
