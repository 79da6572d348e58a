//! The request trail: with `[audit] requests = true`, every request answered is appended to a
//! hash-chained JSON-lines file per day (`DATA_DIR/audit-requests/requests-2026-11-24.jsonl`),
//! with an Ed25519-signed checkpoint line every `checkpoint_interval`. Security events go to
//! the database log, one durable write each; requests are many, so they go to a file written
//! by one thread that fsyncs every 100 ms, which costs the request path one channel send.
//!
//! Each record line is a JSON object whose last field is `"hash"`: SHA-256 over the previous
//! record's hash (hex) and the line's bytes before `,"hash":`. Client addresses are keyed
//! pseudonyms; paths keep query keys, never values.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ring::digest::{Context, SHA256};
use serde::Serialize;

use super::chain::GENESIS;
use super::signing::{CheckpointSigner, CheckpointVerifier};
use crate::identity::secret::hex;
use crate::observability::metrics::Metrics;
use crate::privacy::pseudonym::Pseudonymizer;
use crate::store::{Checkpoint, unix_now_ms as now_ms};

/// Requests waiting for the trail's thread before new ones are dropped (and counted).
const QUEUE: usize = 65_536;
/// Written data reaches the disk at least this often.
const SYNC_EVERY: Duration = Duration::from_millis(100);
/// How often the thread wakes to take what is queued.
const DRAIN_EVERY: Duration = Duration::from_millis(10);
/// Pseudonyms remembered (clients send many requests; the keyed hash is the record's
/// biggest cost); forgotten all at once when full.
const PSEUDONYM_CACHE: usize = 16_384;
const HASH_FIELD: &str = ",\"hash\":\"";
const DAY_MS: i64 = 86_400_000;

/// One answered request, as the pipeline hands it over.
pub struct RequestEntry {
    pub time_ms: i64,
    pub request_id: http::HeaderValue,
    pub client: IpAddr,
    pub method: &'static str,
    pub path: String,
    pub route: Option<Arc<str>>,
    pub status: u16,
    pub bytes: u64,
    pub duration_us: u64,
}

/// What the writer thread is sent.
enum Message {
    Entry(RequestEntry),
    /// Sync, sign and stop; answered when done.
    Close(SyncSender<()>),
}

/// A handle to the trail's writer thread; cheap to clone. Each worker thread takes a queue
/// of its own ([`RequestTrail::for_worker`]), so workers never contend on one.
#[derive(Clone)]
pub struct RequestTrail {
    sender: SyncSender<Message>,
    /// Every worker's queue, drained by the writer thread.
    inboxes: Arc<Mutex<Vec<Receiver<Message>>>>,
    metrics: Arc<Metrics>,
}

impl RequestTrail {
    /// Writes what is queued, signs a last checkpoint and stops the writer thread.
    pub fn close(&self) {
        let (done, finished) = sync_channel(1);
        if self.sender.send(Message::Close(done)).is_ok() {
            let _ = finished.recv_timeout(Duration::from_secs(10));
        }
    }

    /// Starts the writer thread for `dir`.
    pub fn start(
        dir: PathBuf,
        pseudonyms: Arc<Pseudonymizer>,
        signer: Arc<CheckpointSigner>,
        checkpoint_interval: Duration,
        metrics: Arc<Metrics>,
    ) -> Result<Self, String> {
        std::fs::create_dir_all(&dir)
            .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
        let (sender, receiver) = sync_channel(QUEUE);
        let inboxes: Arc<Mutex<Vec<Receiver<Message>>>> = Arc::default();
        let thread_inboxes = inboxes.clone();
        let thread_metrics = metrics.clone();
        std::thread::Builder::new()
            .name("rampart-request-trail".into())
            .spawn(move || {
                let mut writer = TrailWriter {
                    dir,
                    pseudonyms,
                    signer,
                    checkpoint_interval,
                    metrics: thread_metrics,
                    file: None,
                    pseudonym_cache: HashMap::new(),
                    line: Vec::with_capacity(512),
                };
                writer.run(&receiver, &thread_inboxes);
            })
            .map_err(|err| format!("cannot start the request trail thread: {err}"))?;
        Ok(Self {
            sender,
            inboxes,
            metrics,
        })
    }

    /// A handle with a queue of its own, for one worker thread.
    pub fn for_worker(&self) -> Self {
        let (sender, receiver) = sync_channel(QUEUE);
        self.inboxes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(receiver);
        Self {
            sender,
            inboxes: self.inboxes.clone(),
            metrics: self.metrics.clone(),
        }
    }

