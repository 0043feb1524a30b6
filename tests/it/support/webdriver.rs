//! A headless Chromium driven through ChromeDriver's W3C WebDriver endpoints, for the console's
//! end-to-end tests. The handful of commands they need are plain JSON over HTTP, plus the
//! browser log (`goog:loggingPrefs`), which the console tests read to prove a page logged no
//! error (CSP violations and failed loads included).

use serde_json::{json, Value};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Browser {
    driver: Child,
    base: String,
    http: reqwest::Client,
}

/// How long one wait for the page may take.
pub const PAGE_WAIT: Duration = Duration::from_secs(20);

impl Browser {
    /// Starts ChromeDriver and a headless Chromium at `width`×`height`.
    pub async fn start(width: u32, height: u32) -> Browser {
        let port = super::free_port();
        // Its own process group, which the browser it starts joins: dropping the Browser kills
        // both, whatever state the session is in.
        let driver = super::spawn_tied_to_process(
            Command::new("chromedriver").arg(format!("--port={port}")).process_group(0).stdout(Stdio::null()).stderr(Stdio::null()),
        )
        .expect("chromedriver runs (scripts/ensure-chromium.sh installs it)");
        super::wait_for_port(port, Duration::from_secs(20));
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", format!("--window-size={width},{height}")],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let session: Value = http.post(format!("{base}/session")).json(&capabilities).send().await.unwrap().json().await.unwrap();
        let id = session["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {session}"));
        let base = format!("{base}/session/{id}");
        Browser { driver, base, http }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        } else if method == reqwest::Method::POST {
            request = request.json(&json!({}));
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        if answer["value"].get("error").is_some() {
            panic!("WebDriver {method} {path}: {answer}");
        }
        answer["value"].clone()
    }

    pub async fn go(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page and returns its value.
    pub async fn run(&self, script: &str, args: Value) -> Value {
        self.command(reqwest::Method::POST, "/execute/sync", Some(json!({ "script": script, "args": args }))).await
    }

    /// The element matching `css`, once there is one (and it is displayed).
    pub async fn element(&self, css: &str) -> String {
        super::eventually(PAGE_WAIT, &format!("an element {css}"), || async {
            let found = self.run("const e = document.querySelector(arguments[0]); return !!e && e.getClientRects().length > 0;", json!([css])).await;
            if found != json!(true) {
                return None;
            }
            let element = self.command(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await;
            element.as_object().and_then(|o| o.values().next()).and_then(Value::as_str).map(str::to_owned)
        })
        .await
    }

    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.command(reqwest::Method::POST, &format!("/element/{id}/click"), None).await;
    }

    /// Clears the field and types `text` into it, as a person would.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.command(reqwest::Method::POST, &format!("/element/{id}/clear"), None).await;
        self.command(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({ "text": text }))).await;
    }

    /// The visible text of the first element matching `css` ("" when there is none).
    pub async fn text(&self, css: &str) -> String {
        let text = self.run("const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", json!([css])).await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the text of `css` contains `wanted`.
    pub async fn wait_for_text(&self, css: &str, wanted: &str) -> String {
        super::eventually(PAGE_WAIT, &format!("{css} to say {wanted:?}"), || async {
            let text = self.text(css).await;
            text.contains(wanted).then_some(text)
        })
        .await
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.command(reqwest::Method::POST, "/window/rect", Some(json!({ "width": width, "height": height }))).await;
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let encoded = self.command(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD.decode(encoded.as_str().unwrap()).unwrap()
    }

    /// Browser log entries since the last call (console messages, failed loads, CSP reports).
    pub async fn log(&self) -> Vec<Value> {
        let entries = self.command(reqwest::Method::POST, "/se/log", Some(json!({ "type": "browser" }))).await;
        entries.as_array().cloned().unwrap_or_default()
    }
}

impl Browser {
    /// Ends the session, which closes the browser.
    pub async fn close(self) {
        let _ = self.http.delete(&self.base).send().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // SAFETY: a signal to the process group this Browser started.
        unsafe { libc::kill(-(self.driver.id() as i32), libc::SIGKILL) };
        let _ = self.driver.wait();
    }
}
