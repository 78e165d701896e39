//! Child processes that cannot outlive the test process, free loopback ports, and where the
//! binaries come from.
//!
//! Every child runs under a `sh` supervisor whose standard input is a pipe from the test
//! process. Nobody ever writes to it: the supervisor waits for end-of-file, which happens when
//! [`Supervised`] is dropped or when the test process dies for any reason (panic, `exit`,
//! SIGKILL), because the kernel closes the write end then. On end-of-file the supervisor sends
//! the stop signal to the child, escalates to SIGKILL after 5 s, and removes the directories it
//! was asked to clean. Statics are never dropped, so this is what cleans up the shared control
//! plane when a test binary ends.

use crate::{Error, IoContext, Result};
use std::{
    collections::HashSet,
    fs::File,
    io::{BufRead, BufReader, Read, Seek, SeekFrom},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::{Mutex, OnceLock},
    time::{Duration, Instant},
};

/// The supervisor. Arguments: stop signal, number of cleanup paths, the paths, then the command.
/// The child gets /dev/null as input and none of the supervisor's extra descriptors; a watcher
/// subshell holds the pipe and stops the child on end-of-file; the main shell waits for the
/// child and exits with its status, so the test sees a crashed child as an exited supervisor.
const SUPERVISOR: &str = r#"
sig=$1; n=$2; shift 2
cleanup=""
while [ "$n" -gt 0 ]; do cleanup="$cleanup $1"; shift; n=$((n-1)); done
exec 3<&0
"$@" </dev/null 3<&- &
c=$!
(
  read -r _ <&3 || :
  kill -s "$sig" "$c" 2>/dev/null
  i=0
  while kill -0 "$c" 2>/dev/null; do
    i=$((i+1))
    [ "$i" -eq 50 ] && kill -s KILL "$c" 2>/dev/null
    sleep 0.1
  done
  for d in $cleanup; do
    for _ in 1 2 3 4 5; do rm -rf "$d" 2>/dev/null && break; sleep 0.2; done
  done
) &
w=$!
exec 3<&- 0</dev/null
wait "$c"
rc=$?
echo "supervisor: $1 exited with status $rc" >&2
# The watcher cleans up only after end-of-file; if the child died on its own the test process
# still holds the pipe, and the watcher stays until it lets go.
[ -z "$cleanup" ] && kill "$w" 2>/dev/null
exit "$rc"
"#;

/// How to ask a supervised child to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM, then SIGKILL after 5 s: for processes whose shutdown is under test.
    Term,
    /// SIGKILL at once: for throwaway control-plane parts.
    Kill,
}

impl Stop {
    fn signal(self) -> &'static str {
        match self {
            Stop::Term => "TERM",
            Stop::Kill => "KILL",
        }
    }
}

/// A child process under a supervisor; stopped (and waited for) on drop.
pub struct Supervised {
    name: String,
    program: PathBuf,
    child: Child,
    stdin: Option<ChildStdin>,
    log: PathBuf,
    program_pid: Option<u32>,
}