    /// Queues `entry`; never waits. A full queue (the disk cannot keep up) drops the entry
    /// and counts it in `rampart_audit_requests_total{result="dropped"}`.
    pub fn record(&self, entry: RequestEntry) {
        match self.sender.try_send(Message::Entry(entry)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.metrics.request_trail("dropped", 1);
            }
        }
    }
}

/// The file being appended to, and where its chain stands.
struct OpenTrail {
    /// Midnight (UTC) of the file's day, Unix milliseconds.
    day_start_ms: i64,
    out: BufWriter<File>,
    seq: i64,
    prev: String,
    /// Records written since the last checkpoint line.
    unsigned: bool,
}

struct TrailWriter {
    dir: PathBuf,
    pseudonyms: Arc<Pseudonymizer>,
    signer: Arc<CheckpointSigner>,
    checkpoint_interval: Duration,
    metrics: Arc<Metrics>,
    file: Option<OpenTrail>,
    pseudonym_cache: HashMap<IpAddr, String>,
    /// The line being written, reused so a record costs no allocation.
    line: Vec<u8>,
}

#[derive(Serialize)]
struct Line<'a> {
    seq: i64,
    time_ms: i64,
    request_id: &'a str,
    ip: &'a str,
    method: &'a str,
    path: &'a str,
    route: &'a str,
    status: u16,
    bytes: u64,
    duration_us: u64,
}

impl TrailWriter {
    fn run(&mut self, control: &Receiver<Message>, inboxes: &Mutex<Vec<Receiver<Message>>>) {
        let mut last_sync = Instant::now();
        let mut last_checkpoint = Instant::now();
        let mut pending = 0u64;
        let mut closed: Option<SyncSender<()>> = None;
        loop {
            // Sleep, then take everything queued: a sender never has to wake this thread,
            // which on a busy machine costs more than the record itself.
            std::thread::sleep(DRAIN_EVERY);
            let mut stopping = false;
            {
                let inboxes = inboxes.lock().unwrap_or_else(|e| e.into_inner());
                for inbox in inboxes.iter().chain(std::iter::once(control)) {
                    loop {
                        match inbox.try_recv() {
                            Ok(Message::Entry(entry)) => match self.append(&entry) {
                                Ok(()) => pending += 1,
                                Err(err) => {
                                    self.metrics.request_trail("failed", 1);
                                    tracing::error!(error = %err, "writing the request trail failed");
                                }
                            },
                            Ok(Message::Close(done)) => {
                                closed = Some(done);
                                stopping = true;
                                break;
                            }
                            Err(TryRecvError::Empty) => break,
                            // A worker that stopped; the control queue ends only when every
                            // handle is gone.
                            Err(TryRecvError::Disconnected) => {
                                stopping |= std::ptr::eq(inbox, control);
                                break;
                            }
                        }
                    }
                }
            }
            if pending > 0 && (last_sync.elapsed() >= SYNC_EVERY || stopping) {
                match self.sync() {
                    Ok(()) => self.metrics.request_trail("written", pending),
                    Err(err) => {
                        self.metrics.request_trail("failed", pending);
                        tracing::error!(error = %err, "syncing the request trail failed");
                    }
                }
                pending = 0;
                last_sync = Instant::now();
            }
            if last_checkpoint.elapsed() >= self.checkpoint_interval || stopping {
                if let Err(err) = self.checkpoint() {
                    tracing::error!(error = %err, "signing a request trail checkpoint failed");
                }
                last_checkpoint = Instant::now();
            }
            if stopping {
                if let Some(done) = closed {
                    let _ = done.send(());
                }
                return;
            }
        }
    }

