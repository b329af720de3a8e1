//! What a new user meets first: the README's commands, messages that name the real problem,
//! machine-readable output, completions and the man page.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::{Test, stderr};

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
    let dir = Test::new();
    let mut text = String::from(
        "release \"1.0\" {\n    commit \"75df9f40a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6\"\n    created \"2025-03-14T08:00:00Z\"\n",
    );
    for _ in 0..30_000 {
        text.push_str("    vars { a \"b\" }\n");
    }
    text.push_str("}\n");
    let file = dir.path("release.kdl");
    std::fs::write(&file, &text).unwrap();
    for format in ["human", "json"] {
        let output = run_within(
            Test::new()
                // About 5 s of CPU in a debug build, against minutes when each error scanned
                // the file from its top: bounded in CPU time, which a busy machine does not
                // stretch as it stretches the wall clock.
                .cpu_seconds(60)
                .command()
                .args(["check", "--message-format", format])
                .arg(&file),
            // Only against a hang.
            Duration::from_mins(10),
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

#[test]
fn fmt_check_prints_a_unified_diff_of_what_it_would_change() {
    let dir = Test::new();
    let file = dir.path("r.kdl");
    std::fs::write(&file, "a {\n  b 1\n    c 2\n}\n").unwrap();
    let output = dir.test().args(["fmt", "--check", "r.kdl"]).status(1).run();
    assert_eq!(
        output.stdout(),
        "--- r.kdl\n+++ r.kdl (formatted)\n@@ -1,4 +1,4 @@\n a {\n-  b 1\n+    b 1\n     c 2\n }\n"
    );
    assert!(output.stderr().contains("r.kdl is not formatted"));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "a {\n  b 1\n    c 2\n}\n"
    );
}

#[test]
fn fmt_keeps_crlf_unless_asked_and_reindents_slash_dashed_nodes() {
    let dir = Test::new();
    let file = dir.path("r.kdl");
    std::fs::write(&file, "a {\r\n/-b \"y\"\r\n  /- c {\r\n d 1\r\n }\r\n}\r\n").unwrap();
    Test::new().arg("fmt").arg(&file).run();
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "a {\r\n    /-b \"y\"\r\n    /- c {\r\n        d 1\r\n    }\r\n}\r\n"
    );
    Test::new()
        .args(["fmt", "--line-endings", "lf"])
        .arg(&file)
        .run();
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "a {\n    /-b \"y\"\n    /- c {\n        d 1\n    }\n}\n"
    );
}

#[test]
fn fmt_writes_through_a_symbolic_link_to_its_target() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Test::new();
    std::fs::create_dir(dir.path("real")).unwrap();
    let target = dir.path("real/release.kdl");
    std::fs::write(&target, "a {\n  b 1\n}\n").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = dir.path("link.kdl");
    std::os::unix::fs::symlink("real/release.kdl", &link).unwrap();
    Test::new().arg("fmt").arg(&link).run();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link is still a link"
    );
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("real/release.kdl")
    );
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "a {\n    b 1\n}\n"
    );
    assert_eq!(
        std::fs::metadata(&target).unwrap().permissions().mode() & 0o7777,
        0o640
    );
    // Nothing is left behind beside the link or the target.
    let mut names: Vec<_> = walkdir::WalkDir::new(dir.dir())
        .min_depth(1)
        .into_iter()
        .map(|e| {
            e.unwrap()
                .path()
                .strip_prefix(dir.dir())
                .unwrap()
                .to_owned()
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            Path::new("link.kdl"),
            Path::new("real"),
            Path::new("real/release.kdl")
        ]
    );
}

#[test]
fn completions_name_the_commands_and_options() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef glc"),
        ("fish", "complete -c glc"),
    ] {
        let output = Test::new().args(["completions", shell]).run();
        let script = output.stdout();
        assert!(script.contains(marker), "{shell}: {script}");
        for word in [
            "build",
            "merge",
            "verify",
            "inspect",
            "--message-format",
            "--digests",
        ] {
            // fish names a long option `-l name`.
            let word = match word.strip_prefix("--") {
                Some(long) if shell == "fish" => format!("-l {long}"),
                _ => word.to_owned(),
            };
            assert!(script.contains(&word), "{shell} completion lacks {word}");
        }
    }
    let output = Test::new().args(["completions", "tcsh"]).status(2).run();
    assert!(output.stderr().contains("invalid value 'tcsh'"));
}