impl Supervised {
    /// Starts `program args` with stdout and stderr appended to `log`. `cleanup` paths are removed
    /// by the supervisor after the child stopped because the test let go of it (not when the child
    /// exits on its own).
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        log: &Path,
        stop: Stop,
        cleanup: &[&Path],
    ) -> Result<Self> {
        Self::spawn_with_env(name, program, args, &[], log, stop, cleanup)
    }

    /// [`Self::spawn`] with extra environment variables for the child (on top of the test
    /// process's environment).
    pub fn spawn_with_env(
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        log: &Path,
        stop: Stop,
        cleanup: &[&Path],
    ) -> Result<Self> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .io(|| format!("open log file {}", log.display()))?;
        let err = out.try_clone().io(|| format!("open log file {}", log.display()))?;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(SUPERVISOR)
            .arg("statefleet-e2e-supervisor")
            .arg(stop.signal())
            .arg(cleanup.len().to_string());
        for path in cleanup {
            cmd.arg(path);
        }
        cmd.arg(program).args(args);
        // Logs go to files: no colour codes (tracing-subscriber honours NO_COLOR).
        cmd.env("NO_COLOR", "1");
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        cmd.stdin(Stdio::piped()).stdout(out).stderr(err);
        // Own process group: a terminal's Ctrl-C reaches the test process only, and the
        // supervisor still stops the child through end-of-file.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().io(|| format!("start {name} ({}) under sh", program.display()))?;
        let stdin = child.stdin.take();
        Ok(Self {
            name: name.to_string(),
            program: program.to_path_buf(),
            child,
            stdin,
            log: log.to_path_buf(),
            program_pid: None,
        })
    }

    /// The supervisor's process id.
    pub fn supervisor_pid(&self) -> u32 {
        self.child.id()
    }

    /// The process id of the program itself (a child of the supervisor), once it has been
    /// started; found in /proc by parent and executable, then remembered.
    pub fn program_pid(&mut self) -> Option<u32> {
        if self.program_pid.is_none() {
            let want = std::fs::canonicalize(&self.program).unwrap_or_else(|_| self.program.clone());
            self.program_pid = children_of(self.child.id()).into_iter().find(|&pid| {
                std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| {
                    // A rebuilt binary shows as "PATH (deleted)".
                    exe == want || exe.to_string_lossy().strip_suffix(" (deleted)") == want.to_str()
                })
            });
        }
        self.program_pid
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The log file (stdout and stderr).
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The exit status if the child has exited on its own.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }

    /// Stops the child and waits for the supervisor, killing the whole process group if it does
    /// not finish within 10 s.
    pub fn stop(&mut self) {
        // End-of-file on the supervisor's pipe is the stop request.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) if Instant::now() >= deadline => break,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        let pgid = self.child.id();
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{pgid}")])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Live processes whose parent is `parent` (from /proc/PID/stat).
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                // "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses.
                let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
                let mut fields = rest.split_whitespace();
                let state = fields.next().unwrap_or("Z");
                state != "Z" && fields.next().and_then(|p| p.parse::<u32>().ok()) == Some(parent)
            })
        })
        .collect()
}

/// Whether process `pid` exists and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().next());
        state.is_some_and(|s| s != "Z" && s != "X")
    })
}

/// The last `lines` lines of a file (or a note that it cannot be read).
pub fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = File::open(path) else {
        return format!("(cannot read {})", path.display());
    };
    // Logs can be large; the last 256 KiB hold far more than the lines wanted.
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(256 * 1024)));
    let mut text = String::new();
    let _ = BufReader::new(file).read_to_string(&mut text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Lines of a file that contain `needle`, for error messages.
pub fn grep(path: &Path, needle: &str, max: usize) -> Vec<String> {
    let Ok(file) = File::open(path) else {
        return Vec::new();
    };
    BufReader::new(file)
        .lines()
        .map_while(std::result::Result::ok)
        .filter(|l| l.contains(needle))
        .take(max)
        .collect()
}

/// A loopback port that was free a moment ago and that this process has not handed out before.
/// Another process may still take it; callers retry on a clash.
pub fn free_port() -> Result<u16> {
    static GIVEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let given = GIVEN.get_or_init(Default::default);
    for _ in 0..100 {
        let listener = TcpListener::bind(("127.0.0.1", 0)).io(|| "bind a loopback port".into())?;
        let port = listener.local_addr().io(|| "read a bound port".into())?.port();
        if given.lock().unwrap_or_else(|e| e.into_inner()).insert(port) {
            return Ok(port);
        }
    }
    Err(Error::Process {
        what: "find a free loopback port".into(),
        detail: "100 attempts returned ports already handed out".into(),
    })
}

/// The workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the e2e crate sits inside the workspace")
        .to_path_buf()
}