    fn append(&mut self, entry: &RequestEntry) -> std::io::Result<()> {
        let same_day = self
            .file
            .as_ref()
            .is_some_and(|f| (f.day_start_ms..f.day_start_ms + DAY_MS).contains(&entry.time_ms));
        if !same_day {
            self.checkpoint()?;
            self.sync()?;
            self.file = Some(open_day(&self.dir, entry.time_ms)?);
        }
        if self.pseudonym_cache.len() >= PSEUDONYM_CACHE {
            self.pseudonym_cache.clear();
        }
        let pseudonyms = &self.pseudonyms;
        let ip = self
            .pseudonym_cache
            .entry(entry.client)
            .or_insert_with(|| pseudonyms.ip(entry.client));
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let line = Line {
            seq: file.seq + 1,
            time_ms: entry.time_ms,
            request_id: entry.request_id.to_str().unwrap_or_default(),
            ip,
            method: entry.method,
            path: &entry.path,
            route: entry.route.as_deref().unwrap_or("-"),
            status: entry.status,
            bytes: entry.bytes,
            duration_us: entry.duration_us,
        };
        let bytes = &mut self.line;
        bytes.clear();
        serde_json::to_writer(&mut *bytes, &line)?;
        bytes.pop(); // the closing brace: the hash covers what comes before its field
        let hash = line_hash(&file.prev, bytes);
        bytes.extend_from_slice(HASH_FIELD.as_bytes());
        bytes.extend_from_slice(hash.as_bytes());
        bytes.extend_from_slice(b"\"}\n");
        file.out.write_all(bytes)?;
        file.seq += 1;
        file.prev = hash;
        file.unsigned = true;
        Ok(())
    }

    fn sync(&mut self) -> std::io::Result<()> {
        if let Some(file) = self.file.as_mut() {
            file.out.flush()?;
            file.out.get_ref().sync_data()?;
        }
        Ok(())
    }

    /// A signed line vouching for the chain so far in the current file.
    fn checkpoint(&mut self) -> std::io::Result<()> {
        let Some(file) = self.file.as_mut().filter(|f| f.unsigned) else {
            return Ok(());
        };
        let checkpoint = self.signer.sign(file.seq, &file.prev, now_ms());
        let mut bytes = serde_json::to_vec(&serde_json::json!({ "checkpoint": checkpoint }))?;
        bytes.push(b'\n');
        file.out.write_all(&bytes)?;
        file.unsigned = false;
        self.sync()
    }
}

fn line_hash(prev: &str, before_hash: &[u8]) -> String {
    let mut context = Context::new(&SHA256);
    context.update(prev.as_bytes());
    context.update(before_hash);
    hex(context.finish().as_ref())
}

/// `2026-11-24` of a Unix time in milliseconds (UTC).
fn day_of(time_ms: i64) -> String {
    let seconds = u64::try_from(time_ms / 1000).unwrap_or(0);
    let stamp =
        humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(seconds))
            .to_string();
    stamp[..10].to_owned()
}

/// Opens (or continues) the file of the day of `time_ms`, picking the chain up where it ended.
fn open_day(dir: &Path, time_ms: i64) -> std::io::Result<OpenTrail> {
    let path = dir.join(format!("requests-{}.jsonl", day_of(time_ms)));
    let (mut seq, mut prev, mut unsigned) = (0, GENESIS.to_owned(), false);
    if let Ok(existing) = File::open(&path) {
        for line in BufReader::new(existing).lines() {
            let line = line?;
            if let Some((record_seq, hash)) = record_seq_and_hash(&line) {
                seq = record_seq;
                prev = hash;
                unsigned = true;
            } else if line.starts_with("{\"checkpoint\"") {
                unsigned = false;
            }
        }
    }
    let file = OpenOptions::new().create(true).append(true).open(&path)?;
    Ok(OpenTrail {
        day_start_ms: time_ms - time_ms.rem_euclid(DAY_MS),
        out: BufWriter::with_capacity(256 * 1024, file),
        seq,
        prev,
        unsigned,
    })
}

fn record_seq_and_hash(line: &str) -> Option<(i64, String)> {
    let at = line.rfind(HASH_FIELD)?;
    let hash = line.get(at + HASH_FIELD.len()..at + HASH_FIELD.len() + 64)?;
    let value: serde_json::Value = serde_json::from_str(&format!("{}}}", &line[..at])).ok()?;
    Some((value["seq"].as_i64()?, hash.to_owned()))
}

/// What verifying the request trail found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrailReport {
    pub files: u64,
    pub records: u64,
    pub checkpoints: u64,
    /// The first broken place: file, line number, why.
    pub broken: Option<(String, usize, String)>,
}

