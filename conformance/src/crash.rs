//! Crash durability of the rooms records: `kill -9` of a `hubspec serve --rooms-db FILE`
//! process at seeded random moments while its users JoinRoom and LeaveRoom.
//!
//! Why a separate process: an in-process restart (`Op::Restart`) closes SQLite cleanly, so it
//! cannot show that a record whose JoinRoom completed was on disk when the Completion went out.
//! Only killing the process, with no chance to flush or close anything, shows that.
//!
//! One cycle: start the hub on the database, connect each user once (its first connection
//! since the restart) and check, with that connection's first invocations, that it is in
//! exactly its recorded rooms (ROOM-RESTORE-ON-CONNECT, ROOM-SURVIVE-RESTART); then every user
//! churns JoinRoom / LeaveRoom on its own connection until the process is killed after a random
//! delay. Before the next start, a copy of the database files as the kill left them is checked
//! with `PRAGMA integrity_check` and read: every record whose JoinRoom completed must be there,
//! every record whose LeaveRoom completed must be gone (ROOM-LEAVE-DELETES). An operation in
//! flight at the kill may have landed or not; its record is then taken as the disk says. The
//! hub itself recovers the untouched files, hot WAL included, as a restart after a crash would.
//!
//! Everything is seeded: the kill delays and each user's operations come from one `u64` seed,
//! which the report prints, so a failing run can be repeated (the interleaving of the users and
//! the exact operation the kill lands on still depend on the scheduler).

use std::collections::BTreeSet;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hubspec_harness::{Client, ClientError, ClientOptions, Completion};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use url::Url;

/// A seed from the clock, for a run that was given none (it prints the seed it used).
pub fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

/// A (user, room) record.
pub type Record = (String, String);

/// How many cycles to run and how.
#[derive(Clone, Debug)]
pub struct CrashOptions {
    /// The `hubspec` binary (tests: `env!("CARGO_BIN_EXE_hubspec")`; the bench: its own path).
    pub exe: PathBuf,
    /// A directory of our own for the database and its check copies; created if missing.
    pub dir: PathBuf,
    /// How many times the hub is killed. It is started once more after the last kill, to
    /// check what that kill left.
    pub cycles: usize,
    /// The seed of the kill delays and of every user's operations.
    pub seed: u64,
    /// Users churning at once, each on one connection.
    pub users: usize,
    /// Rooms they choose from.
    pub rooms: usize,
    /// The kill comes after a delay drawn uniformly from `min_kill_after` to this, once every
    /// user's first connection has been checked.
    pub max_kill_after: Duration,
    /// The shortest such delay (zero: a kill may land on the first operations).
    pub min_kill_after: Duration,
    /// More arguments for `hubspec serve` (a `--fault`, to see the loop catch it).
    pub hub_args: Vec<String>,
}

impl CrashOptions {
    /// 4 users over 4 rooms, killed within 200 ms of churn, in `dir`.
    pub fn new(exe: PathBuf, dir: PathBuf, cycles: usize, seed: u64) -> CrashOptions {
        CrashOptions {
            exe,
            dir,
            cycles,
            seed,
            users: 4,
            rooms: 4,
            max_kill_after: Duration::from_millis(200),
            min_kill_after: Duration::ZERO,
            hub_args: Vec::new(),
        }
    }
}

