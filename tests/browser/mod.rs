//! A real browser for the gallery's tests and benchmark: headless Chromium (Debian's `chromium`)
//! run once per page, its DOM read after the page's scripts ran (`--dump-dom`) and its console
//! read from its log; a tiny static web server for the pages that need `http://`; a reader of
//! the dumped DOM's tags; and a long synthetic run to open. Shared by tests/gallery_browser.rs
//! and the `gallery` workload of `cargo xtask bench`.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vis_core::vis_ops::{RgbFrames, RgbImage};
use vis_core::{GALLERY_DATA, Picture, Visualizer};

/// The programs tried, in order, when `VIS_CHROMIUM` does not name one.
const NAMES: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// A headless Chromium.
pub struct Chromium {
    program: PathBuf,
}

/// A page after its scripts ran.
pub struct Page {
    /// The DOM, serialised.
    pub dom: String,
    /// What the page wrote to its console (errors, uncaught exceptions, logs).
    pub console: Vec<String>,
    /// Chromium's run from start to exit.
    pub wall: Duration,
}

impl Chromium {
    /// `VIS_CHROMIUM`, or the first of the usual names on `PATH`.
    pub fn find() -> Option<Self> {
        if let Some(program) = std::env::var_os("VIS_CHROMIUM") {
            return Some(Self {
                program: program.into(),
            });
        }
        let path = std::env::var_os("PATH")?;
        NAMES.iter().find_map(|name| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
                .map(|program| Self { program })
        })
    }

    /// Chromium for a test: none (with the reason printed) when it is not installed, except
    /// under CI (`CI=true`), which installs it (`.ci/run`), where its absence is a failure.
    pub fn for_test() -> Option<Self> {
        let found = Self::find();
        if found.is_none() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI runs the browser tests: install Debian's chromium (apt-get install chromium) \
                 or name a Chromium with VIS_CHROMIUM"
            );
            eprintln!(
                "skipped: no Chromium on PATH (install Debian's chromium, or set VIS_CHROMIUM)"
            );
        }
        found
    }

    /// Opens `url`, lets its scripts run for up to `budget` of virtual time (timers run
    /// without waiting; loading is real), and returns the DOM and the console.
    pub fn open(&self, url: &str, budget: Duration) -> Page {
        let profile = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let out = Command::new(&self.program)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--enable-logging=stderr",
                "--v=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--virtual-time-budget={}", budget.as_millis()))
            .args(["--dump-dom", url])
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", self.program.display()));
        let wall = started.elapsed();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "chromium failed on {url}:\n{log}");
        let console = log
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(str::to_owned)
            .collect();
        Page {
            dom: String::from_utf8(out.stdout).unwrap(),
            console,
            wall,
        }
    }

    /// Saves a screenshot of `url` (a `width` x `height` window) to `png`.
    pub fn screenshot(&self, url: &str, png: &Path, width: u32, height: u32) {
        let profile = tempfile::tempdir().unwrap();
        let out = Command::new(&self.program)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--hide-scrollbars",
                "--virtual-time-budget=3000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("--screenshot={}", png.display()))
            .arg(url)
            .output()
            .unwrap();
        assert!(out.status.success() && png.is_file(), "screenshot of {url}");
    }
}

/// A run of `steps` steps in `dir/vis_data`: three names (a GIF among them) and two losses at
/// every step, as the gallery backend writes them; only the last step's pictures are files.
pub fn long_run(dir: &Path, steps: u64) {
    let last = steps - 1;
    let grid = |w, h| Picture::Image(RgbImage::from_raw(w, h, vec![128; w * h * 3]).unwrap());
    let mut vis = Visualizer::local(dir).unwrap();
    vis.add_picture("fake_img", grid(274, 274), last).unwrap();
    vis.add_picture("translation_val", grid(398, 134), last)
        .unwrap();
    let frames = RgbFrames::from_raw(66, 18, 4, vec![200; 66 * 18 * 3 * 4]).unwrap();
    vis.add_picture(
        "ddpm_sample",
        Picture::Gif {
            frames,
            delay_cs: 20,
        },
        last,
    )
    .unwrap();
    vis.close().unwrap();
    let mut data = String::new();
    for step in 0..steps {
        let loss = 1.0 + (step as f64 / 300.0).sin() / 2.0;
        data.push_str(&format!(
            "vis.s({step},{{\"loss/loss_disc\":{:.6},\"loss/loss_gen\":{loss:.6}}});\n",
            2.0 - loss
        ));
        data.push_str(&format!(
            "vis.p(\"ddpm_sample\",{step},\"vis_image/ddpm_sample_{step}.gif\",66,18);\n\
             vis.p(\"fake_img\",{step},\"vis_image/fake_img_{step}.png\",274,274);\n\
             vis.p(\"translation_val\",{step},\"vis_image/translation_val_{step}.png\",398,134);\n"
        ));
    }
    std::fs::write(dir.join("vis_data").join(GALLERY_DATA), data).unwrap();
}

/// `file://` for a path.
pub fn file_url(path: &Path) -> String {
    let path = std::path::absolute(path).unwrap();
    let mut url = String::from("file://");
    for byte in path.to_str().unwrap().bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                url.push(byte as char);
            }
            _ => url.push_str(&format!("%{byte:02X}")),
        }
    }
    url
}

