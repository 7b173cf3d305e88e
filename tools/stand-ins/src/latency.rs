//! A TCP proxy that holds back what the client sends for a fixed time, so a stand-in on
//! loopback answers a request one network round trip later, like a service in another
//! building. What the server sends passes at once. The delay is a delay line, not a
//! queue: a chunk waits `delay` from when it arrived, however many are in flight.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct LatencyProxy {
    addr: SocketAddr,
    /// `http` or `https`, as the upstream's URL says: TLS passes through untouched.
    scheme: &'static str,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LatencyProxy {
    /// Listens on a free loopback port and forwards each connection to `upstream`
    /// (`http://HOST:PORT` or `https://`), its requests delayed by `delay`.
    pub fn start(upstream: &str, delay: Duration) -> LatencyProxy {
        let scheme = if upstream.starts_with("https://") {
            "https"
        } else {
            "http"
        };
        let target: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|e| panic!("upstream {upstream} is not http://HOST:PORT: {e}"));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        std::thread::spawn(move || relay(client, target, delay));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        LatencyProxy {
            addr,
            scheme,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://ADDR` (`https://` for a TLS upstream), to use in place of the upstream's URL.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }
}

/// One connection: client → server through the delay line, server → client at once.
fn relay(client: TcpStream, target: SocketAddr, delay: Duration) {
    let Ok(server) = TcpStream::connect(target) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let mut from_client = client.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from_client.read(&mut buf) {
            if n == 0 || tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                break;
            }
        }
    });
    let mut to_server = server.try_clone().unwrap();
    std::thread::spawn(move || {
        for (arrived, chunk) in rx {
            let due = arrived + delay;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if to_server.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to_server.shutdown(Shutdown::Write);
    });
    let (mut from_server, mut to_client) = (server, client);
    let _ = std::io::copy(&mut from_server, &mut to_client);
    let _ = to_client.shutdown(Shutdown::Both);
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server behind the proxy answers, on two connections at once, no sooner
    /// than one delay later.
    #[test]
    fn requests_arrive_no_sooner_than_one_delay_later() {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let echo_addr = echo.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in echo.incoming() {
                let mut s = stream.unwrap();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 || s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let delay = Duration::from_millis(150);
        let proxy = LatencyProxy::start(&format!("http://{echo_addr}"), delay);
        let addr = proxy.addr;
        let start = Instant::now();
        let round_trips: Vec<_> = (0..2)
            .map(|i| {
                std::thread::spawn(move || {
                    let mut c = TcpStream::connect(addr).unwrap();
                    c.write_all(&[b'a' + i]).unwrap();
                    let mut got = [0u8; 1];
                    c.read_exact(&mut got).unwrap();
                    got[0]
                })
            })
            .collect();
        let answers: Vec<u8> = round_trips.into_iter().map(|t| t.join().unwrap()).collect();
        let took = start.elapsed();
        assert_eq!(answers, vec![b'a', b'b']);
        assert!(took >= delay, "answered after {took:?}, before the delay");
    }
}
