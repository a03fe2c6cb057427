//! One line per step with its elapsed time, so a newcomer sees where the minutes go, and
//! long jobs run in the background (their output in a log file) while other work goes on.

use std::{
    fs::File,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

static STARTED: OnceLock<Instant> = OnceLock::new();

/// Starts the clock that every step line is measured against.
pub fn start_clock() {
    STARTED.get_or_init(Instant::now);
}

fn since_start() -> Duration {
    STARTED.get_or_init(Instant::now).elapsed()
}

/// `2 min 35 s`, `12.6 s`.
pub fn human(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1} s")
    } else {
        let whole = duration.as_secs();
        format!("{} min {:02} s", whole / 60, whole % 60)
    }
}

fn stamp() -> String {
    let whole = since_start().as_secs();
    format!("[{:>2}:{:02}]", whole / 60, whole % 60)
}

/// Runs one named step, printing when it starts and how long it took.
pub fn timed<T>(what: &str, work: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    eprintln!("\n==> {} {what}", stamp());
    let started = Instant::now();
    let result = work();
    let outcome = if result.is_ok() { "done" } else { "FAILED" };
    eprintln!(
        "<== {} {what}: {outcome} in {}",
        stamp(),
        human(started.elapsed())
    );
    result
}

/// Runs a command to completion, failing with its name if it fails.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|err| format!("cannot run {}: {err}", describe(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} failed ({status})", describe(cmd)))
    }
}

pub fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args().take(4) {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    format!("`{text}`")
}

/// A command running in the background with its output in a log file.
pub struct Job {
    what: String,
    child: Child,
    log: PathBuf,
    started: Instant,
}

/// How often a job still running says so.
const HEARTBEAT: Duration = Duration::from_secs(60);

impl Job {
    /// Starts `cmd` with stdout and stderr going to `log`.
    pub fn start(what: &str, cmd: &mut Command, log: PathBuf) -> Result<Job, String> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
        }
        let out = File::create(&log).map_err(|err| format!("cannot create {}: {err}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|err| format!("cannot open {}: {err}", log.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|err| format!("cannot run {}: {err}", describe(cmd)))?;
        eprintln!(
            "==> {} {what} (in the background; log: {})",
            stamp(),
            log.display()
        );
        Ok(Job {
            what: what.to_owned(),
            child,
            log,
            started: Instant::now(),
        })
    }

    /// Waits for the job, saying every minute that it is still running; on failure the
    /// error carries the end of its log.
    pub fn wait(mut self) -> Result<(), String> {
        let mut next_heartbeat = HEARTBEAT;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(err) => return Err(format!("{}: {err}", self.what)),
            }
            if self.started.elapsed() >= next_heartbeat {
                eprintln!(
                    "    {} still {} ({} so far)",
                    stamp(),
                    self.what,
                    human(self.started.elapsed())
                );
                next_heartbeat += HEARTBEAT;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let took = human(self.started.elapsed());
        if status.success() {
            eprintln!("<== {} {}: done in {took}", stamp(), self.what);
            return Ok(());
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        Err(format!(
            "{} failed ({status}) after {took}; the end of {}:\n{}",
            self.what,
            self.log.display(),
            tail.join("\n")
        ))
    }
}

impl Drop for Job {
    /// A job left behind by an earlier failure must not outlive the xtask.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_person_says_them() {
        assert_eq!(human(Duration::from_millis(12_640)), "12.6 s");
        assert_eq!(human(Duration::from_secs(155)), "2 min 35 s");
        assert_eq!(human(Duration::from_secs(60)), "1 min 00 s");
    }

    #[test]
    fn a_failing_job_reports_the_end_of_its_log() {
        let log = std::env::temp_dir().join(format!("xtask-job-{}.log", std::process::id()));
        let job = Job::start(
            "failing on purpose",
            Command::new("sh").args(["-c", "echo first; echo the reason >&2; exit 3"]),
            log.clone(),
        )
        .unwrap();
        let err = job.wait().unwrap_err();
        assert!(err.contains("failing on purpose failed"), "{err}");
        assert!(err.contains("the reason"), "{err}");
        let _ = std::fs::remove_file(log);
    }

    #[test]
    fn a_succeeding_job_is_ok() {
        let log = std::env::temp_dir().join(format!("xtask-job-ok-{}.log", std::process::id()));
        let job = Job::start("succeeding", &mut Command::new("true"), log.clone()).unwrap();
        assert_eq!(job.wait(), Ok(()));
        let _ = std::fs::remove_file(log);
    }
}