/// The directory with etcd, kube-apiserver, kube-controller-manager and kube-scheduler:
/// `$STATEFLEET_BIN_DIR`, or the last line printed by `scripts/cluster-bins.sh` (which builds
/// them from the official modules when they are missing; warm, it returns at once).
pub fn cluster_bin_dir() -> Result<PathBuf> {
    static DIR: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("STATEFLEET_BIN_DIR").filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(dir));
        }
        let script = workspace_root().join("scripts/cluster-bins.sh");
        let mut dir = None;
        // Only what the control plane needs; upstream KSM and Prometheus are other suites' business.
        for what in ["etcd", "k8s"] {
            let out = Command::new("bash")
                .arg(&script)
                .arg(what)
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| format!("failed to run {} {what}: {e}", script.display()))?;
            if !out.status.success() {
                return Err(format!(
                    "{} {what} failed ({}); its stderr above names the step that failed. \
                     Alternatively set STATEFLEET_BIN_DIR to a directory with the binaries",
                    script.display(),
                    out.status
                ));
            }
            let stdout = String::from_utf8_lossy(&out.stdout);
            dir = stdout.lines().last().map(|l| PathBuf::from(l.trim()));
        }
        dir.ok_or_else(|| format!("{} printed no binary directory", script.display()))
    })
    .clone()
    .map_err(|detail| Error::Process { what: "locate the cluster binaries".into(), detail })
}

/// A cluster binary by name, checked to exist.
pub fn cluster_bin(name: &str) -> Result<PathBuf> {
    let path = cluster_bin_dir()?.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::Process {
            what: format!("find {name}"),
            detail: format!(
                "{} does not exist; run scripts/cluster-bins.sh (or fix STATEFLEET_BIN_DIR)",
                path.display()
            ),
        })
    }
}

/// The exporter binary: `$STATEFLEET_EXPORTER` or `<workspace>/target/debug/statefleet-exporter`.
pub fn exporter_bin() -> Result<PathBuf> {
    let path = match std::env::var_os("STATEFLEET_EXPORTER").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target"));
            target.join("debug/statefleet-exporter")
        }
    };
    if path.is_file() {
        warn_if_stale(&path);
        Ok(path)
    } else {
        Err(Error::Process {
            what: "find the exporter binary".into(),
            detail: format!(
                "{} does not exist; run `cargo build -p statefleet-exporter` first \
                 (or set STATEFLEET_EXPORTER to the binary)",
                path.display()
            ),
        })
    }
}