/// What the cycles found. Clean when nothing was lost, resurrected, corrupted or left
/// unrestored.
#[derive(Clone, Debug, Default)]
pub struct CrashReport {
    /// The seed, to repeat the run.
    pub seed: u64,
    /// Kills done.
    pub kills: usize,
    /// JoinRoom invocations whose Completion arrived.
    pub joins_completed: u64,
    /// LeaveRoom invocations whose Completion arrived.
    pub leaves_completed: u64,
    /// Invocations in flight at a kill (their records may have landed or not).
    pub in_flight_at_kill: u64,
    /// Records checked on disk after the kills (the expected records, summed over kills).
    pub records_checked: u64,
    /// Records whose JoinRoom completed that a kill lost: (kill number, record).
    pub lost: Vec<(usize, Record)>,
    /// Records on disk after a kill that should not be: their LeaveRoom had completed (or no
    /// JoinRoom of theirs ever did).
    pub resurrected: Vec<(usize, Record)>,
    /// Databases `PRAGMA integrity_check` did not find ok: (kill number, what it said).
    pub corrupted: Vec<(usize, String)>,
    /// First connections after a start that were not in exactly their recorded rooms:
    /// (start number, user, rooms expected, rooms it was in).
    pub not_restored: Vec<(usize, String, Vec<String>, Vec<String>)>,
    /// Error Completions of JoinRoom / LeaveRoom while the hub was up.
    pub errors: Vec<String>,
    /// Each kill's delay after the churn started, in ms.
    pub kill_after_ms: Vec<u64>,
    /// The whole run's wall time.
    pub elapsed: Duration,
}

impl CrashReport {
    /// Nothing lost, resurrected, corrupted or unrestored, and no error Completion.
    pub fn is_clean(&self) -> bool {
        self.lost.is_empty()
            && self.resurrected.is_empty()
            && self.corrupted.is_empty()
            && self.not_restored.is_empty()
            && self.errors.is_empty()
    }
}

impl fmt::Display for CrashReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "crash durability: seed {}, {} kill -9 restarts in {:.1} s; {} JoinRoom and {} \
             LeaveRoom completed, {} in flight at a kill; {} records checked on disk",
            self.seed,
            self.kills,
            self.elapsed.as_secs_f64(),
            self.joins_completed,
            self.leaves_completed,
            self.in_flight_at_kill,
            self.records_checked
        )?;
        write!(
            f,
            "records lost {}, resurrected {}, corrupted databases {}, connections not restored \
             {}, error Completions {}",
            self.lost.len(),
            self.resurrected.len(),
            self.corrupted.len(),
            self.not_restored.len(),
            self.errors.len()
        )?;
        for (kill, (user, room)) in &self.lost {
            write!(
                f,
                "\n  kill {kill}: lost ({user}, {room}), its JoinRoom had completed"
            )?;
        }
        for (kill, (user, room)) in &self.resurrected {
            write!(
                f,
                "\n  kill {kill}: ({user}, {room}) is back, its LeaveRoom had completed"
            )?;
        }
        for (kill, said) in &self.corrupted {
            write!(f, "\n  kill {kill}: integrity_check said {said}")?;
        }
        for (start, user, expected, seen) in &self.not_restored {
            write!(
                f,
                "\n  start {start}: {user}'s first connection was in {seen:?}, not {expected:?}"
            )?;
        }
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

/// Why the cycles could not run (as opposed to what they found).
#[derive(Debug, thiserror::Error)]
pub enum CrashError {
    /// The directory or the database copies.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// The hub process did not print its URL in time, or exited first.
    #[error("the hub did not start (start {start}): {detail}")]
    Start {
        /// Which start.
        start: usize,
        /// What happened.
        detail: String,
    },
    /// A user could not connect, or its first invocations failed, while the hub was up.
    #[error("start {start}: {user}'s first connection: {source}")]
    Client {
        /// Which start.
        start: usize,
        /// The user.
        user: String,
        /// The client's error.
        source: ClientError,
    },
    /// A bounded wait passed.
    #[error("{0}")]
    Timeout(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CrashError {
    let what = what.into();
    move |source| CrashError::Io { what, source }
}

/// A running `hubspec serve`. Dropping it kills the process and waits for it; its stdin is
/// a pipe and it runs with `--exit-on-stdin-eof`, so it also stops if we die first.
struct HubProcess {
    child: Child,
    _stdin: ChildStdin,
    url: Url,
}

impl HubProcess {
    /// Starts `exe serve` on `db`, on a free loopback port, and reads the URL it prints.
    fn start(opts: &CrashOptions, db: &Path, start: usize) -> Result<HubProcess, CrashError> {
        let exe = &opts.exe;
        let mut child = Command::new(exe)
            .arg("serve")
            .args(&opts.hub_args)
            .args(["--listen", "127.0.0.1:0", "--profile", "core"])
            .arg("--rooms-db")
            .arg(db)
            .arg("--exit-on-stdin-eof")
            .env("RUST_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| CrashError::Start {
                start,
                detail: format!("cannot run {}: {e}", exe.display()),
            })?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        // A blocking read on a thread, so the wait for the URL has a bound.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut hub = HubProcess {
            child,
            _stdin: stdin,
            url: Url::parse("http://127.0.0.1/").expect("a URL"),
        };
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .map_err(|_| CrashError::Start {
                start,
                detail: "no URL within 20 s".into(),
            })?;
        hub.url = Url::parse(line.trim()).map_err(|e| CrashError::Start {
            start,
            detail: format!("printed {line:?}, not a URL: {e}"),
        })?;
        Ok(hub)
    }