/// Every `--flag` that `glc --help` and each command's `--help` show.
fn shown_flags() -> std::collections::BTreeSet<String> {
    let flags = |text: &str| -> Vec<String> {
        text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|w| w.starts_with("--") && w.len() > 2)
            .map(str::to_owned)
            .collect()
    };
    let mut shown: std::collections::BTreeSet<String> =
        flags(&Test::new().arg("--help").run().stdout())
            .into_iter()
            .collect();
    for command in [
        "check",
        "plan",
        "build",
        "merge",
        "sign",
        "verify",
        "inspect",
        "get",
        "fmt",
        "schema",
        "push",
        "pull",
        "completions",
        "man",
    ] {
        shown.extend(flags(&Test::new().args([command, "--help"]).run().stdout()));
    }
    shown
}

#[test]
fn completions_offer_no_flag_that_help_hides() {
    let shown = shown_flags();
    assert!(shown.contains("--jobs") && !shown.contains("--chunk-size"));
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = Test::new().args(["completions", shell]).run().stdout();
        assert!(
            !script.contains("chunk-size"),
            "{shell} offers --chunk-size"
        );
    }
    let bash = Test::new().args(["completions", "bash"]).run().stdout();
    let offered: std::collections::BTreeSet<&str> = bash
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .collect();
    assert!(offered.len() > 20, "{offered:?}");
    for flag in offered {
        assert!(
            shown.contains(flag),
            "bash offers {flag}, which no --help shows"
        );
    }
}

#[test]
fn the_man_page_is_roff_with_every_command_and_its_options() {
    let output = Test::new().arg("man").run();
    let page = output.stdout();
    assert!(page.contains("\n.TH GLC 1 "), "{page}");
    assert!(page.contains("\n.SH NAME\n"));
    for command in [
        "check", "plan", "build", "merge", "verify", "inspect", "fmt", "schema",
    ] {
        assert!(
            page.contains(&format!("\n.SH \"GLC {}\"\n", command.to_uppercase())),
            "no section for {command}"
        );
    }
    for option in [
        "\\-\\-digests",
        "\\-\\-only",
        "\\-\\-line\\-endings",
        "\\-\\-partial",
    ] {
        assert!(page.contains(option), "the page lacks {option}");
    }
    // After the commands: how it ends, what it reads from the environment and the disk, and
    // how it is used.
    let sections: Vec<&str> = page
        .lines()
        .filter_map(|l| l.strip_prefix(".SH "))
        .collect();
    assert_eq!(
        sections[sections.len() - 4..],
        ["\"EXIT STATUS\"", "ENVIRONMENT", "FILES", "EXAMPLES"],
        "{sections:?}"
    );
    let environment = &page[page.find(".SH ENVIRONMENT").expect("ENVIRONMENT")..];
    let environment = &environment[..environment.find(".SH FILES").expect("FILES")];
    for variable in [
        "GLC_REGISTRY_USERNAME",
        "GLC_REGISTRY_PASSWORD",
        "GLC_REGISTRY_HOST",
        "REGISTRY_AUTH_FILE",
        "DOCKER_CONFIG",
        "XDG_RUNTIME_DIR",
        "COSIGN_PASSWORD",
        "SOURCE_DATE_EPOCH",
        "NO_COLOR",
        "XDG_STATE_HOME",
    ] {
        assert!(
            environment.contains(&format!("\\fB{variable}\\fR")),
            "ENVIRONMENT lacks {variable}"
        );
    }
    assert!(
        page.contains("\n\\fB2\\fR\nWrong usage"),
        "EXIT STATUS lacks 2"
    );
    assert!(!page.contains("chunk"), "the page shows a hidden flag");
    // Where groff is installed, it reads the page without a warning.
    if let Ok(mut groff) = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write;
        groff
            .stdin
            .take()
            .unwrap()
            .write_all(page.as_bytes())
            .unwrap();
        let result = groff.wait_with_output().unwrap();
        assert!(result.status.success());
        assert_eq!(String::from_utf8_lossy(&result.stderr), "");
    }
}

