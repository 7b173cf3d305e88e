//! A TCP proxy that holds back what the client sends for a fixed time, so a stand-in on
//! loopback answers a request one network round trip later, like a service in another
//! building. What the server sends passes at once. The delay is a delay line, not a
//! queue: a chunk waits `delay` from when it arrived, however many are in flight.
//!
//! A network delays without spending the client machine's CPU, so neither may the proxy:
//! every proxy's connections are tasks on one runtime of one thread, asleep on timers. (A
//! thread per connection direction cost as much CPU as the plans it delayed, on the two
//! cores they shared.)

use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;

pub struct LatencyProxy {
    addr: SocketAddr,
    /// `http` or `https`, as the upstream's URL says: TLS passes through untouched.
    scheme: &'static str,
    /// The accepting task and every connection's, stopped when the proxy is dropped.
    tasks: std::sync::Arc<Mutex<Vec<AbortHandle>>>,
}

/// The one runtime every proxy of the process runs on.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("latency-proxy")
            .enable_all()
            .build()
            .expect("start the latency proxies' runtime")
    })
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
        let rt = runtime();
        let listener = rt
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind a loopback port");
        let addr = listener.local_addr().unwrap();
        let tasks = std::sync::Arc::new(Mutex::new(Vec::new()));
        let connections = tasks.clone();
        let accepting = rt.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let relay = tokio::spawn(relay(client, target, delay));
                let mut all = connections.lock().unwrap();
                all.retain(|t: &AbortHandle| !t.is_finished());
                all.push(relay.abort_handle());
            }
        });
        tasks.lock().unwrap().push(accepting.abort_handle());
        LatencyProxy {
            addr,
            scheme,
            tasks,
        }
    }

    /// `http://ADDR` (`https://` for a TLS upstream), to use in place of the upstream's URL.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }
}

/// One connection: client → server through the delay line, server → client at once.
async fn relay(client: TcpStream, target: SocketAddr, delay: Duration) {
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let read = async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from_client.read(&mut buf).await {
            if n == 0 || tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                break;
            }
        }
    };
    let forward = async move {
        while let Some((arrived, chunk)) = rx.recv().await {
            tokio::time::sleep_until(arrived + delay).await;
            if to_server.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to_server.shutdown().await;
    };
    let back = async move {
        let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
        let _ = to_client.shutdown().await;
    };
    tokio::join!(read, forward, back);
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::Instant;

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
