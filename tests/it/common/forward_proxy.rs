//! A forward proxy for the proxy tests: HTTP CONNECT (`http://`) and SOCKS5 (`socks5://`)
//! on one free loopback port, recording each tunnel's target as `host:port`.
//!
//! A name under `.test` (a top-level domain that never resolves) is reached at
//! 127.0.0.1, so a request naming one can only have arrived through this proxy. Any
//! other target must be a loopback address: nothing leaves the machine.

use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub struct ForwardProxy {
    addr: SocketAddr,
    tunnels: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl ForwardProxy {
    pub fn start() -> ForwardProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let tunnels = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (tunnels, stop) = (tunnels.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let tunnels = tunnels.clone();
                    std::thread::spawn(move || serve(conn, &tunnels));
                }
            })
        };
        ForwardProxy {
            addr,
            tunnels,
            stop,
            accept: Some(accept),
        }
    }

    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn socks5_url(&self) -> String {
        format!("socks5://{}", self.addr)
    }

    /// The target of every tunnel opened so far, in order.
    pub fn tunnels(&self) -> Vec<String> {
        self.tunnels.lock().unwrap().clone()
    }
}

impl Drop for ForwardProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees `stop`.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut client: TcpStream, tunnels: &Mutex<Vec<String>>) {
    let mut first = [0u8; 1];
    if client.peek(&mut first).unwrap_or(0) == 0 {
        return;
    }
    let opened = if first[0] == 5 {
        socks5(&mut client)
    } else {
        connect(&mut client)
    };
    if let Some((target, upstream)) = opened {
        tunnels.lock().unwrap().push(target);
        pipe(client, upstream);
    }
}

/// Where a target is reached: `.test` names at 127.0.0.1; otherwise loopback only.
fn dial(host: &str, port: u16) -> Option<TcpStream> {
    let ip: IpAddr = if host.ends_with(".test") || host == "localhost" {
        [127, 0, 0, 1].into()
    } else {
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()
            .filter(|ip: &IpAddr| ip.is_loopback())?
    };
    TcpStream::connect((ip, port)).ok()
}

/// `CONNECT host:port HTTP/1.1`, answered 200 once the target is reached, 502 if not.
fn connect(client: &mut TcpStream) -> Option<(String, TcpStream)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).ok()? == 0 || head.len() > 16 * 1024 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut words = head.split_whitespace();
    let (method, target) = (words.next()?, words.next()?);
    if method != "CONNECT" {
        let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
        return None;
    }
    let (host, port) = target.rsplit_once(':')?;
    match dial(host, port.parse().ok()?) {
        Some(upstream) => {
            client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .ok()?;
            Some((target.to_string(), upstream))
        }
        None => {
            let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
            None
        }
    }
}

/// SOCKS5 (RFC 1928) without authentication, CONNECT only.
fn socks5(client: &mut TcpStream) -> Option<(String, TcpStream)> {
    let mut greeting = [0u8; 2];
    client.read_exact(&mut greeting).ok()?;
    let mut methods = vec![0u8; greeting[1] as usize];
    client.read_exact(&mut methods).ok()?;
    if !methods.contains(&0) {
        let _ = client.write_all(&[5, 0xff]);
        return None;
    }
    client.write_all(&[5, 0]).ok()?;
    let mut request = [0u8; 4];
    client.read_exact(&mut request).ok()?;
    let host = match request[3] {
        1 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip).ok()?;
            IpAddr::from(ip).to_string()
        }
        3 => {
            let mut len = [0u8; 1];
            client.read_exact(&mut len).ok()?;
            let mut name = vec![0u8; len[0] as usize];
            client.read_exact(&mut name).ok()?;
            String::from_utf8(name).ok()?
        }
        4 => {
            let mut ip = [0u8; 16];
            client.read_exact(&mut ip).ok()?;
            format!("[{}]", IpAddr::from(ip))
        }
        _ => return None,
    };
    let mut port = [0u8; 2];
    client.read_exact(&mut port).ok()?;
    let port = u16::from_be_bytes(port);
    let reply = |code: u8| [5, code, 0, 1, 0, 0, 0, 0, 0, 0];
    if request[1] != 1 {
        let _ = client.write_all(&reply(7));
        return None;
    }
    match dial(&host, port) {
        Some(upstream) => {
            client.write_all(&reply(0)).ok()?;
            Some((format!("{host}:{port}"), upstream))
        }
        None => {
            let _ = client.write_all(&reply(5));
            None
        }
    }
}

/// Copies both ways until each side has finished sending.
fn pipe(client: TcpStream, upstream: TcpStream) {
    let (mut c_read, mut u_write) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_read, &mut u_write);
        let _ = u_write.shutdown(Shutdown::Write);
    });
    let (mut u_read, mut c_write) = (upstream, client);
    let _ = std::io::copy(&mut u_read, &mut c_write);
    let _ = c_write.shutdown(Shutdown::Write);
    let _ = up.join();
}
