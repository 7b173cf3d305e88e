//! A TCP/HTTP fault proxy between trustplane and a stand-in (moto, the Kubernetes API
//! emulator). It listens on a free loopback port and forwards each HTTP/1.1 request to
//! the upstream, one connection per request, unless a rule matches: then it refuses the
//! connection, hangs, resets it, delays it, answers an error status itself, or throttles
//! as AWS does past a rate. Rules can
//! be switched between commands and can fault only the first N matching requests.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the proxy does to a matching request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Stop listening: connections are refused (whatever they would ask).
    Refuse,
    /// Accept and read the request, never answer.
    Hang,
    /// Close the connection with a TCP reset before answering.
    Reset,
    /// Forward the request after this long.
    Delay(Duration),
    /// Forward the request, then never answer: the server acts on it, the client never
    /// hears that it did (a crash between a create and its record, made deterministic).
    Swallow,
    /// Answer this HTTP status (429, 500, 503) with a Kubernetes-style `Status` body, and
    /// a `Retry-After` header (and `retryAfterSeconds`) when given. A 404 is answered
    /// with an HTML page, as a proxy or an ingress in front of a server would.
    Status { code: u16, retry_after: Option<u32> },
    /// Forward up to this many requests a second (a burst of one second's worth), and
    /// throttle the rest as the AWS service asked would: IAM's `Throttling` (HTTP 400,
    /// XML), Private CA's and EKS's `ThrottlingException` (JSON; 429 for EKS).
    Throttle { per_second: f64 },
}

/// Which requests a fault applies to.
#[derive(Debug, Clone)]
pub struct Rule {
    pub fault: Fault,
    /// HTTP method to match (`GET`); `None`: any.
    pub method: Option<String>,
    /// Substring of the request target (path and query) to match; `None`: any.
    pub path: Option<String>,
    /// The whole path (the target before any query) to match; `None`: any.
    pub exact_path: Option<String>,
    /// Fault only the first N matching requests, then forward.
    pub first: Option<u32>,
}

impl Rule {
    /// Every request.
    pub fn all(fault: Fault) -> Rule {
        Rule {
            fault,
            method: None,
            path: None,
            exact_path: None,
            first: None,
        }
    }

    #[must_use]
    pub fn method(mut self, m: &str) -> Rule {
        self.method = Some(m.to_string());
        self
    }

    #[must_use]
    pub fn path(mut self, p: &str) -> Rule {
        self.path = Some(p.to_string());
        self
    }

    #[must_use]
    pub fn exact_path(mut self, p: &str) -> Rule {
        self.exact_path = Some(p.to_string());
        self
    }

    #[must_use]
    pub fn first(mut self, n: u32) -> Rule {
        self.first = Some(n);
        self
    }

    fn matches(&self, method: &str, target: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && self.path.as_deref().is_none_or(|p| target.contains(p))
            && self
                .exact_path
                .as_deref()
                .is_none_or(|p| target.split('?').next() == Some(p))
    }
}

struct Shared {
    rule: Mutex<Option<Rule>>,
    /// A `Throttle` rule's tokens, and when they were last counted.
    tokens: Mutex<(f64, std::time::Instant)>,
    /// Requests a rule faulted, since the last `set`.
    faulted: AtomicU32,
    /// Requests forwarded to the upstream, since the last `set`.
    forwarded: AtomicU32,
    stop: AtomicBool,
}

