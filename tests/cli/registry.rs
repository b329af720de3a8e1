//! Debian's docker-registry for tests, on a free port of 127.0.0.1, and the check that a
//! tool a test needs is there (outside CI a missing tool skips the test loudly; in CI it
//! fails it).

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn tool(name: &str) -> bool {
    if Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
    {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{name} is missing; .ci/run installs it"
    );
    eprintln!(
        "SKIP: {name} is not installed (apt-get install {name}); this interop test did not run"
    );
    false
}

/// docker-registry on a free port of 127.0.0.1 with its own storage and `extra` config; its
/// log (level info: one line per request) in `log`. Stopped on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Registry {
    pub fn start(extra: &str) -> Option<Self> {
        if !tool("docker-registry") {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{extra}",
                dir.path().join("storage").display()
            ),
        )
        .expect("config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let registry = Self { child, port, dir };
        // A bound for a loaded machine, not a timing: it listens within a second when idle.
        let deadline = Instant::now() + Duration::from_mins(1);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(registry);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("docker-registry did not listen on 127.0.0.1:{port}");
    }

    /// A registry with htpasswd basic auth: user `user` with `password` (bcrypt, by apache2's
    /// `htpasswd`), the file in `dir`. `None` where a tool is missing outside CI.
    pub fn with_htpasswd(dir: &std::path::Path, user: &str, password: &str) -> Option<Self> {
        if !tool("htpasswd") {
            return None;
        }
        let htpasswd = dir.join("htpasswd");
        let line = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .output()
            .expect("htpasswd");
        std::fs::write(&htpasswd, &line.stdout).expect("htpasswd file");
        Self::start(&format!(
            "auth:\n  htpasswd:\n    realm: glc-test\n    path: {}\n",
            htpasswd.display()
        ))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's storage directory (`storage.filesystem.rootdirectory`).
    pub fn storage(&self) -> std::path::PathBuf {
        self.dir.path().join("storage")
    }

    /// Requests of `method` the registry has logged so far.
    pub fn logged(&self, method: &str) -> usize {
        let log = std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default();
        let needle = format!("http.request.method={method} ");
        log.lines()
            .filter(|l| l.contains("response completed") && l.contains(&needle))
            .count()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}
