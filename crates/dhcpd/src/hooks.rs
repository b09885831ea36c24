//! Running the programs `execute` statements ask for ([`crate::decide::Hook`]), off the
//! packet path. ISC forks, `execvp`s and blocks in `waitpid` while serving nothing; here one
//! worker thread runs them in order from a bounded queue: a full queue drops the hook with a
//! line naming its lease, and the packet path never waits. Each program runs directly (no
//! shell, `PATH` searched, stdin from `/dev/null`) in its own process group, for at most
//! its timeout (then the group gets SIGKILL, logged); its standard output and error are
//! captured, up to a byte cap, and logged line by line. A non-zero exit is logged as ISC
//! logs it, with the raw wait status (`execute: PROG exit status 256`); a program that
//! cannot be started is logged as ISC's child and parent log it (`Unable to execute PROG:
//! No such file or directory`, then exit status 32512).

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::decide::Hook;
use crate::metrics::{Event, Metrics};
use crate::model::ExecuteLimits;
use std::sync::Arc;

/// Hooks that may wait for the worker; more are dropped.
pub const HOOK_QUEUE: usize = 64;

/// At most this many lines of a program's output are logged.
const OUTPUT_LINES: usize = 20;

/// How often a running program is checked for its end.
const POLL: Duration = Duration::from_millis(20);

/// How long the output of a finished program is waited for (a child it left behind may
/// hold the pipe open).
const OUTPUT_GRACE: Duration = Duration::from_secs(1);

/// ISC's exit code for a program that could not be executed (`_exit(127)` in its child).
const EXEC_FAILED_STATUS: i32 = 127 << 8;

/// A hook with the limits of the configuration that asked for it.
#[derive(Debug)]
struct Job {
    hook: Hook,
    limits: ExecuteLimits,
}

/// The way to the hook worker. Cloning it shares the queue.
#[derive(Debug, Clone)]
pub struct HookRunner {
    tx: mpsc::SyncSender<Job>,
    metrics: Arc<Metrics>,
}

impl HookRunner {
    /// Start the worker thread; it stops when every runner is dropped and the queue is run.
    pub fn start(
        metrics: Arc<Metrics>,
    ) -> std::io::Result<(HookRunner, std::thread::JoinHandle<()>)> {
        let (tx, rx) = mpsc::sync_channel::<Job>(HOOK_QUEUE);
        let counted = metrics.clone();
        let worker = std::thread::Builder::new()
            .name("execute".into())
            .spawn(move || {
                for job in rx {
                    counted.count(Event::Execute(run(&job.hook, job.limits)));
                }
            })?;
        Ok((HookRunner { tx, metrics }, worker))
    }

    /// Queue `hook`; `false` when it will not run: a NULL argument (logged at debug, as
    /// ISC does), or a full queue (logged with the program, event and lease).
    pub fn submit(&self, hook: Hook, limits: ExecuteLimits) -> bool {
        if let Err(n) = &hook.call.args {
            tracing::debug!("execute: bad arg {n}");
            self.metrics.count(Event::Execute("bad_arg"));
            return false;
        }
        match self.tx.try_send(Job { hook, limits }) {
            Ok(()) => true,
            Err(mpsc::TrySendError::Full(job)) => {
                self.metrics.count(Event::Execute("dropped"));
                tracing::error!(
                    "execute: queue full ({HOOK_QUEUE} waiting): {} {} not run",
                    program_text(&job.hook),
                    what_for(&job.hook)
                );
                false
            }
            Err(mpsc::TrySendError::Disconnected(job)) => {
                tracing::error!(
                    "execute: worker stopped: {} {} not run",
                    program_text(&job.hook),
                    what_for(&job.hook)
                );
                false
            }
        }
    }
}

/// The program's name for log lines.
fn program_text(hook: &Hook) -> String {
    String::from_utf8_lossy(&hook.call.program).into_owned()
}

/// `(on commit of 10.0.0.10)`: what a hook ran for.
fn what_for(hook: &Hook) -> String {
    let event = hook
        .event
        .map_or_else(String::new, |e| format!("on {} ", e.name()));
    match hook.lease {
        Some(ip) => format!("({event}for lease {ip})"),
        None => format!("({event}without a lease)"),
    }
}

/// How a program ended.
#[derive(Debug)]
enum Ended {
    /// It exited (or died) by itself: the raw wait status.
    Exited(i32),
    /// It ran past its timeout and its process group was killed: the raw wait status.
    Killed(i32),
    /// It could not be started.
    NotStarted(std::io::Error),
}

/// A program run: how it ended and what it wrote (`None`: the pipe stayed open).
#[derive(Debug)]
struct Ran {
    ended: Ended,
    output: Option<Captured>,
}

/// Run `argv` to its end, or to its timeout.
fn execute(argv: &[Vec<u8>], limits: ExecuteLimits) -> Ran {
    let (mut child, output) = match spawn(argv, limits) {
        Ok(started) => started,
        Err(e) => {
            return Ran {
                ended: Ended::NotStarted(e),
                output: None,
            };
        }
    };
    let timeout = Duration::from_secs(u64::from(limits.timeout_secs));
    let ended = match wait_until(&mut child, Instant::now() + timeout) {
        Some(status) => Ended::Exited(status),
        None => {
            kill_group(&child);
            Ended::Killed(child.wait().map_or(-1, |s| s.into_raw()))
        }
    };
    Ran {
        ended,
        output: output.recv_timeout(OUTPUT_GRACE).ok(),
    }
}

