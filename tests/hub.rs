//! Hub downloads against a local HTTP server that mimics the hub's `resolve` URL layout
//! (never the real hub).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use undivided::Checkpoint;
use undivided::checkpoint::hub::{HubOptions, download, looks_like_repo_id};

/// Serves `files` at `/{repo}/resolve/main/{name}` (on [`hostile_hub`]); counts requests; 404 for anything else.
struct FakeHub {
    endpoint: String,
    requests: Arc<AtomicUsize>,
    paths: Arc<Mutex<Vec<String>>>,
}

impl FakeHub {
    fn start(repo: &str, files: HashMap<String, Vec<u8>>) -> Self {
        let paths = Arc::new(Mutex::new(Vec::new()));
        let (seen, prefix) = (paths.clone(), format!("/{repo}/resolve/main/"));
        let (endpoint, requests) = hostile_hub(move |path, stream| {
            seen.lock().unwrap().push(path.to_string());
            let (status, body) = match path.strip_prefix(&prefix).and_then(|f| files.get(f)) {
                Some(b) => ("200 OK", b.clone()),
                None => ("404 Not Found", b"Entry not found".to_vec()),
            };
            let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        });
        Self { endpoint, requests, paths }
    }

    fn options(&self, cache: &std::path::Path) -> HubOptions {
        HubOptions { endpoint: self.endpoint.clone(), revision: "main".into(), cache_dir: cache.to_path_buf(), token: None, progress: false }
    }
}

fn tiny_files() -> HashMap<String, Vec<u8>> {
    let dir = common::tiny_dir();
    HashMap::from([
        ("config.json".to_string(), std::fs::read(dir.join("config.json")).unwrap()),
        ("model.safetensors".to_string(), std::fs::read(dir.join("model.safetensors")).unwrap()),
        ("vocab.txt".to_string(), common::tiny_vocab(1000).into_bytes()),
    ])
}

#[test]
fn downloads_once_and_loads() {
    let hub = FakeHub::start("someone/tiny-bert", tiny_files());
    let cache = common::tempdir();
    let dir = download("someone/tiny-bert", &hub.options(cache.path())).unwrap();
    assert!(hub.paths.lock().unwrap().iter().any(|p| p == "/someone/tiny-bert/resolve/main/model.safetensors"));
    let checkpoint = Checkpoint::open(&dir).unwrap();
    assert_eq!(checkpoint.config.num_hidden_layers, 3);
    assert!(checkpoint.load_bert(None, &burn::tensor::Device::flex()).is_ok());

    let before = hub.requests.load(Ordering::SeqCst);
    assert_eq!(download("someone/tiny-bert", &hub.options(cache.path())).unwrap(), dir);
    assert_eq!(hub.requests.load(Ordering::SeqCst), before, "second call is served from the cache");
}

#[test]
fn unknown_repo_is_a_clear_error_and_leaves_no_complete_folder() {
    let hub = FakeHub::start("someone/tiny-bert", tiny_files());
    let cache = common::tempdir();
    let msg = download("someone/nope", &hub.options(cache.path())).unwrap_err().to_string();
    assert!(msg.contains("someone/nope") && msg.contains("model.safetensors"), "{msg}");
    let mut files = tiny_files();
    files.remove("vocab.txt");
    let hub = FakeHub::start("x/no-tokenizer", files);
    let msg = download("x/no-tokenizer", &hub.options(cache.path())).unwrap_err().to_string();
    assert!(msg.contains("tokenizer.json or vocab.txt"), "{msg}");
    assert!(!cache.path().join("hub/x--no-tokenizer/main/config.json").exists());
}

#[test]
fn cli_encode_uses_hf_endpoint() {
    let hub = FakeHub::start("someone/tiny-bert", tiny_files());
    let cache = common::tempdir();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_undivided"))
        .args(["encode", "someone/tiny-bert", "--json", "the movie was good"])
        .env("HF_ENDPOINT", &hub.endpoint)
        .env("UNDIVIDED_CACHE", cache.path())
        .current_dir(common::tempdir().path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["input_ids"][0].as_array().unwrap().len(), 6, "[CLS] the movie was good [SEP]");
    assert_eq!(json["pooler_output"][0].as_array().unwrap().len(), 32);
}

