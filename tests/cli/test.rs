//! The one way a test sets up a directory, runs `glc` in it and checks the exit code and
//! what it printed, after casey/just's `Test`:
//!
//! ```ignore
//! let ran = Test::new().release(KDL).args(["build", "release.kdl", "-o", "out"]).run();
//! let again = ran.test().args(["verify", "out"]).status(1).stderr_contains("…").run();
//! ```
//!
//! glc runs in the test's directory, so relative arguments name its files; `path` gives the
//! absolute path where a message shows one. Expected output is exact text, a part of it, or a
//! snapshot file compared by `assert_matches_file` (`GLC_BLESS=1` rewrites it).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::rc::Rc;

use serde_json::Value;

use crate::{assert_matches_file, repo, stderr, stdout};

/// `setpriv` arguments that take from root the capabilities to read and search any file.
const DROP_DAC: [&str; 3] = [
    "--inh-caps=-dac_override,-dac_read_search",
    "--bounding-set=-dac_override,-dac_read_search",
    "--",
];

/// Seconds a bounded run may take, and bytes of address space it may map.
const SECONDS: &str = "60";
const ADDRESS_SPACE: u64 = 1 << 30;

#[derive(Clone)]
enum Expected {
    Exactly(String),
    Contains(String),
    Snapshot(PathBuf),
}

impl Expected {
    fn check(&self, stream: &str, actual: &str, args: &[OsString]) {
        match self {
            Self::Exactly(wanted) => assert!(
                actual == wanted,
                "glc {args:?}: {stream} differs\n--- expected\n{wanted}\n--- actual\n{actual}"
            ),
            Self::Contains(part) => assert!(
                actual.contains(part.as_str()),
                "glc {args:?}: {stream} lacks {part:?}:\n{actual}"
            ),
            Self::Snapshot(file) => assert_matches_file(actual, file),
        }
    }
}

#[must_use]
#[derive(Clone)]
pub struct Test {
    dir: Rc<tempfile::TempDir>,
    args: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
    status: i32,
    stdout: Vec<Expected>,
    stderr: Vec<Expected>,
    bounded: bool,
    no_host_names: bool,
    unprivileged: bool,
    cpu_seconds: Option<u32>,
    current_dir: Option<PathBuf>,
}

impl Default for Test {
    fn default() -> Self {
        Self::new()
    }
}

impl Test {
    /// A fresh, empty temporary directory.
    pub fn new() -> Self {
        Self::within(Rc::new(tempfile::tempdir().expect("tempdir")))
    }

    fn within(dir: Rc<tempfile::TempDir>) -> Self {
        Self {
            dir,
            args: Vec::new(),
            env: Vec::new(),
            status: 0,
            stdout: Vec::new(),
            stderr: Vec::new(),
            bounded: false,
            no_host_names: false,
            unprivileged: false,
            cpu_seconds: None,
            current_dir: None,
        }
    }

    /// Another run in the same directory.
    pub fn test(&self) -> Test {
        Test::within(Rc::clone(&self.dir))
    }

    /// The test's directory, where glc runs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `relative` inside the test's directory.
    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes `release.kdl`.
    pub fn release(self, text: &str) -> Self {
        self.file("release.kdl", text)
    }

    /// Copies the repository's top-level release and its artifacts into `release/`.
    pub fn top_level(self) -> Self {
        copy_release(&self.path("release"));
        self
    }

