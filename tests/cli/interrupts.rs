//! Ctrl-C and `kill`: a build, push or pull stopped by SIGINT or SIGTERM half-way exits 130
//! (143), says so, leaves no staging and keeps what the next run resumes from. Each signal is
//! sent at an observable moment (staging holding bytes, an upload session saved, a download
//! under way), never after a fixed sleep.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};
use serde_json::Value;

use crate::Test;
use crate::pull::assert_same_tree;
use crate::push::{
    assert_tags_in, big_release, layer_digests, push_json, spawn_json, summary, wait_until,
};
use crate::registry::Registry;

const MESSAGE: &str = "interrupted; run the same command again to resume";

/// `glc ARGS…` spawned in `dir` with human messages, its stderr into `stderr_to`.
fn spawn_human(dir: &Test, args: &[&std::ffi::OsStr], stderr_to: &Path) -> Child {
    dir.test()
        .args(args)
        .command()
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr_to).expect("stderr file"))
        .spawn()
        .expect("glc")
}

fn send(child: &Child, signal: Signal) {
    kill_process(Pid::from_child(child), signal).expect("send the signal");
}

/// Stops `child` (SIGSTOP) and waits until the kernel says it is stopped (or gone).
fn freeze(child: &Child) {
    send(child, Signal::STOP);
    let stat = format!("/proc/{}/stat", child.id());
    loop {
        let text = std::fs::read_to_string(&stat).unwrap_or_default();
        // The state follows the command name in parentheses.
        let state = text.rsplit(')').next().unwrap_or_default().trim_start();
        if text.is_empty() || state.starts_with(['T', 't', 'Z']) {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Stops `child` at the first moment `ready` says so, checked while it stands still, so
/// that it cannot finish between the look and the signal; it stays stopped ([`thaw`]).
/// Fails the test if `child` ends first or `deadline` passes.
fn stop_when(
    child: &mut Child,
    log: &Path,
    deadline: Instant,
    what: &str,
    ready: impl Fn() -> bool,
) {
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            panic!(
                "glc ended ({status}) before {what}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "{what} did not happen in time");
        freeze(child);
        if ready() {
            return;
        }
        send(child, Signal::CONT);
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends `signal` to a child that [`stop_when`] stopped, and lets it go on to meet it.
fn signal_stopped(child: &Child, signal: Signal) {
    send(child, signal);
    send(child, Signal::CONT);
}

/// Bytes of the files under `dir`, at any depth (0 if it is not there).
fn bytes_under(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// The staging directories of builds into `out` (`.out.glc-tmp-<pid>`) beside it.
fn staging(out: &Path) -> Vec<PathBuf> {
    let prefix = format!(
        ".{}.glc-tmp-",
        out.file_name().expect("name").to_string_lossy()
    );
    std::fs::read_dir(out.parent().expect("parent"))
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        })
        .collect()
}

/// The last line of `log`, as JSON.
fn last_json(log: &Path) -> Value {
    let text = std::fs::read_to_string(log).expect("stderr");
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: the last line of\n{text}"))
}

#[test]
fn a_build_stopped_by_sigint_or_sigterm_leaves_no_staging_and_the_previous_layout() {
    let deadline = Instant::now() + Duration::from_mins(4);
    let dir = Test::new();
    // Built once whole: the layout a stopped build must leave as it is.
    let layout = big_release(dir.dir());
    let out = layout.root.clone();
    let index = std::fs::read(out.join("index.json")).expect("index.json");
    let log = dir.path("stderr");
    // Without the cache every input is read and copied again: 194 MiB into staging.
    let args: [&std::ffi::OsStr; 5] = [
        "build".as_ref(),
        "release.kdl".as_ref(),
        "-o".as_ref(),
        out.as_ref(),
        "--no-cache".as_ref(),
    ];
    // Half-way: a MiB copied, and most still to copy.
    let copying = || {
        let staged: u64 = staging(&out).iter().map(|s| bytes_under(s)).sum();
        (1 << 20..100 << 20).contains(&staged)
    };

    let mut build = spawn_human(&dir, &args, &log);
    stop_when(&mut build, &log, deadline, "staging held a MiB", copying);
    signal_stopped(&build, Signal::INT);
    let status = wait_until(&mut build, deadline);
    let text = std::fs::read_to_string(&log).expect("stderr");
    assert_eq!(status.code(), Some(130), "{status}: {text}");
    assert_eq!(
        text.lines().last(),
        Some(format!("glc: {MESSAGE}").as_str()),
        "{text}"
    );
    assert_eq!(staging(&out), Vec::<PathBuf>::new(), "staging is left");
    assert!(!dir.path(".out.glc-lock").exists(), "the lock is left");
    assert_eq!(
        std::fs::read(out.join("index.json")).expect("index.json"),
        index
    );
    dir.test().arg("verify").arg(&out).run();

    // SIGTERM, as `kill` and service managers send it; in JSON, a JSON line.
    let mut build = spawn_json(&dir, args, &log);
    stop_when(&mut build, &log, deadline, "staging held a MiB", copying);
    signal_stopped(&build, Signal::TERM);
    let status = wait_until(&mut build, deadline);
    let said = std::fs::read_to_string(&log).expect("stderr");
    assert_eq!(status.code(), Some(143), "{status}: {said}");
    let last = last_json(&log);
    assert_eq!(last["code"], "glc::interrupted", "{last}");
    assert_eq!(last["message"], MESSAGE, "{last}");
    assert_eq!(staging(&out), Vec::<PathBuf>::new(), "staging is left");
    assert_eq!(
        std::fs::read(out.join("index.json")).expect("index.json"),
        index
    );
    dir.test().arg("verify").arg(&out).run();
}

#[test]
fn a_push_stopped_by_sigint_keeps_its_upload_session_and_the_rerun_resumes_it() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let deadline = Instant::now() + Duration::from_mins(4);
    let dir = Test::new();
    let layout = big_release(dir.dir());
    let chunk: u64 = 4 << 20;
    let args = [
        "push".to_owned(),
        "--jobs".to_owned(),
        "1".to_owned(),
        "--chunk-size".to_owned(),
        chunk.to_string(),
        layout.root.display().to_string(),
        format!("{}/gardenlinux", registry.host()),
    ];
    let log = dir.path("stderr");
    // A session is saved once the registry took the first chunk of a big blob.
    let sessions = dir.path(".state/glc/uploads");
    let saved = || std::fs::read_dir(&sessions).is_ok_and(|mut d| d.next().is_some());

    let mut push = spawn_json(&dir, &args, &log);
    stop_when(
        &mut push,
        &log,
        deadline,
        "an upload session was saved",
        saved,
    );
    signal_stopped(&push, Signal::INT);
    let status = wait_until(&mut push, deadline);
    let said = std::fs::read_to_string(&log).expect("stderr");
    assert_eq!(status.code(), Some(130), "{status}: {said}");
    let last = last_json(&log);
    assert_eq!(last["code"], "glc::interrupted", "{last}");
    assert_eq!(last["message"], MESSAGE, "{last}");
    assert!(saved(), "the upload session was not kept");

    let mut rerun = spawn_json(&dir, &args, &log);
    assert_eq!(wait_until(&mut rerun, deadline).code(), Some(0));
    let summary = summary(&std::fs::read_to_string(&log).expect("stderr"));
    assert_eq!(summary["uploads_resumed"], 1, "{summary}");
    assert!(
        summary["bytes_resumed"].as_u64().unwrap() >= chunk,
        "the chunks the registry took are not sent again: {summary}"
    );
    assert_tags_in(&registry, "gardenlinux", &layout, "after the resumed push");
}

#[test]
fn a_pull_stopped_by_sigint_keeps_its_downloads_and_the_rerun_fetches_only_the_rest() {
    let Some(registry) = Registry::start("") else {
        return;
    };
    let deadline = Instant::now() + Duration::from_mins(4);
    let dir = Test::new();
    let layout = big_release(dir.dir());
    push_json(&layout.root, &format!("{}/big", registry.host()), &[]);
    let blob_bytes: u64 = layer_digests(&layout)
        .iter()
        .map(|d| layout.blob(d).len() as u64)
        .sum();
    let out = dir.path("mirror");
    let downloads = dir.path(".mirror.glc-pull");
    let args = [
        "pull".to_owned(),
        "--jobs".to_owned(),
        "2".to_owned(),
        format!("{}/big:1877.3", registry.host()),
        "-o".to_owned(),
        out.display().to_string(),
    ];
    let log = dir.path("stderr");

    let mut pull = spawn_json(&dir, &args, &log);
    // Half-way: a MiB downloaded, and most still to come.
    let downloading = || (1 << 20..blob_bytes / 2).contains(&bytes_under(&downloads));
    stop_when(
        &mut pull,
        &log,
        deadline,
        "a MiB was downloaded",
        downloading,
    );
    signal_stopped(&pull, Signal::INT);
    let status = wait_until(&mut pull, deadline);
    let said = std::fs::read_to_string(&log).expect("stderr");
    assert_eq!(status.code(), Some(130), "{status}: {said}");
    let last = last_json(&log);
    assert_eq!(last["code"], "glc::interrupted", "{last}");
    assert!(!out.exists(), "a stopped pull wrote its layout");
    assert_eq!(staging(&out), Vec::<PathBuf>::new(), "staging is left");
    let kept = bytes_under(&downloads);
    assert!(
        kept >= 1 << 20 && kept < blob_bytes,
        "{kept} of {blob_bytes} bytes kept"
    );

    let mut rerun = spawn_json(&dir, &args, &log);
    assert_eq!(wait_until(&mut rerun, deadline).code(), Some(0));
    let summary = summary(&std::fs::read_to_string(&log).expect("stderr"));
    assert_eq!(
        summary["bytes_downloaded"].as_u64(),
        Some(blob_bytes - kept),
        "the rerun downloads what was not kept, no byte twice: {summary}"
    );
    assert_same_tree(&layout.root, &out);
    assert!(
        !downloads.exists(),
        "the downloads stay after the pull is done"
    );
}

#[test]
fn a_build_waiting_for_the_lock_stops_on_sigint() {
    let deadline = Instant::now() + Duration::from_mins(2);
    let dir = Test::new();
    let release = crate::build::copy_release(&dir.path("r"));
    // Another build holds the lock, and keeps it for as long as the test runs.
    let lock = std::fs::File::create(dir.path(".out.glc-lock")).expect("lock file");
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        .expect("take the lock");
    std::fs::write(dir.path(".out.glc-lock"), "4242\n").expect("holder");
    let log = dir.path("stderr");
    let args: [&std::ffi::OsStr; 4] = [
        "build".as_ref(),
        release.as_ref(),
        "-o".as_ref(),
        "out".as_ref(),
    ];
    let mut build = spawn_human(&dir, &args, &log);
    let waiting =
        || std::fs::read_to_string(&log).is_ok_and(|t| t.contains("waiting for the build"));
    stop_when(
        &mut build,
        &log,
        deadline,
        "glc waited for the lock",
        waiting,
    );
    signal_stopped(&build, Signal::INT);
    let status = wait_until(&mut build, deadline);
    let text = std::fs::read_to_string(&log).expect("stderr");
    assert_eq!(status.code(), Some(130), "{status}: {text}");
    assert_eq!(
        text,
        format!("glc: waiting for the build (pid 4242) that is writing out\nglc: {MESSAGE}\n")
    );
    assert!(
        !dir.path("out").exists(),
        "a build that never had the lock wrote"
    );
    drop(lock);
}