#[test]
fn repo_ids() {
    assert!(looks_like_repo_id("bert-base-uncased"));
    assert!(looks_like_repo_id("sentence-transformers/all-MiniLM-L6-v2"));
    assert!(!looks_like_repo_id("./models/x"));
    assert!(!looks_like_repo_id("a/b/c"));
    assert!(!looks_like_repo_id("/abs/path"));
}

/// A hub that answers every request with `respond(path, stream)`; requests are counted.
fn hostile_hub(respond: impl Fn(&str, &mut std::net::TcpStream) + Send + 'static) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            reader.read_line(&mut line).unwrap();
            while {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap() > 2
            } {}
            seen.fetch_add(1, Ordering::SeqCst);
            respond(line.split_whitespace().nth(1).unwrap_or(""), &mut stream);
        }
    });
    (endpoint, count)
}

/// Issue 20, class 6: a revision cannot lead out of the cache, a declared or actual size past
/// the caps is refused without reading it into memory, and only a download that finished is
/// trusted from the cache.
#[test]
fn hostile_hubs_and_revisions_are_refused_clearly() {
    let cache = common::tempdir();
    let options = |endpoint: &str, revision: &str| HubOptions {
        endpoint: endpoint.into(),
        revision: revision.into(),
        cache_dir: cache.path().join("c"),
        token: None,
        progress: false,
    };
    let hub = FakeHub::start("someone/tiny-bert", tiny_files());
    for revision in ["../../escape", "..", "a/../b", "", "main/", "x y"] {
        let msg = download("someone/tiny-bert", &options(&hub.endpoint, revision)).unwrap_err().to_string();
        assert!(msg.contains("HF_REVISION"), "{revision:?}: {msg}");
    }
    assert!(!cache.path().join("escape").exists() && !cache.path().join("c").exists());
    assert!(undivided::checkpoint::hub::is_safe_revision("refs/pr/1") && undivided::checkpoint::hub::is_safe_revision("v1.0"));

    // A Content-Length of 100 TB: refused before reading (no allocation of that size).
    let (huge, _) = hostile_hub(|_, s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000000000\r\nConnection: close\r\n\r\nxx");
    });
    let msg = download("a/b", &options(&huge, "main")).unwrap_err().to_string();
    assert!(msg.contains("100000000000000 bytes") && msg.contains("model.safetensors"), "{msg}");

    // A body that never ends (no Content-Length): stopped at the cap for that file, nothing kept.
    let (endless, _) = hostile_hub(|path, s| {
        if path.ends_with("model.safetensors") {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\n12345678");
            return;
        }
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        let chunk = vec![b'x'; 1 << 20];
        while s.write_all(&chunk).is_ok() {}
    });
    let msg = download("a/endless", &options(&endless, "main")).unwrap_err().to_string();
    assert!(msg.contains("exceeds") && msg.contains("tokenizer.json"), "{msg}");
    let folder = cache.path().join("c/hub/a--endless/main");
    assert!(!folder.join("tokenizer.json").exists() && !folder.join("tokenizer.json.part").exists());

    // config.json and weights left by an interrupted download are not a complete download.
    let hub = FakeHub::start("someone/tiny-bert", tiny_files());
    let dir = download("someone/tiny-bert", &options(&hub.endpoint, "main")).unwrap();
    std::fs::remove_file(dir.join(".complete")).unwrap();
    std::fs::remove_file(dir.join("vocab.txt")).unwrap();
    let before = hub.requests.load(Ordering::SeqCst);
    let again = download("someone/tiny-bert", &options(&hub.endpoint, "main")).unwrap();
    assert!(hub.requests.load(Ordering::SeqCst) > before, "an incomplete cache folder was trusted");
    assert!(again.join("vocab.txt").is_file() && again.join(".complete").is_file());
}
