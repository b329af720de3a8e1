//! What a new user meets first: the README's commands, messages that name the real problem,
//! machine-readable output, completions and the man page.

use std::time::{Duration, Instant};

use crate::{Exits, glc, glc_process, stderr};

/// Runs `cmd` to its end or fails the test once `limit` has passed.
fn run_within(cmd: &mut std::process::Command, limit: Duration) -> std::process::Output {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start glc");
    let started = Instant::now();
    // Drain the pipes on their own threads so a full pipe cannot stall the child.
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut buf).map(|_| buf)
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut buf).map(|_| buf)
    });
    loop {
        if let Some(status) = child.try_wait().expect("wait for glc") {
            return std::process::Output {
                status,
                stdout: out.join().expect("stdout reader").expect("read stdout"),
                stderr: err.join().expect("stderr reader").expect("read stderr"),
            };
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("glc did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn thirty_thousand_errors_of_a_large_file_are_rendered_in_linear_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(
        "release \"1.0\" {\n    commit \"75df9f40a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6\"\n    created \"2025-03-14T08:00:00Z\"\n",
    );
    for _ in 0..30_000 {
        text.push_str("    vars { a \"b\" }\n");
    }
    text.push_str("}\n");
    let file = dir.path().join("release.kdl");
    std::fs::write(&file, &text).unwrap();
    for format in ["human", "json"] {
        let output = run_within(
            glc_process()
                .args(["check", "--message-format", format])
                .arg(&file),
            Duration::from_secs(20),
        );
        assert_eq!(output.status.code(), Some(1), "{format}");
        let stderr = stderr(&output);
        let repeated = stderr
            .matches("`vars` may appear only once in `release`")
            .count();
        assert_eq!(repeated, 29_999, "{format}");
        if format == "json" {
            // The last error is placed where it is, not near the top.
            let last = stderr.lines().rfind(|l| l.contains("\"code\"")).unwrap();
            let last: serde_json::Value = serde_json::from_str(last).unwrap();
            assert_eq!(last["line"], 30_003, "{last}");
        } else {
            assert!(
                stderr.contains("30003 │     vars { a \"b\" }"),
                "{}",
                &stderr[stderr.len() - 2000..]
            );
        }
    }
}
