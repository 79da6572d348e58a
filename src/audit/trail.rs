//! The request trail: with `[audit] requests = true`, every request answered is appended to a
//! hash-chained JSON-lines file per day (`DATA_DIR/audit-requests/requests-2026-11-24.jsonl`),
//! with an Ed25519-signed checkpoint line every `checkpoint_interval`. Security events go to
//! the database log, one durable write each; requests are many, so they go to a file written
//! by one thread that fsyncs every 100 ms. The request path only pushes a plain-data entry
//! onto its worker's own queue: no allocation, no wake-up, nothing freed on another thread.
//!
//! Each record line is a JSON object whose last field is `"hash"`: SHA-256 over the previous
//! record's hash (hex) and the line's bytes before `,"hash":`. Client addresses are keyed
//! pseudonyms; paths keep query keys, never values.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ring::digest::{Context, SHA256};

use super::chain::GENESIS;
use super::signing::{CheckpointSigner, CheckpointVerifier};
use crate::identity::secret::hex_into;
use crate::observability::metrics::Metrics;
use crate::privacy::pseudonym::Pseudonymizer;
use crate::store::{Checkpoint, unix_now_ms as now_ms};

/// Requests waiting in one worker's queue before new ones are dropped (and counted).
const QUEUE: usize = 65_536;
/// Bytes of request id, path and route an entry holds without an allocation of its own.
const INLINE_TEXT: usize = 168;
/// Written data reaches the disk at least this often.
const SYNC_EVERY: Duration = Duration::from_millis(100);
/// How often the thread wakes to take what is queued.
const DRAIN_EVERY: Duration = Duration::from_millis(10);
/// Pseudonyms remembered (clients send many requests; the keyed hash is the record's
/// biggest cost); forgotten all at once when full.
const PSEUDONYM_CACHE: usize = 16_384;
const HASH_FIELD: &str = ",\"hash\":\"";
const DAY_MS: i64 = 86_400_000;

/// One answered request, as the pipeline hands it over: plain data, its text copied inline,
/// so the writer thread frees nothing the worker allocated (a cross-thread free costs more
/// than the copy).
pub struct RequestEntry {
    /// When the answer was finished; the writer turns it into wall-clock time, which saves
    /// the request a clock read.
    pub finished: Instant,
    pub client: IpAddr,
    pub method: &'static str,
    pub status: u16,
    pub bytes: u64,
    pub duration_us: u64,
    text: EntryText,
}

impl RequestEntry {
    /// `path` is what the access log shows (query values left out); `route` is `-` when none.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        finished: Instant,
        request_id: &str,
        client: IpAddr,
        method: &'static str,
        path: &str,
        route: &str,
        status: u16,
        bytes: u64,
        duration_us: u64,
    ) -> Self {
        Self {
            finished,
            client,
            method,
            status,
            bytes,
            duration_us,
            text: EntryText::new([request_id, path, route]),
        }
    }
}

/// The request id, path and route, one after the other; inline when they fit, which is
/// nearly always.
struct EntryText {
    /// Where the request id and the path end.
    ends: [usize; 2],
    len: usize,
    inline: [u8; INLINE_TEXT],
    spilled: Option<Box<[u8]>>,
}

impl EntryText {
    fn new([id, path, route]: [&str; 3]) -> Self {
        let len = id.len() + path.len() + route.len();
        let mut text = Self {
            ends: [id.len(), id.len() + path.len()],
            len,
            inline: [0; INLINE_TEXT],
            spilled: None,
        };
        if len <= INLINE_TEXT {
            let [a, b] = text.ends;
            text.inline[..a].copy_from_slice(id.as_bytes());
            text.inline[a..b].copy_from_slice(path.as_bytes());
            text.inline[b..len].copy_from_slice(route.as_bytes());
        } else {
            text.spilled = Some([id, path, route].concat().into_bytes().into_boxed_slice());
        }
        text
    }

    /// The request id, the path and the route.
    fn parts(&self) -> [&[u8]; 3] {
        let all = match &self.spilled {
            Some(spilled) => spilled,
            None => &self.inline[..self.len],
        };
        let [a, b] = self.ends;
        [&all[..a], &all[a..b], &all[b..]]
    }
}

/// Sent to the writer thread on its control channel.
enum Control {
    /// Sync, sign and stop; answered when done.
    Close(SyncSender<()>),
}

/// One worker's entries waiting for the writer thread, which swaps the whole vector out
/// every [`DRAIN_EVERY`]: the worker's pushes stay in its own cache, uncontended.
#[derive(Default)]
struct Inbox {
    entries: Mutex<Vec<RequestEntry>>,
}