    /// `kill -9` (std's `Child::kill` is SIGKILL on Unix), then reap it.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What is known of the records: those certainly there and, right after a kill, the ones
/// whose operation was in flight.
#[derive(Default)]
struct Ledger {
    durable: BTreeSet<Record>,
    uncertain: BTreeSet<Record>,
    joins: u64,
    leaves: u64,
    errors: Vec<String>,
}

/// Runs `opts.cycles` kill -9 cycles and reports what they found. `Err` only when the loop
/// itself could not run (a hub that does not start, a first connection that fails while the
/// hub is up, files that cannot be copied); a database SQLite cannot read is `corrupted`.
pub fn crash_cycles(opts: &CrashOptions) -> Result<CrashReport, CrashError> {
    let started = Instant::now();
    std::fs::create_dir_all(&opts.dir).map_err(io(format!("creating {}", opts.dir.display())))?;
    let db = opts.dir.join("rooms.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(with_suffix(&db, suffix));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(io("starting the runtime"))?;
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut report = CrashReport {
        seed: opts.seed,
        ..CrashReport::default()
    };
    for start in 0..=opts.cycles {
        let mut hub = HubProcess::start(opts, &db, start)?;
        let expected = lock(&ledger).durable.clone();
        let clients = rt.block_on(first_connections(
            &hub.url,
            opts,
            start,
            &expected,
            &mut report,
        ))?;
        if start == opts.cycles {
            break;
        }
        let max_ms = opts.max_kill_after.as_millis() as u64;
        let min_ms = (opts.min_kill_after.as_millis() as u64).min(max_ms);
        let kill_after = Duration::from_millis(rng.random_range(min_ms..=max_ms));
        report.kill_after_ms.push(kill_after.as_millis() as u64);
        let seeds: Vec<u64> = clients.iter().map(|_| rng.random()).collect();
        rt.block_on(churn_then_kill(
            clients, seeds, opts, &ledger, &mut hub, kill_after,
        ))?;
        report.kills += 1;
        check_disk(&db, &opts.dir, start + 1, &ledger, &mut report)?;
    }
    let ledger = lock(&ledger);
    report.joins_completed = ledger.joins;
    report.leaves_completed = ledger.leaves;
    report.errors = ledger.errors.clone();
    report.elapsed = started.elapsed();
    Ok(report)
}

fn lock(ledger: &Mutex<Ledger>) -> std::sync::MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(|e| e.into_inner())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn user_name(i: usize) -> String {
    format!("u{i}")
}

fn room_name(i: usize) -> String {
    format!("r{i}")
}

/// Connects each user once and, as that connection's first invocations, sends to every room
/// a payload naming the user and the room; the connection receives its own payload exactly
/// for the rooms it is in (deliveries are queued before the Completion, on one FIFO socket).
/// A difference from `expected` goes into the report.
async fn first_connections(
    url: &Url,
    opts: &CrashOptions,
    start: usize,
    expected: &BTreeSet<Record>,
    report: &mut CrashReport,
) -> Result<Vec<Client>, CrashError> {
    let mut clients = Vec::with_capacity(opts.users);
    for u in 0..opts.users {
        let user = user_name(u);
        let failed = |source| CrashError::Client {
            start,
            user: user.clone(),
            source,
        };
        let mut options = ClientOptions::new(url.clone());
        options.user = Some(user.clone());
        options.label = user.clone();
        let client = Client::connect(options).await.map_err(failed)?;
        let prefix = format!("{user} in ");
        for r in 0..opts.rooms {
            let room = room_name(r);
            let args = vec![json!(room), json!(format!("{prefix}{room}"))];
            client.invoke("SendToGroup", args).await.map_err(failed)?;
        }
        let seen: Vec<String> = client
            .drain_received()
            .iter()
            .filter_map(|m| m.payload()?.strip_prefix(&prefix).map(str::to_owned))
            .collect();
        let wanted: Vec<String> = expected
            .iter()
            .filter(|(u, _)| *u == user)
            .map(|(_, r)| r.clone())
            .collect();
        if seen != wanted {
            report.not_restored.push((start, user, wanted, seen));
        }
        clients.push(client);
    }
    Ok(clients)
}

/// Every user churns JoinRoom / LeaveRoom on its connection; after `kill_after` the hub is
/// killed, and each user's operation then in flight is recorded as uncertain.
async fn churn_then_kill(
    clients: Vec<Client>,
    seeds: Vec<u64>,
    opts: &CrashOptions,
    ledger: &Arc<Mutex<Ledger>>,
    hub: &mut HubProcess,
    kill_after: Duration,
) -> Result<(), CrashError> {
    let mut workers = Vec::with_capacity(clients.len());
    for (u, (client, seed)) in clients.into_iter().zip(seeds).enumerate() {
        let ledger = ledger.clone();
        let rooms = opts.rooms;
        workers.push(tokio::spawn(churn(
            client,
            user_name(u),
            rooms,
            seed,
            ledger,
        )));
    }
    tokio::time::sleep(kill_after).await;
    hub.kill();
    for w in workers {
        // A worker ends at its first failed invocation, which the kill makes immediate; the
        // invocation timeout bounds it anyway.
        tokio::time::timeout(Duration::from_secs(10), w)
            .await
            .map_err(|_| CrashError::Timeout("a user did not stop after the kill".into()))?
            .map_err(|e| CrashError::Timeout(format!("a user's task failed: {e}")))?;
    }
    Ok(())
}

/// One user's JoinRoom / LeaveRoom loop, until an invocation fails.
async fn churn(
    mut client: Client,
    user: String,
    rooms: usize,
    seed: u64,
    ledger: Arc<Mutex<Ledger>>,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    loop {
        let record = (user.clone(), room_name(rng.random_range(0..rooms)));
        let join = rng.random_bool(0.6);
        let method = if join { "JoinRoom" } else { "LeaveRoom" };
        lock(&ledger).uncertain.insert(record.clone());
        match client
            .invoke(method, vec![Value::String(record.1.clone())])
            .await
        {
            Ok(Completion::Error(e)) => {
                let mut l = lock(&ledger);
                l.uncertain.remove(&record);
                l.errors
                    .push(format!("{method}({}) of {user}: {e}", record.1));
            }
            Ok(_) => {
                let mut l = lock(&ledger);
                l.uncertain.remove(&record);
                if join {
                    l.joins += 1;
                    l.durable.insert(record);
                } else {
                    l.leaves += 1;
                    l.durable.remove(&record);
                }
            }
            Err(_) => break,
        }
    }
    client.shutdown().await;
}

/// Copies the database files as the kill left them, checks the copy's integrity and compares
/// its records with the ledger; the ledger then takes the disk's records (each loss is
/// reported once, and the in-flight operations are settled).
fn check_disk(
    db: &Path,
    dir: &Path,
    kill: usize,
    ledger: &Mutex<Ledger>,
    report: &mut CrashReport,
) -> Result<(), CrashError> {
    let copy = dir.join("check.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(with_suffix(&copy, suffix));
    }
    for suffix in ["", "-wal"] {
        let from = with_suffix(db, suffix);
        if from.exists() {
            std::fs::copy(&from, with_suffix(&copy, suffix))
                .map_err(io(format!("copying {}", from.display())))?;
        }
    }
    let on_disk = match read_records(&copy) {
        Ok((verdict, records)) => {
            if verdict != ["ok"] {
                report.corrupted.push((kill, verdict.join("; ")));
            }
            records
        }
        Err(e) => {
            // Unreadable is corrupted too; the records stay as the ledger has them, and the
            // next start will say whether the hub can open the file.
            report.corrupted.push((kill, e.to_string()));
            return Ok(());
        }
    };
    let mut l = lock(ledger);
    report.in_flight_at_kill += l.uncertain.len() as u64;
    report.records_checked += l.durable.len() as u64;
    for record in l.durable.difference(&on_disk) {
        if !l.uncertain.contains(record) {
            report.lost.push((kill, record.clone()));
        }
    }
    for record in on_disk.difference(&l.durable) {
        if !l.uncertain.contains(record) {
            report.resurrected.push((kill, record.clone()));
        }
    }
    l.durable = on_disk;
    l.uncertain.clear();
    Ok(())
}

/// `PRAGMA integrity_check`'s lines and the records of the database at `path`.
fn read_records(path: &Path) -> Result<(Vec<String>, BTreeSet<Record>), rusqlite::Error> {
    let conn = rusqlite::Connection::open(path)?;
    let verdict = conn
        .prepare("PRAGMA integrity_check")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    let records = conn
        .prepare("SELECT user, room FROM rooms")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<BTreeSet<Record>, _>>()?;
    Ok((verdict, records))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(user: &str, room: &str) -> Record {
        (user.to_owned(), room.to_owned())
    }

    /// A directory holding `rooms.db` with `records`, as refhub writes it.
    fn database(name: &str, records: &[Record]) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("hubspec-crash-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("rooms.db");
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE rooms (user TEXT NOT NULL, room TEXT NOT NULL,
                                 PRIMARY KEY (user, room)) WITHOUT ROWID;",
        )
        .unwrap();
        for (u, r) in records {
            conn.execute("INSERT INTO rooms VALUES (?1, ?2)", [u, r])
                .unwrap();
        }
        (dir, db)
    }

    #[test]
    fn a_completed_join_missing_on_disk_is_lost_and_a_completed_leave_present_is_back() {
        let (dir, db) = database(
            "diff",
            &[record("a", "1"), record("c", "3"), record("d", "4")],
        );
        let ledger = Mutex::new(Ledger::default());
        {
            let mut l = lock(&ledger);
            l.durable = [record("a", "1"), record("b", "2")].into();
            // In flight at the kill: either way is fine.
            l.uncertain = [record("d", "4"), record("e", "5")].into();
        }
        let mut report = CrashReport::default();
        check_disk(&db, &dir, 7, &ledger, &mut report).unwrap();
        assert_eq!(report.lost, vec![(7, record("b", "2"))]);
        assert_eq!(report.resurrected, vec![(7, record("c", "3"))]);
        assert!(report.corrupted.is_empty(), "{report}");
        assert_eq!(report.in_flight_at_kill, 2);
        assert!(!report.is_clean());
        // The ledger takes the disk's word, so the next kill reports only new losses.
        let l = lock(&ledger);
        assert_eq!(
            l.durable,
            [record("a", "1"), record("c", "3"), record("d", "4")].into()
        );
        assert!(l.uncertain.is_empty());
        drop(l);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_damaged_database_is_reported_corrupted() {
        let records: Vec<Record> = (0..200)
            .map(|i| record("u", &format!("room {i:0>40}")))
            .collect();
        let (dir, db) = database("damaged", &records);
        // Checkpoint into the main file, then overwrite its second page's header (the table's
        // root: an invalid page type).
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
        let mut bytes = std::fs::read(&db).unwrap();
        assert!(bytes.len() > 8192, "more than one page");
        bytes[4096..4096 + 12].fill(0xA5);
        std::fs::write(&db, bytes).unwrap();
        let ledger = Mutex::new(Ledger::default());
        let mut report = CrashReport::default();
        check_disk(&db, &dir, 1, &ledger, &mut report).unwrap();
        assert_eq!(report.corrupted.len(), 1, "{report}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
