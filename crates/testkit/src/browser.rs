//! A real headless Chromium (Debian's `/usr/bin/chromium`) driven over the Chrome DevTools
//! Protocol: open a page, evaluate JavaScript, wait for a condition with a bounded poll, press keys,
//! take PNG screenshots. Each browser gets a fresh profile directory and a free debugging port, runs
//! in its own process group, and is killed with all its helper processes on drop.
//!
//! Pages collect what went wrong in them (uncaught exceptions, console errors, failed loads and
//! Content-Security-Policy violations) so tests can assert a clean page and show it on failure.

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::process::free_port;

const CHROMIUM: &str = "/usr/bin/chromium";
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);
/// The window every page gets, so screenshots are comparable.
pub const VIEWPORT: (u32, u32) = (1366, 900);

/// A headless Chromium process. Pages opened from it stay usable while it lives.
pub struct Browser {
    child: Child,
    port: u16,
    artifacts: Option<PathBuf>,
    profile: TempDir,
}

impl Browser {
    /// Starts Chromium headless on a free loopback debugging port and waits until it answers.
    pub async fn launch() -> Browser {
        let profile = tempfile::Builder::new()
            .prefix("tinct-chromium-")
            .tempdir()
            .expect("temporary profile directory");
        let port = free_port();
        let log = std::fs::File::create(profile.path().join("chromium.log")).expect("log file");
        let (width, height) = VIEWPORT;
        let child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-dev-shm-usage",
                "--password-store=basic",
                "--use-mock-keychain",
                "--mute-audio",
            ])
            .arg(format!("--window-size={width},{height}"))
            .arg(format!(
                "--user-data-dir={}",
                profile.path().join("profile").display()
            ))
            .arg(format!("--remote-debugging-port={port}"))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            // Its own process group, so drop can take every helper process down with it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("could not start {CHROMIUM}: {e} (install it with apt-get install chromium)")
            });
        let mut browser = Browser {
            child,
            port,
            artifacts: None,
            profile,
        };
        browser.wait_ready().await;
        browser
    }

    /// Where failed waits save a screenshot (created when needed).
    pub fn with_artifacts(mut self, dir: impl Into<PathBuf>) -> Browser {
        self.artifacts = Some(dir.into());
        self
    }

    async fn wait_ready(&mut self) {
        let url = format!("http://127.0.0.1:{}/json/version", self.port);
        let client = reqwest::Client::new();
        let start = Instant::now();
        loop {
            if let Ok(r) = client.get(&url).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("chromium exited early ({status}):\n{}", self.log_tail());
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "chromium did not open its debugging port within 30 s:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// The end of Chromium's own log, for diagnosing a failed start.
    pub fn log_tail(&self) -> String {
        let log =
            std::fs::read_to_string(self.profile.path().join("chromium.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Opens a new tab on `url` and waits until the document has loaded.
    pub async fn open(&self, url: &str) -> Page {
        let endpoint = format!("http://127.0.0.1:{}/json/new?about:blank", self.port);
        let target: Value = reqwest::Client::new()
            .put(&endpoint)
            .send()
            .await
            .expect("create a tab")
            .json()
            .await
            .expect("tab description");
        let ws_url = target["webSocketDebuggerUrl"]
            .as_str()
            .unwrap_or_else(|| panic!("no webSocketDebuggerUrl in {target}"));
        let page = Page::connect(ws_url, self.artifacts.clone()).await;
        let (width, height) = VIEWPORT;
        page.send(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await;
        page.goto(url).await;
        page
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: the browser and its renderer, GPU and utility processes.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Sink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;

/// The DevTools connection of one tab, shared by the page and its reader task.
struct Connection {
    sink: tokio::sync::Mutex<Sink>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Value>>>,
    next_id: AtomicU64,
    problems: Mutex<Vec<String>>,
}

impl Connection {
    async fn write(&self, id: u64, method: &str, params: Value) -> Result<(), String> {
        let message = json!({"id": id, "method": method, "params": params}).to_string();
        self.sink
            .lock()
            .await
            .send(Message::Text(message.into()))
            .await
            .map_err(|e| format!("{method}: the DevTools connection is gone: {e}"))
    }

    /// Sends a command and waits (at most 30 s) for its answer.
    async fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        // Registered before sending, so the answer cannot arrive first.
        self.pending.lock().expect("pending").insert(id, tx);
        if let Err(e) = self.write(id, method, params).await {
            self.pending.lock().expect("pending").remove(&id);
            return Err(e);
        }
        let reply = tokio::time::timeout(COMMAND_TIMEOUT, rx)
            .await
            .map_err(|_| format!("{method}: no answer within {COMMAND_TIMEOUT:?}"))?
            .map_err(|_| format!("{method}: the DevTools connection closed"))?;
        match reply.get("error") {
            Some(error) => Err(format!("{method} failed: {error}")),
            None => Ok(reply["result"].clone()),
        }
    }
}

/// One tab, over its own DevTools WebSocket.
pub struct Page {
    connection: Arc<Connection>,
    reader: tokio::task::JoinHandle<()>,
    artifacts: Option<PathBuf>,
}

impl Page {
    async fn connect(ws_url: &str, artifacts: Option<PathBuf>) -> Page {
        let (socket, _) = tokio_tungstenite::connect_async(ws_url)
            .await
            .expect("connect to the DevTools WebSocket");
        let (sink, mut stream) = socket.split();
        let connection = Arc::new(Connection {
            sink: tokio::sync::Mutex::new(sink),
            pending: Mutex::default(),
            next_id: AtomicU64::new(1),
            problems: Mutex::default(),
        });
        let conn = connection.clone();
        let reader = tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let Ok(v) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if let Some(id) = v["id"].as_u64() {
                    if let Some(tx) = conn.pending.lock().expect("pending").remove(&id) {
                        let _ = tx.send(v);
                    }
                } else if let Some(problem) = problem_of(&v) {
                    conn.problems.lock().expect("problems").push(problem);
                }
            }
        });
        let page = Page {
            connection,
            reader,
            artifacts,
        };
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            page.send(domain, json!({})).await;
        }
        page
    }

    /// Sends a DevTools command and returns its `result`; panics on a protocol error or after 30 s.
    pub async fn send(&self, method: &str, params: Value) -> Value {
        self.connection
            .call(method, params)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Navigates and waits until the document has loaded (`readyState == "complete"`).
    pub async fn goto(&self, url: &str) {
        let result = self.send("Page.navigate", json!({"url": url})).await;
        if let Some(error) = result["errorText"].as_str() {
            panic!("could not open {url}: {error}");
        }
        self.wait_for(
            &format!("{url} to load"),
            Duration::from_secs(30),
            "document.readyState === 'complete' && location.href !== 'about:blank'",
        )
        .await;
    }

    /// Reloads the page and waits for it to load.
    pub async fn reload(&self) {
        self.send("Page.reload", json!({})).await;
        tokio::time::sleep(POLL).await;
        self.wait_for(
            "the reload",
            Duration::from_secs(30),
            "document.readyState === 'complete'",
        )
        .await;
    }

    /// Evaluates `expression` (awaiting a promise) and returns its value as JSON; panics when it
    /// throws.
    pub async fn eval(&self, expression: &str) -> Value {
        match self.try_eval(expression).await {
            Ok(v) => v,
            Err(e) => panic!("evaluating `{expression}` threw: {e}"),
        }
    }

    /// Like `eval`, but returns what was thrown as an error.
    pub async fn try_eval(&self, expression: &str) -> Result<Value, String> {
        let result = self
            .send(
                "Runtime.evaluate",
                json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
            )
            .await;
        if let Some(details) = result.get("exceptionDetails") {
            let text = details["exception"]["description"]
                .as_str()
                .or(details["text"].as_str())
                .unwrap_or("an exception")
                .to_owned();
            return Err(text);
        }
        Ok(result["result"]["value"].clone())
    }

    /// Polls `condition` (a JavaScript expression) every 50 ms until it is truthy, and returns
    /// its value. After `timeout` it saves a screenshot (when the browser has an artifacts
    /// directory) and panics with `what`, the last value and the page's problems.
    pub async fn wait_for(&self, what: &str, timeout: Duration, condition: &str) -> Value {
        let start = Instant::now();
        let mut last: Result<Value, String>;
        loop {
            match self.try_eval(condition).await {
                Ok(v) if truthy(&v) => return v,
                other => last = other,
            }
            if start.elapsed() >= timeout {
                let shot = self.failure_screenshot(what).await;
                panic!(
                    "timed out after {timeout:?} waiting for {what}\n  condition: {condition}\n  last value: {last:?}\n  page problems: {:?}{shot}",
                    self.problems()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn failure_screenshot(&self, what: &str) -> String {
        let Some(dir) = &self.artifacts else {
            return String::new();
        };
        let name: String = what
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(80)
            .collect();
        let path = dir.join(format!("FAILED-{name}.png"));
        match self.try_screenshot(&path).await {
            Ok(()) => format!("\n  screenshot: {}", path.display()),
            Err(e) => format!("\n  (no screenshot: {e})"),
        }
    }

    /// Saves a PNG of the viewport at `path` (creating its directory).
    pub async fn screenshot(&self, path: &Path) {
        if let Err(e) = self.try_screenshot(path).await {
            panic!("screenshot {}: {e}", path.display());
        }
    }

    async fn try_screenshot(&self, path: &Path) -> Result<(), String> {
        let result = self
            .send(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": false}),
            )
            .await;
        let data = result["data"].as_str().ok_or("no image data")?;
        let png = decode_base64(data).ok_or("the image data is not base64")?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        std::fs::write(path, png).map_err(|e| e.to_string())
    }

    /// Types `text` into the focused element, as a keyboard would (input events fire).
    pub async fn type_text(&self, text: &str) {
        self.send("Input.insertText", json!({"text": text})).await;
    }

    /// Presses and releases one key: "Tab", "Enter", "Escape", "ArrowDown", "ArrowUp", "Home",
    /// "End", "Backspace", " " or a printable character. `shift` holds Shift (e.g. Shift+Tab).
    pub async fn press(&self, key: &str, shift: bool) {
        let (code, key_code, text) = match key {
            "Tab" => ("Tab", 9, None),
            "Enter" => ("Enter", 13, Some("\r")),
            "Escape" => ("Escape", 27, None),
            "Backspace" => ("Backspace", 8, None),
            " " => ("Space", 32, Some(" ")),
            "PageUp" => ("PageUp", 33, None),
            "PageDown" => ("PageDown", 34, None),
            "End" => ("End", 35, None),
            "Home" => ("Home", 36, None),
            "ArrowLeft" => ("ArrowLeft", 37, None),
            "ArrowUp" => ("ArrowUp", 38, None),
            "ArrowRight" => ("ArrowRight", 39, None),
            "ArrowDown" => ("ArrowDown", 40, None),
            other => {
                self.type_text(other).await;
                return;
            }
        };
        let modifiers = if shift { 8 } else { 0 };
        let mut down = json!({
            "type": if text.is_some() { "keyDown" } else { "rawKeyDown" },
            "key": key, "code": code, "windowsVirtualKeyCode": key_code,
            "nativeVirtualKeyCode": key_code, "modifiers": modifiers,
        });
        if let Some(text) = text {
            down["text"] = json!(text);
        }
        self.send("Input.dispatchKeyEvent", down).await;
        self.send(
            "Input.dispatchKeyEvent",
            json!({"type": "keyUp", "key": key, "code": code, "windowsVirtualKeyCode": key_code,
                   "nativeVirtualKeyCode": key_code, "modifiers": modifiers}),
        )
        .await;
    }

    /// Uncaught exceptions, console errors, failed loads and policy violations seen so far.
    pub fn problems(&self) -> Vec<String> {
        self.connection.problems.lock().expect("problems").clone()
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// A DevTools event that reports something wrong in the page, as one line.
fn problem_of(event: &Value) -> Option<String> {
    let params = &event["params"];
    match event["method"].as_str()? {
        "Runtime.exceptionThrown" => {
            let d = &params["exceptionDetails"];
            Some(format!(
                "exception: {}",
                d["exception"]["description"]
                    .as_str()
                    .or(d["text"].as_str())
                    .unwrap_or("?")
            ))
        }
        "Runtime.consoleAPICalled" if params["type"] == "error" => {
            let args: Vec<String> = params["args"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    a["value"]
                        .as_str()
                        .map(str::to_owned)
                        .or_else(|| a["description"].as_str().map(str::to_owned))
                        .unwrap_or_else(|| a["value"].to_string())
                })
                .collect();
            Some(format!("console.error: {}", args.join(" ")))
        }
        "Log.entryAdded" if params["entry"]["level"] == "error" => Some(format!(
            "{}: {} {}",
            params["entry"]["source"].as_str().unwrap_or("log"),
            params["entry"]["text"].as_str().unwrap_or("?"),
            params["entry"]["url"].as_str().unwrap_or("")
        )),
        _ => None,
    }
}

/// Standard base64 (with or without padding); None on any other character.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c)? << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_padded_and_unpadded_input() {
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVsbG8").unwrap(), b"hello");
        assert_eq!(decode_base64("aGk=").unwrap(), b"hi");
        assert_eq!(decode_base64("").unwrap(), b"");
        assert!(decode_base64("a!==").is_none());
        assert!(decode_base64("a").is_none());
    }

    #[test]
    fn truthiness_follows_javascript_for_plain_values() {
        assert!(!truthy(&Value::Null));
        assert!(!truthy(&json!(0)));
        assert!(!truthy(&json!("")));
        assert!(truthy(&json!("x")));
        assert!(truthy(&json!([])));
    }
}
