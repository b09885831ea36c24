//! The agent's log: every line goes to the console and is kept, so that a failure can
//! be reported with the end of it; commands run through [`run`] log their output.

use std::process::{Command, Stdio};

/// Lines kept for the log tail (the oldest are dropped).
pub const KEEP_LINES: usize = 400;

/// The log of this run.
#[derive(Debug, Default)]
pub struct Log {
    lines: std::collections::VecDeque<String>,
}

impl Log {
    pub fn line(&mut self, text: impl Into<String>) {
        let text = text.into();
        eprintln!("pxe-deploy: {text}");
        if self.lines.len() == KEEP_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(text);
    }

    /// The kept lines, one per line.
    pub fn tail(&self) -> String {
        let mut s = String::new();
        for l in &self.lines {
            s.push_str(l);
            s.push('\n');
        }
        s
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
#[error("{command}: {reason}")]
pub struct CommandError {
    pub command: String,
    pub reason: String,
}

/// Runs a program, logging its command line and output; `ok` says which exit codes
/// are success. Its standard output, on success.
pub fn run_ok(
    log: &mut Log,
    program: &str,
    args: &[&str],
    ok: &[i32],
) -> Result<String, CommandError> {
    let shown = format!("{program} {}", args.join(" "));
    log.line(format!("$ {shown}"));
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| CommandError {
            command: shown.clone(),
            reason: if e.kind() == std::io::ErrorKind::NotFound {
                format!("{program} is not installed in the deploy initramfs")
            } else {
                e.to_string()
            },
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    for l in stdout
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
    {
        log.line(format!("  {l}"));
    }
    match out.status.code() {
        Some(c) if ok.contains(&c) => Ok(stdout),
        Some(c) => Err(CommandError {
            command: shown,
            reason: format!("exited {c}"),
        }),
        None => Err(CommandError {
            command: shown,
            reason: "killed by a signal".to_owned(),
        }),
    }
}

/// [`run`] with `input` on the program's standard input.
pub fn run_input(
    log: &mut Log,
    program: &str,
    args: &[&str],
    input: &[u8],
) -> Result<String, CommandError> {
    use std::io::Write as _;
    let shown = format!("{program} {}", args.join(" "));
    log.line(format!("$ {shown} <<EOF"));
    for l in String::from_utf8_lossy(input).lines() {
        log.line(format!("  {l}"));
    }
    let err = |reason: String| CommandError {
        command: shown.clone(),
        reason,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(not_found(program, &e)))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input)
            .map_err(|e| err(format!("writing its input: {e}")))?;
    }
    let out = child.wait_with_output().map_err(|e| err(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    for l in stdout
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
    {
        log.line(format!("  {l}"));
    }
    exit_status(out.status, shown).map(|()| stdout)
}

/// Runs a long program, logging each line of its output (standard output and error
/// together) as it comes and handing it to `each`; fails unless it exits 0.
pub fn run_streaming(
    log: &mut Log,
    program: &str,
    args: &[&str],
    each: &mut dyn FnMut(&str),
) -> Result<(), CommandError> {
    use std::io::BufRead as _;
    let shown = format!("{program} {}", args.join(" "));
    log.line(format!("$ {shown}"));
    let err = |reason: String| CommandError {
        command: shown.clone(),
        reason,
    };
    let (reader, writer) = std::io::pipe().map_err(|e| err(format!("a pipe: {e}")))?;
    let writer2 = writer
        .try_clone()
        .map_err(|e| err(format!("a pipe: {e}")))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(writer2);
    let mut child = cmd.spawn().map_err(|e| err(not_found(program, &e)))?;
    // The parent's ends of the pipe's writing side go with the command: the reader sees
    // the end when the child (and whatever it started) is done.
    drop(cmd);
    for line in std::io::BufReader::new(reader).split(b'\n') {
        let Ok(line) = line else { break };
        let line = String::from_utf8_lossy(&line).trim_end().to_owned();
        log.line(format!("  {line}"));
        each(&line);
    }
    let status = child.wait().map_err(|e| err(e.to_string()))?;
    exit_status(status, shown)
}

fn not_found(program: &str, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        format!("{program} is not installed in the deploy initramfs")
    } else {
        e.to_string()
    }
}

fn exit_status(status: std::process::ExitStatus, shown: String) -> Result<(), CommandError> {
    match status.code() {
        Some(0) => Ok(()),
        Some(c) => Err(CommandError {
            command: shown,
            reason: format!("exited {c}"),
        }),
        None => Err(CommandError {
            command: shown,
            reason: "killed by a signal".to_owned(),
        }),
    }
}

/// [`run_ok`] where only exit code 0 is success.
pub fn run(log: &mut Log, program: &str, args: &[&str]) -> Result<String, CommandError> {
    run_ok(log, program, args, &[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_log_and_fail_with_their_exit_code() {
        let mut log = Log::default();
        let out = run(&mut log, "sh", &["-c", "echo out; echo err >&2"]).expect("runs");
        assert_eq!(out, "out\n");
        assert!(log.tail().contains("  err\n"), "{}", log.tail());
        let e = run(&mut log, "sh", &["-c", "exit 3"]).expect_err("fails");
        assert_eq!(e.reason, "exited 3");
        assert!(run_ok(&mut log, "sh", &["-c", "exit 1"], &[0, 1]).is_ok());
        let e = run(&mut log, "no-such-program-pxe", &[]).expect_err("missing");
        assert!(e.reason.contains("not installed"), "{e}");
    }

    #[test]
    fn input_goes_in_and_streamed_lines_come_out_in_order() {
        let mut log = Log::default();
        let out = run_input(&mut log, "sh", &["-c", "tr a-z A-Z"], b"abc\n").expect("runs");
        assert_eq!(out, "ABC\n");
        let mut seen = Vec::new();
        run_streaming(
            &mut log,
            "sh",
            &["-c", "echo one; echo two >&2; echo three"],
            &mut |l| seen.push(l.to_owned()),
        )
        .expect("runs");
        assert_eq!(seen, ["one", "two", "three"]);
        let e = run_streaming(&mut log, "sh", &["-c", "echo last; exit 4"], &mut |_| {})
            .expect_err("fails");
        assert_eq!(e.reason, "exited 4");
        assert!(log.tail().ends_with("  last\n"), "{}", log.tail());
    }

    #[test]
    fn the_tail_keeps_the_newest_lines() {
        let mut log = Log::default();
        for i in 0..KEEP_LINES + 10 {
            log.line(format!("line {i}"));
        }
        let t = log.tail();
        assert!(!t.contains("line 9\n") && t.contains(&format!("line {}\n", KEEP_LINES + 9)));
    }
}