impl Page {
    /// Every `<tag ...>` of the DOM, as its attributes (values unescaped).
    pub fn tags(&self, tag: &str) -> Vec<BTreeMap<String, String>> {
        let open = format!("<{tag}");
        let mut found = Vec::new();
        let mut rest = self.dom.as_str();
        while let Some(at) = rest.find(&open) {
            rest = &rest[at + open.len()..];
            if !rest.starts_with([' ', '>', '/']) {
                continue;
            }
            let end = rest.find('>').unwrap_or(rest.len());
            found.push(attributes(&rest[..end]));
            rest = &rest[end..];
        }
        found
    }

    /// The attributes of the first `<tag ...>` whose `key` is `value`.
    pub fn tag_with(&self, tag: &str, key: &str, value: &str) -> BTreeMap<String, String> {
        self.tags(tag)
            .into_iter()
            .find(|a| a.get(key).map(String::as_str) == Some(value))
            .unwrap_or_else(|| panic!("no <{tag} {key}=\"{value}\"> in the page"))
    }

    /// The text of the element with `id` (tags inside it removed, entities unescaped).
    pub fn text_of(&self, id: &str) -> String {
        let marker = format!("id=\"{id}\"");
        let start = self
            .dom
            .find(&marker)
            .unwrap_or_else(|| panic!("no element #{id}"));
        let body = &self.dom[start..];
        let body = &body[body.find('>').unwrap() + 1..];
        let mut text = String::new();
        let mut depth = 0usize;
        let mut chars = body.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '<' {
                let tail = &body[i..];
                if tail.starts_with("</") {
                    if depth == 0 {
                        break;
                    }
                    depth -= 1;
                } else if !tail.starts_with("<br") && !tail.starts_with("<img") {
                    depth += 1;
                }
                for (_, c) in chars.by_ref() {
                    if c == '>' {
                        break;
                    }
                }
            } else {
                text.push(c);
            }
        }
        unescape(&text)
    }
}

/// `name="value"` pairs of one tag's inside.
fn attributes(inside: &str) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut rest = inside.trim_start();
    while !rest.is_empty() {
        let name_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = rest[..name_end].trim_end_matches('/').to_owned();
        rest = &rest[name_end..];
        let value = if let Some(quoted) = rest.strip_prefix("=\"") {
            let end = quoted.find('"').unwrap_or(quoted.len());
            let value = unescape(&quoted[..end]);
            rest = &quoted[(end + 1).min(quoted.len())..];
            value
        } else {
            String::new()
        };
        if !name.is_empty() {
            found.insert(name, value);
        }
        rest = rest.trim_start();
    }
    found
}

/// The DOM serialiser's entities.
fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// A static web server of one folder on `127.0.0.1`, for as long as it lives. `append` adds
/// bytes to one file from its second request on: a run that wrote more since the page loaded.
/// `/hold` answers after a second, so that a page can keep virtual time still while it works.
pub struct Server {
    /// `http://127.0.0.1:{port}`.
    pub origin: String,
    /// Bytes served after a file's content from its second request on, by URL path.
    pub append: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

impl Server {
    /// Serves `root`.
    pub fn start(root: &Path) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let append: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
        let root = root.to_path_buf();
        let extra = Arc::clone(&append);
        std::thread::spawn(move || {
            let mut requests: BTreeMap<String, usize> = BTreeMap::new();
            for stream in listener.incoming().flatten() {
                let _ = serve(stream, &root, &extra, &mut requests);
            }
        });
        Self { origin, append }
    }
}

fn serve(
    mut stream: TcpStream,
    root: &Path,
    append: &Mutex<BTreeMap<String, Vec<u8>>>,
    requests: &mut BTreeMap<String, usize>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    // The rest of the request head.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let target = line.split_whitespace().nth(1).unwrap_or("/");
    let path = target.split(['?', '#']).next().unwrap_or("/");
    let path = if path == "/" { "/index.html" } else { path };
    if path == "/hold" {
        // A request answered a second later, on its own thread: while it is pending, headless
        // Chromium's virtual time stands still, so work that is not a timer (decoding a
        // picture, say) finishes before the page is dumped.
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            let _ = stream.write_all(
                b"HTTP/1.1 204 No Content\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
            );
        });
        return Ok(());
    }
    let decoded = percent_decode(path);
    let file = root.join(decoded.trim_start_matches('/'));
    let seen = requests.entry(path.to_owned()).or_default();
    *seen += 1;
    let response = match std::fs::read(&file) {
        Ok(mut body) if !decoded.contains("..") => {
            if *seen > 1
                && let Some(more) = append.lock().unwrap().get(path)
            {
                body.extend_from_slice(more);
            }
            let kind = match file.extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html; charset=utf-8",
                Some("js") => "text/javascript; charset=utf-8",
                Some("png") => "image/png",
                Some("gif") => "image/gif",
                _ => "application/octet-stream",
            };
            let mut head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            head.extend_from_slice(&body);
            head
        }
        _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
    };
    stream.write_all(&response)
}

fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&path[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