/// Run one hook and log what happened, in ISC's words where ISC has them; returns how it
/// ended, for the metrics.
fn run(hook: &Hook, limits: ExecuteLimits) -> &'static str {
    let Some(argv) = hook.call.argv() else {
        return "bad_arg";
    };
    let prog = program_text(hook);
    for (i, a) in argv.iter().enumerate() {
        tracing::debug!(
            "execute_statement argv[{i}] = {}",
            String::from_utf8_lossy(a)
        );
    }
    let ran = execute(&argv, limits);
    let outcome = match &ran.ended {
        Ended::NotStarted(_) => "not_started",
        Ended::Killed(_) => "killed",
        Ended::Exited(0) => "ok",
        Ended::Exited(_) => "failed",
    };
    let status = match ran.ended {
        Ended::NotStarted(e) => {
            tracing::error!(
                "Unable to execute {prog}: {}",
                crate::conf::io_error_text(&e)
            );
            EXEC_FAILED_STATUS
        }
        Ended::Killed(status) => {
            tracing::error!(
                "execute: {prog} {} still running after {} s: killed",
                what_for(hook),
                limits.timeout_secs
            );
            log_output(&prog, ran.output);
            status
        }
        Ended::Exited(status) => {
            log_output(&prog, ran.output);
            status
        }
    };
    if status != 0 {
        tracing::error!("execute: {prog} exit status {status}");
    }
    outcome
}

/// Start the program in its own process group, its output into one pipe read by a
/// thread: the kept bytes (at most the cap) and the count of bytes cut arrive on the
/// channel once the pipe closes.
fn spawn(
    argv: &[Vec<u8>],
    limits: ExecuteLimits,
) -> std::io::Result<(Child, mpsc::Receiver<Captured>)> {
    let (reader, writer) = std::io::pipe()?;
    let mut cmd = Command::new(OsStr::from_bytes(
        argv.first().map_or(&[][..], Vec::as_slice),
    ));
    cmd.args(argv.iter().skip(1).map(|a| OsStr::from_bytes(a)))
        .stdin(Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer)
        .process_group(0);
    let child = cmd.spawn()?;
    // Our copies of the pipe's writing end go with the command, so the reader sees the end.
    drop(cmd);
    let (tx, rx) = mpsc::channel();
    let cap = usize::try_from(limits.output_bytes).unwrap_or(usize::MAX);
    std::thread::Builder::new()
        .name("execute-output".into())
        .spawn(move || {
            let _ = tx.send(capture(reader, cap));
        })?;
    Ok((child, rx))
}

/// What a program wrote: the first bytes, and how many more were thrown away.
#[derive(Debug, Default, PartialEq, Eq)]
struct Captured {
    kept: Vec<u8>,
    cut: u64,
}

/// Read `from` to its end, keeping the first `cap` bytes (the rest is read and dropped, so
/// the program never blocks on a full pipe).
fn capture(mut from: impl Read, cap: usize) -> Captured {
    let mut out = Captured::default();
    let mut buf = [0u8; 4096];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => return out,
            Ok(n) => {
                let room = cap.saturating_sub(out.kept.len()).min(n);
                out.kept.extend_from_slice(&buf[..room]);
                out.cut += (n - room) as u64;
            }
        }
    }
}

/// Log the first lines of a program's output.
fn log_output(prog: &str, captured: Option<Captured>) {
    let Some(c) = captured else {
        tracing::warn!("execute: {prog}: output still open after it ended; not logged");
        return;
    };
    let text = String::from_utf8_lossy(&c.kept);
    let lines: Vec<&str> = text.lines().collect();
    for line in lines.iter().take(OUTPUT_LINES) {
        tracing::info!("execute: {prog}: {line}");
    }
    let more_lines = lines.len().saturating_sub(OUTPUT_LINES);
    if more_lines > 0 || c.cut > 0 {
        tracing::info!(
            "execute: {prog}: output cut ({more_lines} more lines, {} more bytes)",
            c.cut
        );
    }
}

/// Wait for the child until `deadline`; its raw wait status, or `None` at the deadline.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<i32> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status.into_raw()),
            Ok(None) => {}
            Err(e) => {
                tracing::error!("execute: waiting for process {}: {e}", child.id());
                return Some(-1);
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        std::thread::sleep(left.min(POLL));
    }
}