    /// Writes `relative`, making its parents.
    pub fn file(self, relative: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> Self {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// The exit code the run must end with; 0 unless set.
    pub fn status(mut self, code: i32) -> Self {
        self.status = code;
        self
    }

    pub fn stdout(mut self, exactly: impl Into<String>) -> Self {
        self.stdout.push(Expected::Exactly(exactly.into()));
        self
    }

    pub fn stderr(mut self, exactly: impl Into<String>) -> Self {
        self.stderr.push(Expected::Exactly(exactly.into()));
        self
    }

    pub fn stdout_contains(mut self, part: impl Into<String>) -> Self {
        self.stdout.push(Expected::Contains(part.into()));
        self
    }

    pub fn stderr_contains(mut self, part: impl Into<String>) -> Self {
        self.stderr.push(Expected::Contains(part.into()));
        self
    }

    /// stdout equals the snapshot `file` (relative to the repository).
    pub fn stdout_matches(mut self, file: impl AsRef<Path>) -> Self {
        self.stdout.push(Expected::Snapshot(repo().join(file)));
        self
    }

    /// stderr equals the snapshot `file` (relative to the repository).
    pub fn stderr_matches(mut self, file: impl AsRef<Path>) -> Self {
        self.stderr.push(Expected::Snapshot(repo().join(file)));
        self
    }

    /// Runs glc in `dir` rather than in the test's directory.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.current_dir = Some(dir.as_ref().to_owned());
        self
    }

    /// Runs under `timeout` and an address-space limit (`prlimit --as`), so that a hang or a
    /// runaway allocation fails the test instead of the machine.
    pub fn bounded(mut self) -> Self {
        self.bounded = true;
        self
    }

    /// Bounds the CPU time glc may use (`prlimit --cpu`; killed past it): a bound on work done
    /// that other processes on the machine do not eat into, as they do into wall-clock time.
    pub fn cpu_seconds(mut self, seconds: u32) -> Self {
        self.cpu_seconds = Some(seconds);
        self
    }

    /// Runs glc, if the tests run as root, without the capabilities by which root reads and
    /// searches any file (`setpriv`): permission bits then hold for it as for anyone. It stays
    /// root, so it reaches the binary wherever the checkout is (a user switch would need
    /// every directory above it to be open to that user).
    pub fn unprivileged(mut self) -> Self {
        self.unprivileged = rustix::process::geteuid().is_root();
        self
    }

    /// Runs glc where no host name has an address and no network exists but loopback: in
    /// new user, mount and network namespaces (`unshare`), with host names looked up in
    /// `/etc/hosts` only (a `nsswitch.conf` of `hosts: files` mounted over the system's).
    /// No lookup leaves the machine. `None` (the test skips loudly) where the kernel allows
    /// no namespaces, which fails the test in CI unless `.ci/run` found so and said it.
    pub fn no_host_names(mut self) -> Option<Self> {
        std::fs::write(self.path(".nsswitch.conf"), "hosts: files\n").expect("nsswitch");
        std::fs::write(self.path(".hosts"), "127.0.0.1 localhost\n").expect("hosts");
        // The probe is the wrapper itself, running `true`.
        self.no_host_names = true;
        let works = self
            .wrapped(OsStr::new("true"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !works {
            // .ci/run says so where the kernel allows none.
            assert!(
                std::env::var_os("CI").is_none() || std::env::var_os("GLC_NO_NAMESPACES").is_some(),
                "unshare cannot make user, mount and network namespaces in CI"
            );
            eprintln!("SKIP: unshare cannot make namespaces here; this test did not run");
            return None;
        }
        Some(self)
    }

    /// `program` as this test runs it: in the namespaces of [`Test::no_host_names`], under
    /// the bounds of [`Test::bounded`], or as it is.
    fn wrapped(&self, program: &OsStr) -> Command {
        let mut argv: Vec<OsString> = Vec::new();
        if self.no_host_names {
            argv.extend(
                [
                    "unshare",
                    "--user",
                    "--map-root-user",
                    "--mount",
                    "--net",
                    "sh",
                    "-c",
                ]
                .map(OsString::from),
            );
            argv.push(
                "mount --bind \"$1\" /etc/nsswitch.conf && mount --bind \"$2\" /etc/hosts \
                 && shift 2 && exec \"$@\""
                    .into(),
            );
            argv.push("sh".into());
            argv.push(self.path(".nsswitch.conf").into());
            argv.push(self.path(".hosts").into());
        }
        if self.bounded {
            argv.extend(["timeout", "--kill-after=5", SECONDS].map(OsString::from));
        }
        if self.bounded || self.cpu_seconds.is_some() {
            argv.push("prlimit".into());
            if self.bounded {
                argv.push(format!("--as={ADDRESS_SPACE}").into());
            }
            if let Some(seconds) = self.cpu_seconds {
                argv.push(format!("--cpu={seconds}").into());
            }
            argv.push("--".into());
        }
        if self.unprivileged {
            argv.push("setpriv".into());
            argv.extend(DROP_DAC.map(OsString::from));
        }
        argv.push(program.to_owned());
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]);
        command
    }

    /// The command, not run: for tests that spawn, kill or race glc.
    pub fn command(&self) -> Command {
        let glc = assert_cmd::cargo::cargo_bin("glc");
        let mut command = self.wrapped(glc.as_os_str());
        command
            .args(&self.args)
            .current_dir(self.current_dir.as_deref().unwrap_or(self.dir.path()))
            // What glc keeps between runs (push's upload sessions) stays in the test.
            .env("XDG_STATE_HOME", self.path(".state"))
            .env("NO_COLOR", "1")
            .env_remove("SOURCE_DATE_EPOCH")
            // Credentials of the machine running the tests are none of a test's business.
            .env_remove("GLC_REGISTRY_USERNAME")
            .env_remove("GLC_REGISTRY_PASSWORD")
            .env_remove("GLC_REGISTRY_HOST");
        for (key, value) in &self.env {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        command
    }

    /// What a run of `command()` gave, to read as a finished run.
    pub fn ran(&self, output: Output) -> Ran {
        Ran {
            dir: Rc::clone(&self.dir),
            output,
        }
    }

    /// Runs glc to its end and checks the exit code and the output.
    pub fn run(self) -> Ran {
        let output = self
            .command()
            .stdin(Stdio::null())
            .output()
            .expect("run glc");
        let args = &self.args;
        if self.bounded {
            assert_ne!(
                output.status.code(),
                Some(124),
                "glc {args:?} did not finish in {SECONDS} s"
            );
        }
        assert_eq!(
            output.status.code(),
            Some(self.status),
            "glc {args:?} exited with {:?} (None: killed), not {}:\n{}",
            output.status,
            self.status,
            stderr(&output)
        );
        for expected in &self.stdout {
            expected.check("stdout", &stdout(&output), args);
        }
        for expected in &self.stderr {
            expected.check("stderr", &stderr(&output), args);
        }
        Ran {
            dir: self.dir,
            output,
        }
    }
}

/// A finished run, and its directory for what comes next.
pub struct Ran {
    dir: Rc<tempfile::TempDir>,
    pub output: Output,
}

impl Ran {
    /// Another run in the same directory.
    pub fn test(&self) -> Test {
        Test::within(Rc::clone(&self.dir))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn stdout(&self) -> String {
        stdout(&self.output)
    }

    pub fn stderr(&self) -> String {
        stderr(&self.output)
    }

    /// stderr of `--message-format=json`: one diagnostic a line.
    pub fn json_errors(&self) -> Vec<Value> {
        self.stderr()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// The first line of stderr, a diagnostic of `--message-format=json`.
    pub fn json_error(&self) -> Value {
        let stderr = self.stderr();
        let line = stderr
            .lines()
            .next()
            .unwrap_or_else(|| panic!("no error printed"));
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// The layout at `relative`, read back.
    pub fn layout(&self, relative: impl AsRef<Path>) -> Layout {
        Layout::open(&self.path(relative))
    }
}

/// A layout, read back.
pub struct Layout {
    pub root: PathBuf,
    pub index: Value,
}

impl Layout {
    pub fn open(root: &Path) -> Self {
        let index =
            serde_json::from_slice(&std::fs::read(root.join("index.json")).expect("index.json"))
                .expect("json");
        Self {
            root: root.to_path_buf(),
            index,
        }
    }

    pub fn blob(&self, digest: &str) -> Vec<u8> {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        std::fs::read(self.root.join("blobs/sha256").join(hex))
            .unwrap_or_else(|e| panic!("blob {digest}: {e}"))
    }

    pub fn json(&self, descriptor: &Value) -> Value {
        serde_json::from_slice(&self.blob(descriptor["digest"].as_str().expect("digest")))
            .expect("json blob")
    }

    pub fn tag(&self, tag: &str) -> Value {
        self.entries()
            .into_iter()
            .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag)
            .unwrap_or_else(|| panic!("no tag {tag}"))
    }

    /// `index.json`'s tags: tag → digest.
    pub fn tags(&self) -> BTreeMap<String, String> {
        self.entries()
            .iter()
            .filter_map(|m| {
                Some((
                    m["annotations"]["org.opencontainers.image.ref.name"]
                        .as_str()?
                        .to_owned(),
                    m["digest"].as_str()?.to_owned(),
                ))
            })
            .collect()
    }

    /// The tags of the entries of `artifact_type`, in the order of `index.json`.
    pub fn tags_of(&self, artifact_type: &str) -> Vec<String> {
        self.entries()
            .iter()
            .filter(|d| d["artifactType"] == artifact_type)
            .filter_map(|d| {
                Some(
                    d["annotations"]["org.opencontainers.image.ref.name"]
                        .as_str()?
                        .to_owned(),
                )
            })
            .collect()
    }

    pub fn entries(&self) -> Vec<Value> {
        self.index["manifests"]
            .as_array()
            .expect("manifests")
            .clone()
    }
}

/// A release file of version 1 with the given children of `release`, after its commit and
/// created.
pub fn release_kdl(body: &str) -> String {
    format!(
        "release \"1\" {{\n    commit \"75df9f40a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6\"\n    created \"2025-03-14T08:00:00Z\"\n{body}}}\n"
    )
}

/// Every file of a tree, by relative path, with its bytes.
pub fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.expect("walk"))
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let relative = e
                .path()
                .strip_prefix(root)
                .expect("inside")
                .to_string_lossy()
                .into_owned();
            (relative, std::fs::read(e.path()).expect("read"))
        })
        .collect()
}

/// A copy of the top-level release and its artifacts in `to`; returns its release file.
pub fn copy_release(to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).expect("mkdir");
    std::fs::copy(repo().join("release.kdl"), to.join("release.kdl")).expect("copy");
    copy_dir(&repo().join("artifacts"), &to.join("artifacts"));
    to.join("release.kdl")
}

pub fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk");
        let target = to.join(entry.path().strip_prefix(from).expect("inside"));
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// `index.json` of the layout at `layout`, edited by `edit` and written back.
pub fn rewrite_index(layout: &Path, edit: impl FnOnce(&mut Value)) {
    let mut index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("read"))
            .expect("json");
    edit(&mut index);
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).expect("json"),
    )
    .expect("write");
}

/// A fifo at `path`, in place of whatever is there.
pub fn mkfifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}