/// Warns once when a file under `exporter/` is newer than the binary: the tests would run an
/// exporter that does not match the sources.
fn warn_if_stale(binary: &Path) {
    static WARNED: OnceLock<()> = OnceLock::new();
    WARNED.get_or_init(|| {
        fn newest(dir: &Path) -> Option<std::time::SystemTime> {
            let mut best = None;
            for entry in std::fs::read_dir(dir).ok()?.flatten() {
                let path = entry.path();
                let t = if path.is_dir() {
                    newest(&path)
                } else {
                    entry.metadata().ok().and_then(|m| m.modified().ok())
                };
                best = best.max(t);
            }
            best
        }
        let root = workspace_root().join("exporter");
        let built = std::fs::metadata(binary).and_then(|m| m.modified()).ok();
        let sources = [
            newest(&root.join("src")),
            std::fs::metadata(root.join("Cargo.toml")).and_then(|m| m.modified()).ok(),
        ]
        .into_iter()
        .flatten()
        .max();
        if let (Some(built), Some(sources)) = (built, sources)
            && sources > built
        {
            eprintln!(
                "statefleet-e2e: WARNING: {} is older than the sources in {}; \
                 run `cargo build -p statefleet-exporter` to test the current code",
                binary.display(),
                root.display()
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A program that records its pid in `pidfile`, then sleeps.
    fn sleeper(pidfile: &Path) -> (PathBuf, Vec<String>) {
        (
            PathBuf::from("/bin/sh"),
            vec![
                "-c".into(),
                "echo $$ > \"$1\"; exec sleep 1000".into(),
                "sleeper".into(),
                pidfile.display().to_string(),
            ],
        )
    }

    fn wait_pid(pidfile: &Path) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(pid) = std::fs::read_to_string(pidfile).ok().and_then(|s| s.trim().parse().ok()) {
                return pid;
            }
            assert!(Instant::now() < deadline, "the sleeper never wrote {}", pidfile.display());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn alive(pid: u32) -> bool {
        // Not /proc/PID/cmdline: it reads empty while the process is in the middle of exec.
        pid_alive(pid)
    }

    fn wait_gone(pid: u32, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while alive(pid) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    #[test]
    fn program_pid_is_the_program_not_the_supervisor() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sleep = ["/bin/sleep", "/usr/bin/sleep"].into_iter().map(Path::new).find(|p| p.is_file());
        let Some(sleep) = sleep else {
            return;
        };
        let mut proc =
            Supervised::spawn("sleep", sleep, &["1000".into()], &dir.path().join("log"), Stop::Term, &[])
                .expect("spawn");
        let deadline = Instant::now() + Duration::from_secs(10);
        let pid = loop {
            if let Some(pid) = proc.program_pid() {
                break pid;
            }
            assert!(Instant::now() < deadline, "the program's pid was not found");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_ne!(pid, proc.supervisor_pid());
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).expect("comm");
        assert_eq!(comm.trim(), "sleep");
        drop(proc);
        assert!(wait_gone(pid, Duration::from_secs(2)), "pid {pid} survived the drop");
    }

    #[test]
    fn drop_stops_the_child_and_a_crash_is_seen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pidfile = dir.path().join("pid");
        let (program, args) = sleeper(&pidfile);
        let proc = Supervised::spawn("sleeper", &program, &args, &dir.path().join("log"), Stop::Term, &[])
            .expect("spawn");
        let pid = wait_pid(&pidfile);
        assert!(alive(pid));
        drop(proc);
        assert!(wait_gone(pid, Duration::from_secs(1)), "pid {pid} survived the drop");

        let mut crash = Supervised::spawn(
            "crasher",
            Path::new("/bin/sh"),
            &["-c".into(), "echo boom >&2; exit 3".into()],
            &dir.path().join("crash.log"),
            Stop::Kill,
            &[],
        )
        .expect("spawn");
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = crash.exited() {
                break s;
            }
            assert!(Instant::now() < deadline, "the crash was not noticed");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(status.code(), Some(3));
        assert!(crash.log_tail(5).contains("boom"), "{}", crash.log_tail(5));
    }

    /// Re-executed by `children_and_directories_go_when_the_test_process_is_killed`: starts a
    /// supervised sleeper, says so on stdout, then waits to be killed.
    #[test]
    #[ignore = "helper process for children_and_directories_go_when_the_test_process_is_killed"]
    fn hygiene_helper() {
        let Some(dir) = std::env::var_os("STATEFLEET_E2E_HYGIENE_DIR").map(PathBuf::from) else {
            return;
        };
        let scratch = dir.join("scratch");
        std::fs::create_dir_all(&scratch).expect("scratch dir");
        let (program, args) = sleeper(&dir.join("pid"));
        let proc = Supervised::spawn("sleeper", &program, &args, &dir.join("log"), Stop::Term, &[&scratch])
            .expect("spawn");
        wait_pid(&dir.join("pid"));
        println!("HYGIENE-READY");
        std::io::stdout().flush().expect("flush");
        std::thread::sleep(Duration::from_secs(60));
        drop(proc);
    }

    #[test]
    fn children_and_directories_go_when_the_test_process_is_killed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let exe = std::env::current_exe().expect("test binary path");
        let mut helper = Command::new(exe)
            .args(["--exact", "process::tests::hygiene_helper", "--ignored", "--nocapture"])
            .env("STATEFLEET_E2E_HYGIENE_DIR", dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("re-execute the test binary");
        let stdout = helper.stdout.take().expect("piped stdout");
        let ready = BufReader::new(stdout)
            .lines()
            .map_while(std::result::Result::ok)
            .any(|l| l.contains("HYGIENE-READY"));
        assert!(ready, "the helper did not start its child");
        let pid = wait_pid(&dir.path().join("pid"));
        assert!(alive(pid));
        // SIGKILL: no destructor, no panic hook; only the kernel closing the pipe is left.
        helper.kill().expect("kill the helper");
        helper.wait().expect("reap the helper");
        assert!(wait_gone(pid, Duration::from_secs(3)), "pid {pid} outlived its killed test process");
        let deadline = Instant::now() + Duration::from_secs(3);
        while dir.path().join("scratch").exists() {
            assert!(Instant::now() < deadline, "the supervisor did not remove the scratch directory");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