#[test]
fn json_message_format_makes_every_stderr_line_json_with_a_summary() {
    let dir = Test::new();
    let release = crate::repo().join("examples/minimal/release.kdl");
    let out = dir.path("out");
    let output = Test::new()
        .args(["--message-format", "json", "check"])
        .arg(&release)
        .run();
    let check = output.json_errors();
    assert_eq!(check.len(), 1);
    assert_eq!(check[0]["type"], "summary");
    assert_eq!(check[0]["command"], "check");
    assert_eq!(check[0]["release"], "1877.3");
    assert_eq!(check[0]["images"], 1);
    assert!(check[0]["duration_ms"].is_u64());

    let output = Test::new()
        .args(["--message-format", "json", "build"])
        .arg(&release)
        .arg("-o")
        .arg(&out)
        .args(["--digests", "-"])
        .run();
    let build = output.json_errors();
    assert_eq!(build.len(), 1, "{build:?}");
    let summary = &build[0];
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["command"], "build");
    assert_eq!(summary["up_to_date"], false);
    assert_eq!(summary["images"], 1);
    // `--digests -` wrote the digests to standard output, and they agree with the summary.
    let digests: serde_json::Value = serde_json::from_slice(&output.output.stdout).unwrap();
    let tags = summary["tags"].as_object().unwrap();
    assert_eq!(tags.len(), digests["tags"].as_object().unwrap().len());
    for (tag, digest) in tags {
        assert_eq!(digests["tags"][tag]["digest"], *digest, "{tag}");
    }
    assert!(!dir.path("-").exists());
    assert!(!std::path::Path::new("-").exists());

    let output = Test::new()
        .args(["--message-format", "json", "build"])
        .arg(&release)
        .arg("-o")
        .arg(&out)
        .run();
    assert_eq!(output.json_errors()[0]["up_to_date"], true);

    let output = Test::new()
        .args(["--message-format", "json", "verify"])
        .arg(&out)
        .run();
    let verify = output.json_errors();
    assert_eq!(verify[0]["command"], "verify");
    assert_eq!(verify[0]["errors"], 0);

    // Wrong usage is a JSON line too, and still exits 2.
    let output = Test::new()
        .args(["--message-format", "json", "biuld"])
        .status(2)
        .run();
    let usage = output.json_errors();
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0]["code"], "glc::usage");
    assert_eq!(usage[0]["severity"], "error");
}

#[test]
fn a_digests_file_gets_the_mode_the_umask_gives() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Test::new();
    let release = crate::repo().join("examples/minimal/release.kdl");
    let digests = dir.path("digests.json");
    // Through a shell, so that the umask is the child's alone.
    let script = format!(
        "umask 022 && exec {} build -q {} -o {} --digests {}",
        assert_cmd::cargo::cargo_bin("glc").display(),
        release.display(),
        dir.path("out").display(),
        digests.display()
    );
    let status = std::process::Command::new("sh")
        .args(["-c", &script])
        .status()
        .unwrap();
    assert!(status.success());
    let mode = std::fs::metadata(&digests).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
}