/// Checks every file in `dir`: each record's hash and sequence, and each checkpoint's
/// signature and position.
pub fn verify(dir: &Path, verifier: &CheckpointVerifier) -> std::io::Result<TrailReport> {
    let mut report = TrailReport::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(report);
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    for path in files {
        report.files += 1;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (mut seq, mut prev) = (0i64, GENESIS.to_owned());
        for (index, line) in BufReader::new(File::open(&path)?).lines().enumerate() {
            let line = line?;
            let number = index + 1;
            let mut broken = |reason: &str| {
                report.broken = Some((name.clone(), number, reason.to_owned()));
            };
            if let Some(rest) = line.strip_prefix("{\"checkpoint\":") {
                let checkpoint: Option<Checkpoint> =
                    serde_json::from_str(rest.strip_suffix('}').unwrap_or(rest)).ok();
                match checkpoint {
                    Some(c) if verifier.is_valid(&c) && c.seq == seq && c.hash == prev => {
                        report.checkpoints += 1;
                    }
                    Some(c) if !verifier.is_valid(&c) => {
                        broken("the checkpoint's signature does not verify");
                        return Ok(report);
                    }
                    _ => {
                        broken("the checkpoint does not match the records before it");
                        return Ok(report);
                    }
                }
                continue;
            }
            let Some(at) = line.rfind(HASH_FIELD) else {
                broken("not a record line");
                return Ok(report);
            };
            let stored = &line[at + HASH_FIELD.len()..];
            let expected = line_hash(&prev, &line.as_bytes()[..at]);
            if !stored.starts_with(&expected) {
                broken("the record does not match its hash: changed, inserted or moved");
                return Ok(report);
            }
            match record_seq_and_hash(&line) {
                Some((record_seq, _)) if record_seq == seq + 1 => seq = record_seq,
                _ => {
                    broken("record missing: the sequence jumps");
                    return Ok(report);
                }
            }
            prev = expected;
            report.records += 1;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u64, time_ms: i64) -> RequestEntry {
        RequestEntry {
            time_ms,
            request_id: http::HeaderValue::try_from(format!("req-{n}")).unwrap(),
            client: "203.0.113.9".parse().unwrap(),
            method: "GET",
            path: "/items?id=".into(),
            route: Some("/".into()),
            status: 200,
            bytes: 512,
            duration_us: 300,
        }
    }

    fn writer(dir: &Path, signer: Arc<CheckpointSigner>) -> TrailWriter {
        TrailWriter {
            dir: dir.to_owned(),
            pseudonyms: Arc::new(Pseudonymizer::new(&[3; 32])),
            signer,
            checkpoint_interval: Duration::from_secs(60),
            metrics: Arc::new(Metrics::new()),
            file: None,
            pseudonym_cache: HashMap::new(),
            line: Vec::with_capacity(512),
        }
    }

    #[test]
    fn the_trail_chains_signs_continues_and_shows_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let keys = tempfile::tempdir().unwrap();
        let signer = Arc::new(CheckpointSigner::from_file(&keys.path().join("k"), true).unwrap());
        let verifier = CheckpointVerifier::from_base64(&signer.public_key()).unwrap();
        let day_one = 1_764_000_000_000; // 2025-11-24
        let mut w = writer(dir.path(), signer.clone());
        for n in 0..5 {
            w.append(&entry(n, day_one)).unwrap();
        }
        w.checkpoint().unwrap();
        // A restart continues the same file's chain.
        let mut w = writer(dir.path(), signer.clone());
        for n in 5..8 {
            w.append(&entry(n, day_one)).unwrap();
        }
        // The next day starts a file of its own.
        w.append(&entry(8, day_one + 86_400_000)).unwrap();
        w.checkpoint().unwrap();
        let report = verify(dir.path(), &verifier).unwrap();
        assert_eq!(report.broken, None);
        assert_eq!(
            (report.files, report.records, report.checkpoints),
            (2, 9, 3)
        );

        let text = std::fs::read_to_string(dir.path().join("requests-2025-11-24.jsonl")).unwrap();
        assert!(!text.contains("203.0.113.9"), "addresses are pseudonyms");
        assert!(text.contains("\"path\":\"/items?id=\""));
        let path = dir.path().join("requests-2025-11-24.jsonl");
        std::fs::write(&path, text.replacen("\"status\":200", "\"status\":500", 1)).unwrap();
        let report = verify(dir.path(), &verifier).unwrap();
        let (file, line, reason) = report.broken.unwrap();
        assert_eq!((file.as_str(), line), ("requests-2025-11-24.jsonl", 1));
        assert!(reason.contains("hash"), "{reason}");
        // Removing a record breaks the sequence or the chain.
        let lines: Vec<&str> = text.lines().collect();
        let without_second = [&lines[..1], &lines[2..]].concat().join("\n") + "\n";
        std::fs::write(&path, without_second).unwrap();
        assert_eq!(verify(dir.path(), &verifier).unwrap().broken.unwrap().1, 2);
    }

    #[test]
    fn days_are_utc_dates() {
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(1_764_000_000_000), "2025-11-24");
    }
}