pub struct FaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream`, an `http://host:port` URL or `host:port`.
    pub fn start(upstream: &str) -> FaultProxy {
        let hostport = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let upstream: SocketAddr = hostport.parse().expect("upstream is host:port");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            rule: Mutex::new(None),
            tokens: Mutex::new((0.0, std::time::Instant::now())),
            faulted: AtomicU32::new(0),
            forwarded: AtomicU32::new(0),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let thread = std::thread::spawn(move || accept_loop(listener, addr, upstream, s));
        FaultProxy {
            addr,
            upstream,
            shared,
            thread: Some(thread),
        }
    }

    /// The proxy's URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn upstream_url(&self) -> String {
        format!("http://{}", self.upstream)
    }

    /// Applies `rule` from now on (and resets the counters).
    /// The text of `kubeconfig` (an emulator's, whose server this proxy forwards to) with
    /// its server replaced by this proxy.
    pub fn kubeconfig_through(&self, kubeconfig: &std::path::Path) -> String {
        let text = std::fs::read_to_string(kubeconfig).unwrap();
        let upstream = self.upstream_url();
        assert!(text.contains(&upstream), "{text}");
        text.replace(&upstream, &self.url())
    }

    pub fn set(&self, rule: Rule) {
        if let Fault::Throttle { per_second } = rule.fault {
            *self.shared.tokens.lock().unwrap() = (per_second.max(1.0), std::time::Instant::now());
        }
        *self.shared.rule.lock().unwrap() = Some(rule);
        self.shared.faulted.store(0, Ordering::SeqCst);
        self.shared.forwarded.store(0, Ordering::SeqCst);
    }

    /// Forwards everything from now on.
    pub fn clear(&self) {
        *self.shared.rule.lock().unwrap() = None;
    }

    /// How many requests the current rule faulted (refused connections are not counted).
    pub fn faulted(&self) -> u32 {
        self.shared.faulted.load(Ordering::SeqCst)
    }

    /// How many requests reached the upstream since the rule was set.
    pub fn forwarded(&self) -> u32 {
        self.shared.forwarded.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn refusing(shared: &Shared) -> bool {
    matches!(
        shared.rule.lock().unwrap().as_ref().map(|r| &r.fault),
        Some(Fault::Refuse)
    )
}

/// Accepts connections; while the rule is `Refuse` the port is closed (and bound again
/// on the same port afterwards), so clients meet a real "connection refused".
fn accept_loop(listener: TcpListener, addr: SocketAddr, upstream: SocketAddr, shared: Arc<Shared>) {
    let mut listener = Some(listener);
    while !shared.stop.load(Ordering::SeqCst) {
        let refuse = refusing(&shared);
        if refuse && listener.is_some() {
            listener = None;
        }
        if !refuse && listener.is_none() {
            listener = TcpListener::bind(addr).ok();
        }
        let Some(l) = &listener else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        l.set_nonblocking(true).unwrap();
        match l.accept() {
            Ok((stream, _)) => {
                let s = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, upstream, &s);
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// The rule's fault for this request, counting it against `first`.
fn fault_for(shared: &Shared, method: &str, target: &str) -> Option<Fault> {
    let mut guard = shared.rule.lock().unwrap();
    let rule = guard.as_mut()?;
    if !rule.matches(method, target) {
        return None;
    }
    if let Some(n) = &mut rule.first {
        if *n == 0 {
            return None;
        }
        *n -= 1;
    }
    if let Fault::Throttle { per_second } = rule.fault {
        let mut tokens = shared.tokens.lock().unwrap();
        let now = std::time::Instant::now();
        let refill = now.duration_since(tokens.1).as_secs_f64() * per_second;
        *tokens = ((tokens.0 + refill).min(per_second.max(1.0)), now);
        if tokens.0 >= 1.0 {
            tokens.0 -= 1.0;
            return None;
        }
    }
    shared.faulted.fetch_add(1, Ordering::SeqCst);
    Some(rule.fault.clone())
}

fn serve(mut client: TcpStream, upstream: SocketAddr, shared: &Shared) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    // Look at the request line without consuming it: a reset must leave the request
    // unread, which is what makes the kernel answer with RST.
    let head = peek_head(&client)?;
    let request_line = head.lines().next().unwrap_or_default().to_string();
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let fault = fault_for(shared, &method, &target);
    match fault {
        Some(Fault::Reset) => {
            drop(client);
            return Ok(());
        }
        Some(Fault::Hang) => {
            let _ = read_request(&mut client);
            while !shared.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            return Ok(());
        }
        Some(Fault::Status { code, retry_after }) => {
            read_request(&mut client)?;
            client.write_all(&status_answer(code, retry_after))?;
            return Ok(());
        }
        Some(Fault::Throttle { .. }) => {
            read_request(&mut client)?;
            client.write_all(&throttle_answer(&head, &target))?;
            return Ok(());
        }
        Some(Fault::Delay(d)) => std::thread::sleep(d),
        Some(Fault::Refuse) | Some(Fault::Swallow) | None => {}
    }
    let request = read_request(&mut client)?;
    shared.forwarded.fetch_add(1, Ordering::SeqCst);
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(&with_connection_close(&request))?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    if matches!(fault, Some(Fault::Swallow)) {
        while !shared.stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        return Ok(());
    }
    client.write_all(&with_connection_close(&answer))?;
    Ok(())
}

/// The request's head (request line and headers), peeked.
fn peek_head(client: &TcpStream) -> std::io::Result<String> {
    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..600 {
        let n = client.peek(&mut buf)?;
        if n == 0 {
            break;
        }
        if find(&buf[..n], b"\r\n\r\n").is_some() {
            return Ok(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(String::new())
}

/// Reads one whole request: head, then a body by Content-Length or chunked encoding.
fn read_request(client: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = find(&data, b"\r\n\r\n") {
            break i + 4;
        }
        let n = client.read(&mut buf)?;
        if n == 0 {
            return Ok(data);
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            l.strip_prefix(&format!("{name}:"))
                .map(|v| v.trim().to_string())
        })
    };
    if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while data.len() < head_end + len {
            let n = client.read(&mut buf)?;
            if n == 0 {
                break;
            }
            data.extend_from_slice(&buf[..n]);
        }
    } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        while !data.ends_with(b"0\r\n\r\n") {
            let n = client.read(&mut buf)?;
            if n == 0 {
                break;
            }
            data.extend_from_slice(&buf[..n]);
        }
    }
    Ok(data)
}

/// The message with `Connection: close` in place of any Connection header, so each
/// connection carries one exchange.
fn with_connection_close(message: &[u8]) -> Vec<u8> {
    let Some(end) = find(message, b"\r\n\r\n") else {
        return message.to_vec();
    };
    let head = String::from_utf8_lossy(&message[..end]);
    let mut out = String::new();
    for line in head.split("\r\n") {
        if line.to_ascii_lowercase().starts_with("connection:")
            || line.to_ascii_lowercase().starts_with("keep-alive:")
        {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&message[end + 4..]);
    bytes
}

fn status_answer(code: u16, retry_after: Option<u32>) -> Vec<u8> {
    if code == 404 {
        let body = "<html><body><h1>404 page not found</h1></body></html>";
        return format!(
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes();
    }
    let (reason, k8s_reason) = match code {
        429 => ("Too Many Requests", "TooManyRequests"),
        500 => ("Internal Server Error", "InternalError"),
        502 => ("Bad Gateway", "InternalError"),
        503 => ("Service Unavailable", "ServiceUnavailable"),
        504 => ("Gateway Timeout", "Timeout"),
        _ => ("Error", "InternalError"),
    };
    let details = match retry_after {
        Some(s) => format!(",\"details\":{{\"retryAfterSeconds\":{s}}}"),
        None => String::new(),
    };
    let body = format!(
        "{{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{{}},\"status\":\"Failure\",\
         \"message\":\"injected fault: {reason}\",\"reason\":\"{k8s_reason}\",\"code\":{code}{details}}}"
    );
    let mut head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(s) = retry_after {
        head.push_str(&format!("Retry-After: {s}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// A throttle in the shape of the service the request was for: Private CA speaks JSON 1.1
/// (an `X-Amz-Target` header), EKS REST JSON (`/clusters/...`), IAM the query protocol.
fn throttle_answer(head: &str, target: &str) -> Vec<u8> {
    let json_rpc = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("x-amz-target:"));
    let (status, headers, body) = if json_rpc {
        (
            "400 Bad Request",
            "Content-Type: application/x-amz-json-1.1\r\n",
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_string(),
        )
    } else if target.starts_with("/clusters") {
        (
            "429 Too Many Requests",
            "Content-Type: application/json\r\nx-amzn-ErrorType: ThrottlingException\r\n",
            r#"{"message":"Rate exceeded"}"#.to_string(),
        )
    } else {
        (
            "400 Bad Request",
            "Content-Type: text/xml\r\n",
            "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error>\
             <Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>\
             </Error><RequestId>throttled</RequestId></ErrorResponse>"
                .to_string(),
        )
    };
    format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