/// SIGKILL to the child's process group (it leads its own group), so what it started dies
/// with it.
fn kill_group(child: &Child) {
    let Ok(pid) = i32::try_from(child.id()) else {
        return;
    };
    let pgid = nix::unistd::Pid::from_raw(pid);
    if let Err(e) = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL) {
        tracing::error!("execute: kill of process group {pid}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_kept_up_to_the_cap_and_the_rest_counted() {
        let data = vec![b'x'; 10_000];
        let c = capture(&data[..], 4096);
        assert_eq!((c.kept.len(), c.cut), (4096, 10_000 - 4096));
        let c = capture(&b"short\n"[..], 4096);
        assert_eq!((c.kept.as_slice(), c.cut), (&b"short\n"[..], 0));
    }

    fn sh(script: &str) -> Vec<Vec<u8>> {
        vec![b"sh".to_vec(), b"-c".to_vec(), script.as_bytes().to_vec()]
    }

    const LIMITS: ExecuteLimits = ExecuteLimits {
        timeout_secs: 1,
        output_bytes: 8,
    };

    #[test]
    fn exit_status_is_the_raw_wait_status_and_output_is_capped() {
        let ran = execute(&sh("echo 0123456789; echo err >&2; exit 1"), LIMITS);
        assert!(matches!(ran.ended, Ended::Exited(256)), "{:?}", ran.ended);
        let out = ran.output.expect("output");
        assert_eq!(out.kept, b"01234567");
        assert_eq!(out.cut, 3 + 4, "the rest of stdout, and stderr");
    }

    #[test]
    fn a_program_past_its_timeout_is_killed_with_what_it_started() {
        let started = Instant::now();
        let ran = execute(&sh("sleep 30 & sleep 30; echo never"), LIMITS);
        assert!(matches!(ran.ended, Ended::Killed(9)), "{:?}", ran.ended);
        assert_eq!(
            ran.output.map(|o| o.kept),
            Some(Vec::new()),
            "the background sleep died too: the pipe closed"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_missing_program_is_not_started() {
        let ran = execute(&[b"/nonexistent/hook".to_vec()], LIMITS);
        assert!(
            matches!(ran.ended, Ended::NotStarted(ref e) if e.kind() == std::io::ErrorKind::NotFound)
        );
    }

    fn hook(argv: &[&str], lease: [u8; 4]) -> Hook {
        Hook {
            event: Some(crate::decide::LeaseEvent::Commit),
            lease: Some(std::net::Ipv4Addr::from(lease)),
            call: crate::eval::ExecCall {
                program: argv[0].as_bytes().to_vec(),
                args: Ok(argv[1..].iter().map(|a| a.as_bytes().to_vec()).collect()),
            },
        }
    }

    #[test]
    fn a_full_queue_drops_the_hook_and_names_its_lease() {
        use tracing_subscriber::layer::SubscriberExt as _;
        let buf = pxe_daemon::logging::capture::Capture::default();
        let layer = pxe_daemon::logging::message_only_layer(buf.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        let accepted = tracing::subscriber::with_default(subscriber, || {
            let metrics = Arc::new(Metrics::default());
            let (runner, worker) = HookRunner::start(metrics.clone()).expect("worker");
            // The worker is busy with the first for a second; the queue fills behind it.
            let slow = ExecuteLimits {
                timeout_secs: 10,
                ..LIMITS
            };
            let mut accepted = vec![runner.submit(hook(&["sleep", "1"], [10, 0, 0, 1]), slow)];
            std::thread::sleep(Duration::from_millis(200));
            for i in 0..HOOK_QUEUE + 1 {
                accepted.push(runner.submit(hook(&["true"], [10, 0, 1, i as u8]), LIMITS));
            }
            let bad = Hook {
                call: crate::eval::ExecCall {
                    program: b"true".to_vec(),
                    args: Err(2),
                },
                ..hook(&["true"], [10, 0, 2, 1])
            };
            accepted.push(runner.submit(bad, LIMITS));
            drop(runner);
            worker.join().expect("worker ends once the queue is run");
            let text = metrics.render();
            for counted in [
                format!("dhcpd_execute_total{{outcome=\"ok\"}} {}", HOOK_QUEUE + 1),
                "dhcpd_execute_total{outcome=\"dropped\"} 1".to_string(),
                "dhcpd_execute_total{outcome=\"bad_arg\"} 1".to_string(),
            ] {
                assert!(text.contains(&counted), "{counted}\n{text}");
            }
            accepted
        });
        assert!(accepted[0], "the first is taken");
        assert_eq!(accepted.iter().filter(|a| !**a).count(), 2, "{accepted:?}");
        assert_eq!(
            accepted.last(),
            Some(&false),
            "a NULL argument: nothing runs"
        );
        let text = buf.text();
        assert!(
            text.contains(&format!(
                "execute: queue full ({HOOK_QUEUE} waiting): true (on commit for lease 10.0.1.64) not run"
            )),
            "{text}"
        );
    }

    #[test]
    fn hooks_are_named_by_event_and_lease() {
        let call = crate::eval::ExecCall {
            program: b"/bin/x".to_vec(),
            args: Ok(vec![]),
        };
        let mut hook = Hook {
            event: Some(crate::decide::LeaseEvent::Commit),
            lease: Some(std::net::Ipv4Addr::new(10, 0, 0, 10)),
            call,
        };
        assert_eq!(what_for(&hook), "(on commit for lease 10.0.0.10)");
        hook.event = None;
        hook.lease = None;
        assert_eq!(what_for(&hook), "(without a lease)");
    }
}