/// Every `"glc::…"` code written in `src/`, outside the list itself.
fn codes_in_sources() -> std::collections::BTreeSet<String> {
    let mut codes = std::collections::BTreeSet::new();
    for entry in walkdir::WalkDir::new(crate::repo().join("src")) {
        let entry = entry.expect("walk src/");
        if entry.path().extension().is_none_or(|e| e != "rs")
            || entry.path().ends_with("src/diagnostic/codes.rs")
        {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).expect("read a source file");
        for (start, _) in text.match_indices("\"glc::") {
            let rest = &text[start + 1..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_')))
                .expect("a code ends before its file does");
            if rest[end..].starts_with('"') {
                codes.insert(rest[..end].to_owned());
            }
        }
    }
    codes
}

#[test]
fn every_diagnostic_code_is_listed_once_and_documented() {
    let listed: Vec<&str> = glc::diagnostic::codes::ALL
        .iter()
        .map(|(code, _)| *code)
        .collect();
    let unique: std::collections::BTreeSet<String> =
        listed.iter().map(|c| (*c).to_owned()).collect();
    assert_eq!(unique.len(), listed.len(), "a code is listed twice");
    let written = codes_in_sources();
    let unlisted: Vec<_> = written.difference(&unique).collect();
    assert!(
        unlisted.is_empty(),
        "add these to src/diagnostic/codes.rs: {unlisted:?}"
    );
    let unused: Vec<_> = unique.difference(&written).collect();
    assert!(
        unused.is_empty(),
        "src/diagnostic/codes.rs lists codes nothing reports: {unused:?}"
    );

    let path = crate::repo().join("docs/language.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let begin = "<!-- codes: generated from src/diagnostic/codes.rs; a test keeps them equal -->\n";
    let end = "<!-- end of codes -->";
    let from = doc
        .find(begin)
        .expect("docs/language.md marks its list of codes")
        + begin.len();
    let to = from + doc[from..].find(end).expect("the list of codes ends");
    let table = glc::diagnostic::codes::markdown();
    // The document with its list of codes made from src/diagnostic/codes.rs must be the document.
    crate::assert_matches_file(&format!("{}{table}{}", &doc[..from], &doc[to..]), &path);
}

/// The commands of the `n`th fenced code block of the README, without their comments.
fn readme_block(n: usize) -> Vec<String> {
    let readme = std::fs::read_to_string(crate::repo().join("README.md")).expect("read README");
    let block = readme
        .split("```")
        .skip(1)
        .step_by(2)
        .nth(n)
        .unwrap_or_else(|| panic!("the README has no code block {n}"));
    block
        .lines()
        .skip(1) // the fence's language
        .map(|line| line.split(" #").next().unwrap_or("").trim().to_owned())
        .filter(|line| !line.is_empty())
        .collect()
}

#[test]
fn the_readmes_first_commands_run_as_written() {
    let commands = readme_block(0);
    assert_eq!(
        commands,
        [
            "cargo run --release -- build release.kdl -o out",
            "cargo test"
        ],
        "the README's first commands changed: make this test run them"
    );
    // `cargo run --release --` is glc itself; run it, as written after `--`, in a copy of the
    // repository's release.
    let dir = Test::new();
    crate::build::copy_release(dir.dir());
    let args: Vec<&str> = commands[0]
        .split_once(" -- ")
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    dir.test().args(&args).run();
    dir.test().args(["verify", "out"]).run();
    assert!(dir.path("out/index.json").is_file());
}

#[test]
fn the_readme_says_how_to_put_glc_on_the_path_before_using_it() {
    let readme = std::fs::read_to_string(crate::repo().join("README.md")).unwrap();
    let install = readme
        .find("cargo install --locked --path .")
        .expect("the README gives the install command");
    let commands = readme
        .find("## Commands")
        .expect("the README lists the commands");
    assert!(install < commands, "install comes before the commands");
    let install_block = readme_block(1);
    assert_eq!(install_block[0], "cargo install --locked --path .");
    // The other commands of that block run: `glc …` up to a redirection or `)`.
    for line in &install_block[1..] {
        let start = line.find("glc ").expect("a glc command");
        let command = line[start..]
            .split(['>', ')', '&'])
            .next()
            .unwrap()
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>();
        let output = Test::new().args(&command).run();
        assert!(output.output.stdout.len() > 1000, "{line}");
    }
}

#[test]
fn the_parallel_makefile_runs_as_its_comment_says_from_the_top() {
    let makefile =
        std::fs::read_to_string(crate::repo().join("examples/parallel/Makefile")).unwrap();
    let documented = makefile
        .lines()
        .find_map(|l| l.strip_prefix("#   ").filter(|c| c.contains("GLC=")))
        .expect("the Makefile documents a GLC= command")
        .trim()
        .to_owned();
    assert_eq!(
        documented,
        "make -C examples/parallel GLC=target/release/glc OUT=/tmp/release"
    );
    // A tree like the repository's, with glc where the command expects it.
    let top = tempfile::tempdir().unwrap();
    crate::build::copy_release(top.path());
    std::fs::create_dir_all(top.path().join("examples/parallel")).unwrap();
    std::fs::write(top.path().join("examples/parallel/Makefile"), &makefile).unwrap();
    std::fs::create_dir_all(top.path().join("target/release")).unwrap();
    std::os::unix::fs::symlink(
        assert_cmd::cargo::cargo_bin("glc"),
        top.path().join("target/release/glc"),
    )
    .unwrap();
    let out = top.path().join("release-out");
    let command = documented.replace("/tmp/release", &out.display().to_string());
    let words: Vec<&str> = command.split_whitespace().collect();
    let output = std::process::Command::new(words[0])
        .args(&words[1..])
        .current_dir(top.path())
        .env("NO_COLOR", "1")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("MAKEFLAGS")
        .output()
        .expect("run make");
    assert!(output.status.success(), "{}", stderr(&output));
    Test::new().arg("verify").arg(out.join("release")).run();
}

#[test]
fn an_output_of_dot_is_refused_with_its_real_reason() {
    // Run from a directory that holds no input (else `-o .` meets them first).
    let dir = Test::new();
    let release = crate::build::copy_release(&dir.path("rel"));
    let cwd = dir.path("a/b");
    std::fs::create_dir_all(&cwd).unwrap();
    let before = crate::build::snapshot(dir.dir());
    for output_dir in [".", ".."] {
        let output = Test::new()
            .current_dir(&cwd)
            .arg("build")
            .arg(&release)
            .args(["-o", output_dir])
            .status(1)
            .run();
        let stderr = output.stderr();
        assert!(
            stderr.contains(&format!(
                "`{output_dir}` is not a directory glc can replace: the output is replaced whole"
            )),
            "{stderr}"
        );
        assert!(stderr.contains("help: name a new directory for the layout, e.g. `-o out`"));
        assert!(!stderr.contains("free space"), "{stderr}");
    }
    assert!(
        before == crate::build::snapshot(dir.dir()),
        "nothing is written"
    );
}

#[test]
fn inspect_of_a_missing_tag_says_how_many_tags_it_does_not_list() {
    let dir = Test::new();
    let out = dir.path("out");
    let layout = crate::build::build_top_level(&out);
    let tags = layout
        .entries()
        .iter()
        .filter(|e| e["annotations"]["org.opencontainers.image.ref.name"].is_string())
        .count();
    assert!(tags > 12, "the top-level release has {tags} tags");
    Test::new()
        .arg("inspect")
        .arg(&out)
        .arg("nosuchtag")
        .status(1)
        .stderr_contains(format!("it has {tags} tags: "))
        .stderr_contains(format!(" and {} more", tags - 12))
        .run();
}

#[test]
fn a_missing_build_directory_is_one_error_with_the_count() {
    let dir = Test::new().top_level();
    std::fs::remove_dir_all(dir.path("release/artifacts")).expect("remove");
    let human = dir
        .test()
        .args(["check", "release/release.kdl"])
        .status(1)
        .stderr_contains(
            "the directory `artifacts` does not exist; 73 paths of the release lie in it",
        )
        .stderr_contains("glc: 1 error in release/release.kdl")
        .run();
    let lines = human.stderr().lines().count();
    assert!(lines <= 20, "{lines} lines:\n{}", human.stderr());
    let json = dir
        .test()
        .args([
            "--message-format=json",
            "build",
            "release/release.kdl",
            "-o",
            "out",
        ])
        .status(1)
        .run()
        .json_errors();
    assert_eq!(json.len(), 1, "{json:?}");
    assert_eq!(json[0]["code"], "glc::resolve::missing-directory");
}