/// A handle to the trail's writer thread. Each worker thread takes a queue of its own
/// ([`RequestTrail::for_worker`]), so workers never contend on one; a clone shares its queue.
#[derive(Clone)]
pub struct RequestTrail {
    control: SyncSender<Control>,
    inbox: Arc<Inbox>,
    /// Every worker's queue, drained by the writer thread.
    inboxes: Arc<Mutex<Vec<Arc<Inbox>>>>,
    metrics: Arc<Metrics>,
}

impl RequestTrail {
    /// Writes what is queued, signs a last checkpoint and stops the writer thread.
    pub fn close(&self) {
        let (done, finished) = sync_channel(1);
        if self.control.send(Control::Close(done)).is_ok() {
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
        let (control, receiver) = sync_channel(1);
        let inbox = Arc::<Inbox>::default();
        let inboxes = Arc::new(Mutex::new(vec![inbox.clone()]));
        let thread_inboxes = inboxes.clone();
        let thread_metrics = metrics.clone();
        std::thread::Builder::new()
            .name("rampart-request-trail".into())
            .spawn(move || {
                lower_priority();
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
            control,
            inbox,
            inboxes,
            metrics,
        })
    }

    /// A handle with a queue of its own, for one worker thread.
    pub fn for_worker(&self) -> Self {
        let inbox = Arc::<Inbox>::default();
        self.inboxes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(inbox.clone());
        Self {
            control: self.control.clone(),
            inbox,
            inboxes: self.inboxes.clone(),
            metrics: self.metrics.clone(),
        }
    }

    /// Queues `entry`; never waits for the disk. A full queue (the disk cannot keep up)
    /// drops the entry and counts it in `rampart_audit_requests_total{result="dropped"}`.
    pub fn record(&self, entry: RequestEntry) {
        let mut entries = self
            .inbox
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if entries.len() < QUEUE {
            entries.push(entry);
        } else {
            drop(entries);
            self.metrics.request_trail("dropped", 1);
        }
    }
}

/// The writer takes the CPU for a burst every [`DRAIN_EVERY`]; at full priority that burst
/// preempts a worker and stalls every connection it serves. At nice 10 it still gets far more
/// CPU than it needs (about a tenth of a core when all are busy) but yields to the workers.
/// On Linux the nice value is per thread, and lowering it needs no privilege.
fn lower_priority() {
    if let Err(err) = rustix::process::setpriority_process(None, 10) {
        tracing::debug!(error = %err, "cannot lower the request trail thread's priority");
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

impl TrailWriter {
    fn run(&mut self, control: &Receiver<Control>, inboxes: &Mutex<Vec<Arc<Inbox>>>) {
        let mut last_sync = Instant::now();
        let mut last_checkpoint = Instant::now();
        let mut pending = 0u64;
        let mut batch: Vec<RequestEntry> = Vec::new();
        loop {
            // Sleep, then take everything queued: a sender never has to wake this thread,
            // which on a busy machine costs more than the record itself.
            std::thread::sleep(DRAIN_EVERY);
            // Close comes after the entries queued before it.
            let closing = match control.try_recv() {
                Ok(Control::Close(done)) => Some(Some(done)),
                Err(TryRecvError::Empty) => None,
                // Every handle is gone.
                Err(TryRecvError::Disconnected) => Some(None),
            };
            // Every entry finished before this moment, which anchors their wall-clock times.
            let (now_wall_ms, now) = (now_ms(), Instant::now());
            let mut inboxes = inboxes.lock().unwrap_or_else(PoisonError::into_inner);
            inboxes.retain(|inbox| {
                // Only this list holds it: its worker is gone and can add nothing more.
                let orphaned = Arc::strong_count(inbox) == 1;
                std::mem::swap(
                    &mut *inbox.entries.lock().unwrap_or_else(PoisonError::into_inner),
                    &mut batch,
                );
                for entry in batch.drain(..) {
                    let ago = now.saturating_duration_since(entry.finished).as_millis();
                    let time_ms = now_wall_ms - i64::try_from(ago).unwrap_or(0);
                    match self.append(&entry, time_ms) {
                        Ok(()) => pending += 1,
                        Err(err) => {
                            self.metrics.request_trail("failed", 1);
                            tracing::error!(error = %err, "writing the request trail failed");
                        }
                    }
                }
                !orphaned
            });
            drop(inboxes);
            let stopping = closing.is_some();
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
            if let Some(done) = closing {
                if let Some(done) = done {
                    let _ = done.send(());
                }
                return;
            }
        }
    }

    fn append(&mut self, entry: &RequestEntry, time_ms: i64) -> std::io::Result<()> {
        let same_day = self
            .file
            .as_ref()
            .is_some_and(|f| (f.day_start_ms..f.day_start_ms + DAY_MS).contains(&time_ms));
        if !same_day {
            self.checkpoint()?;
            self.sync()?;
            self.file = Some(open_day(&self.dir, time_ms)?);
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
        let [request_id, path, route] = entry.text.parts();
        let line = &mut self.line;
        line.clear();
        let mut number = itoa::Buffer::new();
        let mut field = |name: &str, value: &[u8], quoted: bool| {
            line.extend_from_slice(name.as_bytes());
            if quoted {
                line.push(b'"');
                push_json_escaped(line, value);
                line.push(b'"');
            } else {
                line.extend_from_slice(value);
            }
        };
        field("{\"seq\":", number.format(file.seq + 1).as_bytes(), false);
        field(",\"time_ms\":", number.format(time_ms).as_bytes(), false);
        field(",\"request_id\":", request_id, true);
        field(",\"ip\":", ip.as_bytes(), true);
        field(",\"method\":", entry.method.as_bytes(), true);
        field(",\"path\":", path, true);
        field(",\"route\":", route, true);
        field(
            ",\"status\":",
            number.format(entry.status).as_bytes(),
            false,
        );
        field(",\"bytes\":", number.format(entry.bytes).as_bytes(), false);
        field(
            ",\"duration_us\":",
            number.format(entry.duration_us).as_bytes(),
            false,
        );
        // The hash covers everything before its own field.
        let hash = line_hash(&file.prev, line);
        let hash = hash_text(&hash);
        line.extend_from_slice(HASH_FIELD.as_bytes());
        line.extend_from_slice(hash.as_bytes());
        line.extend_from_slice(b"\"}\n");
        let bytes = &self.line;
        file.out.write_all(bytes)?;
        file.seq += 1;
        file.prev.clear();
        file.prev.push_str(hash);
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

/// Appends `value` as the inside of a JSON string: quotes, backslashes and control bytes
/// escaped, everything else (UTF-8 included) as it is.
fn push_json_escaped(out: &mut Vec<u8>, value: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    for (at, &byte) in value.iter().enumerate() {
        if byte >= 0x20 && byte != b'"' && byte != b'\\' {
            continue;
        }
        out.extend_from_slice(&value[start..at]);
        match byte {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', byte]),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]),
        }
        start = at + 1;
    }
    out.extend_from_slice(&value[start..]);
}

/// The record's hash in hexadecimal, on the stack: one is computed per request.
fn line_hash(prev: &str, before_hash: &[u8]) -> [u8; 64] {
    let mut context = Context::new(&SHA256);
    context.update(prev.as_bytes());
    context.update(before_hash);
    let mut hex = [0u8; 64];
    hex_into(context.finish().as_ref(), &mut hex);
    hex
}

fn hash_text(hex: &[u8; 64]) -> &str {
    std::str::from_utf8(hex).expect("hexadecimal digits are ASCII")
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
            if !stored.as_bytes().starts_with(&expected) {
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
            prev.clear();
            prev.push_str(hash_text(&expected));
            report.records += 1;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u64) -> RequestEntry {
        RequestEntry::new(
            Instant::now(),
            &format!("req-{n}"),
            "203.0.113.9".parse().unwrap(),
            "GET",
            "/items?id=",
            "/",
            200,
            512,
            300,
        )
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
            w.append(&entry(n), day_one).unwrap();
        }
        w.checkpoint().unwrap();
        // A restart continues the same file's chain.
        let mut w = writer(dir.path(), signer.clone());
        for n in 5..8 {
            w.append(&entry(n), day_one).unwrap();
        }
        // The next day starts a file of its own.
        w.append(&entry(8), day_one + 86_400_000).unwrap();
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
    fn lines_are_json_whatever_the_path_holds() {
        let dir = tempfile::tempdir().unwrap();
        let keys = tempfile::tempdir().unwrap();
        let signer = Arc::new(CheckpointSigner::from_file(&keys.path().join("k"), true).unwrap());
        let verifier = CheckpointVerifier::from_base64(&signer.public_key()).unwrap();
        let mut w = writer(dir.path(), signer);
        let odd = "/a\"b\\c\u{1}\tZürich";
        let long = format!("/{}", "x".repeat(400));
        for (path, route) in [(odd, "/"), (long.as_str(), "-")] {
            let mut e = entry(1);
            e.text = EntryText::new(["req-1", path, route]);
            w.append(&e, 1_764_000_000_000).unwrap();
        }
        w.checkpoint().unwrap();
        let text = std::fs::read_to_string(dir.path().join("requests-2025-11-24.jsonl")).unwrap();
        let paths: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with("{\"checkpoint\""))
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["path"].to_string())
            .collect();
        assert_eq!(
            paths,
            [
                serde_json::json!(odd).to_string(),
                serde_json::json!(long).to_string()
            ]
        );
        assert_eq!(verify(dir.path(), &verifier).unwrap().broken, None);
    }

    #[test]
    fn days_are_utc_dates() {
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(1_764_000_000_000), "2025-11-24");
    }
}
