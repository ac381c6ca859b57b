//! Running programs: argv only, optional stdin, a timeout, captured output. Errors
//! carry the command, its exit code and the tail of its stderr. Arguments marked
//! secret are shown as `***` in every message.
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == 0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error("`{cmd}` could not start: {source}\nhint: is the program installed?")]
    Spawn { cmd: String, source: std::io::Error },
    #[error("`{cmd}` exited with code {code}: {tail}")]
    Failed {
        cmd: String,
        code: i32,
        tail: String,
    },
    #[error("`{cmd}` timed out after {secs}s")]
    Timeout { cmd: String, secs: u64 },
    #[error("`{cmd}`: {source}")]
    Io { cmd: String, source: std::io::Error },
}

/// `s` quoted for a POSIX shell (single quotes), for the few command lines that go
/// through one (sudo over SSH, a remote `sh -c`).
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A program to run. Build with [`Cmd::new`], then [`Cmd::run`] (any exit code is
/// returned) or [`Cmd::ok`] (non-zero is an error).
#[derive(Debug, Clone)]
pub struct Cmd {
    program: String,
    args: Vec<String>,
    secret_args: Vec<usize>,
    /// Shared, so a large input (the binary pigsty copies to many hosts) is held once.
    stdin: Option<std::sync::Arc<[u8]>>,
    env: Vec<(String, String)>,
    cwd: Option<String>,
    timeout: Duration,
}

#[cfg(test)]
thread_local! {
    static NO_COMMANDS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Tests: run `f` on this thread with every command refused (a panic naming it), to
/// prove that planning runs none.
#[cfg(test)]
pub fn without_commands<T>(f: impl FnOnce() -> T) -> T {
    NO_COMMANDS.with(|c| c.set(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    NO_COMMANDS.with(|c| c.set(false));
    r.unwrap_or_else(|e| std::panic::resume_unwind(e))
}

impl Cmd {
    pub fn new(program: impl Into<String>) -> Self {
        Cmd {
            program: program.into(),
            args: vec![],
            secret_args: vec![],
            stdin: None,
            env: vec![],
            cwd: None,
            timeout: Duration::from_secs(300),
        }
    }
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }
    pub fn args<I, S>(mut self, it: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(it.into_iter().map(Into::into));
        self
    }
    /// Data fed on stdin (never logged): the way to hand over secrets and SQL.
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into().into());
        self
    }
    /// Data fed on stdin, shared with other commands instead of copied.
    pub fn stdin_shared(mut self, data: std::sync::Arc<[u8]>) -> Self {
        self.stdin = Some(data);
        self
    }
    pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    /// The environment set on this command (names and values).
    pub fn envs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.env.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
    pub fn cwd(mut self, dir: impl Into<String>) -> Self {
        self.cwd = Some(dir.into());
        self
    }
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }
    /// Run as another user through `runuser -u USER --`.
    pub fn as_user(self, user: &str) -> Self {
        let mut c = Cmd::new("runuser")
            .args(["-u", user, "--"])
            .arg(self.program.clone());
        c.args.extend(self.args);
        c.stdin = self.stdin;
        c.env = self.env;
        c.cwd = self.cwd;
        c.timeout = self.timeout;
        c
    }

    /// Program and arguments (for spawning with other stdio).
    pub fn argv(&self) -> Vec<String> {
        let mut v = vec![self.program.clone()];
        v.extend(self.args.iter().cloned());
        v
    }

    /// The command line as shown in messages.
    pub fn display(&self) -> String {
        let mut s = self.program.clone();
        for (i, a) in self.args.iter().enumerate() {
            s.push(' ');
            if self.secret_args.contains(&i) {
                s.push_str("***");
            } else if a.contains(' ') || a.is_empty() {
                s.push_str(&format!("'{a}'"));
            } else {
                s.push_str(a);
            }
        }
        s
    }

    /// Run and return the output whatever the exit code.
    pub fn run(&self) -> Result<Output, CmdError> {
        #[cfg(test)]
        if NO_COMMANDS.with(|f| f.get()) {
            panic!("a command ran where none may: {}", self.display());
        }
        let mut c = Command::new(&self.program);
        c.args(&self.args)
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        if let Some(d) = &self.cwd {
            c.current_dir(d);
        }
        let mut child = c.spawn().map_err(|source| CmdError::Spawn {
            cmd: self.display(),
            source,
        })?;
        if let Some(data) = &self.stdin {
            if let Some(mut si) = child.stdin.take() {
                let data = std::sync::Arc::clone(data);
                std::thread::spawn(move || {
                    let _ = si.write_all(&data);
                });
            }
        }
        let mut so = child.stdout.take();
        let mut se = child.stderr.take();
        let to = std::thread::spawn(move || {
            let mut b = Vec::new();
            if let Some(s) = so.as_mut() {
                let _ = s.read_to_end(&mut b);
            }
            b
        });
        let te = std::thread::spawn(move || {
            let mut b = Vec::new();
            if let Some(s) = se.as_mut() {
                let _ = s.read_to_end(&mut b);
            }
            b
        });
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) => {
                    if start.elapsed() > self.timeout {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(CmdError::Timeout {
                            cmd: self.display(),
                            secs: self.timeout.as_secs(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(source) => {
                    return Err(CmdError::Io {
                        cmd: self.display(),
                        source,
                    })
                }
            }
        };
        let stdout = String::from_utf8_lossy(&to.join().unwrap_or_default()).into_owned();
        let stderr = String::from_utf8_lossy(&te.join().unwrap_or_default()).into_owned();
        let code = status.code().unwrap_or(-1);
        tracing::debug!(cmd = %self.display(), code, "ran");
        Ok(Output {
            code,
            stdout,
            stderr,
        })
    }

    /// Run and fail on a non-zero exit code, with the tail of stderr in the error.
    pub fn ok(&self) -> Result<Output, CmdError> {
        let out = self.run()?;
        if out.success() {
            Ok(out)
        } else {
            Err(CmdError::Failed {
                cmd: self.display(),
                code: out.code,
                tail: tail(&out.stderr, &out.stdout),
            })
        }
    }

    /// True when the command exits 0 (errors starting it count as false).
    pub fn succeeds(&self) -> bool {
        self.run().map(|o| o.success()).unwrap_or(false)
    }
}

/// Last lines of stderr (or stdout when stderr is empty), for error messages.
pub fn tail(stderr: &str, stdout: &str) -> String {
    let src = if stderr.trim().is_empty() {
        stdout
    } else {
        stderr
    };
    let lines: Vec<&str> = src.trim_end().lines().collect();
    let n = lines.len();
    let t = lines[n.saturating_sub(8)..].join("\n");
    if t.is_empty() {
        "(no output)".into()
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_command_carries_code_and_stderr_tail() {
        let e = Cmd::new("sh")
            .args(["-c", "echo boom >&2; exit 7"])
            .ok()
            .unwrap_err();
        let s = e.to_string();
        assert!(s.contains("code 7"), "{s}");
        assert!(s.contains("boom"), "{s}");
    }

    #[test]
    fn stdin_reaches_the_program() {
        let o = Cmd::new("cat").stdin("hello").ok().unwrap();
        assert_eq!(o.stdout, "hello");
    }

    #[test]
    fn timeout_kills_a_slow_program() {
        let e = Cmd::new("sleep")
            .arg("5")
            .timeout(Duration::from_millis(200))
            .run()
            .unwrap_err();
        assert!(matches!(e, CmdError::Timeout { .. }));
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let e = Cmd::new("/nonexistent/prog").run().unwrap_err();
        assert!(matches!(e, CmdError::Spawn { .. }));
    }
}
